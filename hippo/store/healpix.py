"""HEALPix (nested) indexing of positions, and the pixel ranges that cover a cone."""

import numpy as np
from astropy import units as u
from astropy_healpix import HEALPix

# Order 16: pixels of ~3.2 arcsec. Positions are stored at this order; cones are covered at a
# coarser order chosen from the radius and expanded to ranges of order-16 pixels.
INDEX_ORDER = 16


def healpix_index(ra_deg, dec_deg):
    """Nested order-16 HEALPix pixel of each position (int64 array)."""
    grid = HEALPix(nside=2**INDEX_ORDER, order="nested")
    return grid.lonlat_to_healpix(np.asarray(ra_deg, float) * u.deg, np.asarray(dec_deg, float) * u.deg).astype(np.int64)


def cone_ranges(ra_deg, dec_deg, radius_deg):
    """Sorted, merged half-open ranges [start, stop) of order-16 pixels covering the cone."""
    # Coarse pixels about the size of the radius keep the number of ranges small (a handful).
    pixel_size_deg = 58.6 / 2 ** np.arange(INDEX_ORDER + 1)
    order = int(np.clip(np.searchsorted(-pixel_size_deg, -radius_deg) - 1, 0, INDEX_ORDER))
    grid = HEALPix(nside=2**order, order="nested")
    pixels = np.sort(grid.cone_search_lonlat(ra_deg * u.deg, dec_deg * u.deg, radius_deg * u.deg))
    shift = 4 ** (INDEX_ORDER - order)
    ranges = []
    for pixel in pixels.astype(np.int64):
        start, stop = int(pixel) * shift, (int(pixel) + 1) * shift
        if ranges and ranges[-1][1] == start:
            ranges[-1][1] = stop
        else:
            ranges.append([start, stop])
    return ranges
