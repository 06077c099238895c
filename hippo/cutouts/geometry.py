"""Pixel geometry of cutouts: odd sizes, centre pixels, shifted and resampling WCSs (no I/O here)."""

import warnings

import numpy as np
from astropy.coordinates import SkyCoord, angular_separation, concatenate
from astropy.wcs import WCS, Sip

from hippo.io.frames import celestial_frame

# A size that is an odd number of pixels to within this fraction is not rounded up to the next one.
_SIZE_TOLERANCE = 1e-6


def odd_pixels(size_arcsec, pixel_arcsec):
    """The smallest odd number of pixels of ``pixel_arcsec`` that covers ``size_arcsec``.

    Odd sizes put the requested position in the central pixel, as SPEC asks.

    >>> odd_pixels(120.0, 1.8), odd_pixels(9.0, 1.8), odd_pixels(1.0, 1.8)
    (67, 5, 1)
    """
    needed = float(size_arcsec) / float(pixel_arcsec)
    half = int(np.ceil(max(needed - 1.0, 0.0) / 2.0 - _SIZE_TOLERANCE))
    return 2 * max(half, 0) + 1


def pixel_positions(wcs, coords):
    """Pixel positions (0-based) of ``coords`` in ``wcs`` and the local pixel sizes in arcsec there.

    Vectorised over a whole catalogue: the positions are transformed to the WCS's frame once and
    the local scale is measured on the sky between neighbouring half-pixel offsets, so it is
    right where the projection or a SIP distortion makes the scale vary (large SIN mosaics).
    Positions that do not project onto the WCS come back as NaN.
    """
    if not isinstance(coords, SkyCoord):
        coords = concatenate(list(coords)) if len(coords) > 1 else coords[0].reshape((1,))
    if coords.isscalar:
        coords = coords.reshape((1,))
    native = coords.transform_to(celestial_frame(wcs)).spherical
    lon, lat = native.lon.deg, native.lat.deg
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore")
        try:
            xs, ys = wcs.all_world2pix(lon, lat, 0, quiet=True) if wcs.has_distortion else \
                wcs.wcs_world2pix(lon, lat, 0)
        except Exception:  # no convergence of the inverse distortion: fall back to NaN for all
            xs = ys = np.full(lon.shape, np.nan)
        offsets = np.array([[-0.5, 0], [0.5, 0], [0, -0.5], [0, 0.5]])
        px = (xs[:, None] + offsets[:, 0]).ravel()
        py = (ys[:, None] + offsets[:, 1]).ravel()
        wlon, wlat = wcs.all_pix2world(px, py, 0)
    wlon, wlat = np.radians(wlon.reshape(-1, 4)), np.radians(wlat.reshape(-1, 4))
    scale_x = np.degrees(angular_separation(wlon[:, 0], wlat[:, 0], wlon[:, 1], wlat[:, 1])) * 3600.0
    scale_y = np.degrees(angular_separation(wlon[:, 2], wlat[:, 2], wlon[:, 3], wlat[:, 3])) * 3600.0
    return np.asarray(xs, float), np.asarray(ys, float), scale_x, scale_y


def shifted_wcs(wcs, x0, y0, shape=None):
    """The WCS of the sub-array whose pixel (0, 0) is pixel (x0, y0) of ``wcs``'s image.

    Like ``WCS.slice`` but allows negative offsets (cutouts that hang over the image edge);
    SIP polynomials and distortion lookup tables move with the reference pixel.
    """
    shifted = wcs.deepcopy()
    shifted.wcs.crpix = shifted.wcs.crpix - np.array([x0, y0], dtype=float)
    if wcs.sip is not None:
        shifted.sip = Sip(wcs.sip.a, wcs.sip.b, wcs.sip.ap, wcs.sip.bp,
                          np.asarray(wcs.sip.crpix, dtype=float) - np.array([x0, y0], dtype=float))
    for table in (shifted.cpdis1, shifted.det2im1, shifted.cpdis2, shifted.det2im2):
        if table is not None:
            # A table's crval is an image pixel position: it moves with the sub-array.
            table.crval = (table.crval[0] - x0, table.crval[1] - y0)
    if shape is not None:
        shifted.pixel_shape = (shape[1], shape[0])
    return shifted


def centred_tan_wcs(coord, n_pixels, pixel_arcsec):
    """A north-up ICRS TAN WCS of ``n_pixels`` x ``n_pixels`` whose central pixel centre is ``coord``.

    With an odd ``n_pixels`` the reference pixel (n+1)/2 is the centre of the central pixel,
    so the requested position is exactly at the cutout's geometric centre.
    """
    coord = coord.transform_to("icrs")
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [coord.ra.deg, coord.dec.deg]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.crpix = [(n_pixels + 1) / 2.0, (n_pixels + 1) / 2.0]
    wcs.wcs.cdelt = [-pixel_arcsec / 3600.0, pixel_arcsec / 3600.0]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.pixel_shape = (n_pixels, n_pixels)
    return wcs


def _poles_inside(source_wcs, target_wcs, target_shape):
    """Source-pixel positions of the source frame's celestial poles that lie inside the target grid."""
    poles = SkyCoord([0.0, 0.0], [90.0, -90.0], unit="deg", frame=celestial_frame(source_wcs))
    target_x, target_y, _, _ = pixel_positions(target_wcs, poles)
    source_x, source_y, _, _ = pixel_positions(source_wcs, poles)
    ny, nx = target_shape
    with np.errstate(invalid="ignore"):
        inside = (target_x >= -0.5) & (target_x <= nx - 0.5) & (target_y >= -0.5) & (target_y <= ny - 0.5)
    return list(zip(source_x[inside], source_y[inside]))


def source_bounding_box(source_wcs, target_wcs, target_shape, source_shape, margin=2):
    """Pixel box ``(x0, x1, y0, y1)`` of the source image that covers the target grid, clipped
    to the source image; None when they do not overlap.

    Found from the target's border and centre lines mapped into the source, so only that part
    of a (memory-mapped) mosaic is read when resampling.
    """
    ny, nx = target_shape
    steps_x = np.linspace(-0.5, nx - 0.5, min(nx + 1, 33))
    steps_y = np.linspace(-0.5, ny - 0.5, min(ny + 1, 33))
    xs = np.concatenate([steps_x, steps_x, np.full_like(steps_y, -0.5), np.full_like(steps_y, nx - 0.5),
                         steps_x, np.full_like(steps_y, (nx - 1) / 2.0)])
    ys = np.concatenate([np.full_like(steps_x, -0.5), np.full_like(steps_x, ny - 0.5), steps_y, steps_y,
                         np.full_like(steps_x, (ny - 1) / 2.0), steps_y])
    world = target_wcs.pixel_to_world(xs, ys)
    sx, sy = source_wcs.world_to_pixel(world)
    height, width = source_shape
    for pole_x, pole_y in _poles_inside(source_wcs, target_wcs, target_shape):
        # every longitude meets at a pole inside the cutout: in a CAR or other all-sky image it
        # takes the whole width (the border alone jumps across the longitude seam), and its row
        sx = np.append(sx, [0.0, width - 1.0, pole_x])
        sy = np.append(sy, [pole_y, pole_y, pole_y])
    good = np.isfinite(sx) & np.isfinite(sy)
    if not good.any():
        return None
    x0 = int(np.floor(sx[good].min())) - margin
    x1 = int(np.ceil(sx[good].max())) + margin + 1
    y0 = int(np.floor(sy[good].min())) - margin
    y1 = int(np.ceil(sy[good].max())) + margin + 1
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, width), min(y1, height)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, x1, y0, y1
