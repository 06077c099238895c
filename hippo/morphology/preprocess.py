"""One preprocessing path for training and inference: any celestial image -> the model's 1.8"/px input.

The labelled images of ``firstgalaxydata`` are FIRST cutouts (1.8"/px) whose pixels below
median + 3 sigma (sigma-clipped) were set to zero and the rest scaled linearly to 8 bits, so that
a pixel less than one grey level above that threshold is zero too (measured: the threshold that
reproduces their pixel counts from raw FITS rises with the peak's S/N as that predicts). A raw
FIRST FITS cutout in Jy/beam goes through the same steps here, so both give the model the same
input: resample onto a north-up TAN grid of ``GRID_PIXELS`` x ``GRID_PIXELS`` pixels at
``GRID_ARCSEC`` centred on the source, estimate the noise on the original pixels, zero
everything below median + 3 sigma and below one 8-bit grey level above it, and scale the rest to
[0, 1] by the crop's peak. An 8-bit image that is already clipped has a sigma-clipped noise of
zero and no pixel between 0 and one grey level, so the same code leaves it as it is (divided by
its peak).

Alongside the array each image yields the input statistics that the out-of-distribution check
uses (pixel scale, beam, peak signal-to-noise, occupied fraction, size of the brightest
component).
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from hippo.errors import InputError
from hippo.io.frames import icrs_to_native, native_to_icrs
from hippo.io.images import pixel_scale_arcsec, unprojected_reason, zero_filled_blank

GRID_ARCSEC = 1.8
GRID_PIXELS = 160
NOISE_FIELD_PIXELS = 300  # the data set's images: 9' at 1.8"/px, clipped on their own noise
CLIP_SIGMA = 3.0
GREY_LEVEL = 1.0 / 255.0  # the faintest level of the data set's 8-bit images, as a fraction of the peak
# Cap on the pixels the noise estimate looks at: a regular subsample is as good and much faster.
_NOISE_SAMPLE_PIXELS = 20_000
# Pixels per axis the noise-beam estimate pairs up (a subsample of the noise sample's rows), and the
# fewest pairs of neighbouring noise pixels per axis for it to give an estimate at all.
_NOISE_BEAM_PIXELS = 6000
MIN_NOISE_PAIRS = 1000


@dataclass
class Prepared:
    """A model input (GRID_PIXELS x GRID_PIXELS float32 in [0, 1]) and the statistics of its source image."""

    array: np.ndarray
    ra: float
    dec: float
    pixel_scale_arcsec: float
    beam_arcsec: float | None
    bunit: str
    peak_snr: float
    occupied_fraction: float
    core_fwhm_arcsec: float
    coverage: float
    noise_beam_arcsec: float | None = None
    # Measured only for an image without BUNIT, whose units cannot say it is radio (see ood.py):
    background_sigma: float | None = None  # sigma-clipped median in units of the noise
    # separate components (>= 3 pixels) in the model's field above 5 sigma, less those below -5 sigma
    excess_sources_5_sigma: int | None = None


def clipped_stats(values, sigma=CLIP_SIGMA, iterations=5):
    """Median and standard deviation after iterative sigma clipping about the median.

    The same recipe as ``astropy.stats.sigma_clipped_stats`` (which made the labelled images),
    done for speed on a regular sample of about ``_NOISE_SAMPLE_PIXELS`` pixels of a large image.
    The values kept by a clip about the median are always a contiguous run of the sorted
    values, so one sort and running sums give every iteration's median and spread.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 2 and values.size > _NOISE_SAMPLE_PIXELS:
        values = values[_symmetric_sample(values.shape[0]), :][:, _symmetric_sample(values.shape[1])]
    ordered = np.sort(values[np.isfinite(values)], axis=None).astype(np.float64)
    if ordered.size == 0:
        return float("nan"), float("nan")
    # Running sums about the overall median, so that the variance does not lose digits.
    offset = ordered[ordered.size // 2]
    sums = np.concatenate([[0.0], np.cumsum(ordered - offset)])
    squares = np.concatenate([[0.0], np.cumsum((ordered - offset) ** 2)])
    low, high = 0, ordered.size

    def stats(low, high):
        count, middle = high - low, low + (high - low) // 2
        median = ordered[middle] if count % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])
        mean = (sums[high] - sums[low]) / count
        return float(median), float(np.sqrt(max((squares[high] - squares[low]) / count - mean**2, 0.0)))

    median, std = stats(low, high)
    for _ in range(iterations):
        new_low = int(np.searchsorted(ordered[low:high], median - sigma * std, side="left")) + low
        new_high = int(np.searchsorted(ordered[low:high], median + sigma * std, side="right")) + low
        if (new_low, new_high) == (low, high) or new_high <= new_low:
            break
        low, high = new_low, new_high
        median, std = stats(low, high)
    return median, std


def noise_beam_arcsec(region, median, std, scale, min_pairs=MIN_NOISE_PAIRS):
    """FWHM (arcsec) of the beam estimated from the noise's spatial correlation; None if unmeasurable.

    Needs no BMAJ card (SkyView writes none) and sees through resampling. The noise of an
    interferometric image is the noise of the visibilities seen through the beam, so its
    autocorrelation is the beam: for a Gaussian beam of sigma b pixels, neighbouring pixels
    correlate as rho1 = exp(-1 / (2 b^2)), and FWHM = 2.3548 sqrt(-1 / (2 ln rho1)) pixels.
    (White noise smoothed by a Gaussian of sigma s has rho1 = exp(-1 / (4 s^2)): its
    autocorrelation is sqrt(2) wider than the kernel. Measured on the 1279 raw FIRST files of
    ../shared/data the beam form gives a median of 5.5", the 5.4" FIRST beam; the kernel form
    5.4 / sqrt(2).) rho1 is measured along x and along y (each row of ``_noise_beam_rows`` and
    the next), on pairs whose two pixels are both within 3 sigma of the median (sources and NaN
    left out), and averaged over the two axes. None where the noise is zero (the 8-bit clipped
    training images) or either axis has fewer than ``min_pairs`` such pairs.
    """
    if not (std > 0 and np.isfinite(std) and scale > 0):
        return None
    region = np.asarray(region)
    ny, nx = region.shape
    rows = _noise_beam_rows(ny, nx)
    has_next = rows + 1 < ny
    limit = np.float32(CLIP_SIGMA * std)
    centre = np.float32(median)

    def noise_only(values):  # offsets from the median, 0 where not noise-like (NaN too); 1/0 mask
        values = values.astype(np.float32) - centre
        keep = (np.abs(values) < limit).astype(np.float32)  # 0 for NaN
        values = np.where(keep > 0, values, np.float32(0.0))
        return values, values * values, keep

    z, power, keep = noise_only(region[rows])
    below = noise_only(region[rows[has_next] + 1])
    correlations = []
    for (z1, p1, k1), (z2, p2, k2) in (((z[:, :-1], power[:, :-1], keep[:, :-1]), (z[:, 1:], power[:, 1:], keep[:, 1:])),
                                       ((z[has_next], power[has_next], keep[has_next]), below)):
        if float(np.vdot(k1.ravel(), k2.ravel())) < min_pairs:
            return None
        # Pearson correlation about the median over pairs of noise pixels (a zeroed pixel drops its pair).
        denominator = float(np.sqrt(np.vdot(p1.ravel(), k2.ravel()) * np.vdot(p2.ravel(), k1.ravel())))
        correlations.append(float(np.vdot(z1.ravel(), z2.ravel())) / denominator if denominator > 0 else 0.0)
    rho = float(np.mean(correlations))
    if rho <= 0.0:
        return 0.0  # uncorrelated from pixel to pixel: a beam well within a pixel
    if rho >= 1.0:
        return float("inf")
    return float(2.3548 * np.sqrt(-1.0 / (2.0 * np.log(rho))) * scale)


def _noise_beam_rows(ny, nx):
    """Rows (indices) whose pixels, and those of the row after each, ``noise_beam_arcsec`` pairs up:
    every k-th row of the noise sample, about ``_NOISE_BEAM_PIXELS`` pixels (plenty for rho1)."""
    rows = np.arange(ny)[_symmetric_sample(ny) if ny * nx > _NOISE_SAMPLE_PIXELS else slice(None)]
    return rows[:: max(rows.size * nx // _NOISE_BEAM_PIXELS, 1)]


def _symmetric_sample(length):
    """Every s-th index along an axis (s odd), chosen so the set is its own mirror image.

    A sample of rows and columns that each map onto themselves when the image is flipped makes
    the noise estimate, and so the whole model input, exactly invariant to rotations by 90 deg
    and flips of the image.
    """
    stride = max(int(np.sqrt(length * length / _NOISE_SAMPLE_PIXELS)), 1)
    stride += 1 - stride % 2
    offset = next(o for o in range(stride) if (2 * o - (length - 1)) % stride == 0)
    return slice(offset, length, stride)


def target_wcs(ra, dec, pixels=GRID_PIXELS, arcsec=GRID_ARCSEC):
    """The model's grid: TAN, north up, east left, centred on (ra, dec) between the central pixels."""
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(pixels + 1) / 2.0, (pixels + 1) / 2.0]
    wcs.wcs.cdelt = [-arcsec / 3600.0, arcsec / 3600.0]
    return wcs


def image_centre(image):
    """World coordinates (deg) of the geometric centre of an image."""
    return _centre(image.data.shape, image.wcs)


def _centre(shape, wcs):
    ny, nx = shape
    world = wcs.pixel_to_world_values((nx - 1) / 2.0, (ny - 1) / 2.0)
    ra, dec = native_to_icrs(wcs, world[wcs.wcs.lng], world[wcs.wcs.lat])
    return float(ra), float(dec)


def _world_to_pixel(wcs, ra, dec):
    """Pixel coordinates in ``wcs`` of ICRS (ra, dec): galactic, ecliptic and B1950 images too (the
    model grid is ICRS; an image's own axes may not be), and images whose first axis is latitude."""
    lon, lat = icrs_to_native(wcs, ra, dec)
    world = [lat, lon] if wcs.wcs.lng == 1 else [lon, lat]
    return wcs.world_to_pixel_values(*world)


def _block_factor(pixel_scale_arcsec):
    """How many input pixels a side ``resample_to_grid`` averages into one before sampling (1: none)."""
    return max(int(np.floor(GRID_ARCSEC / pixel_scale_arcsec * 1.0001)), 1)


def _grid_to_source_affine(wcs, ra, dec):
    """Affine map from model-grid pixels to pixels of ``wcs``: rows (a, b, c) for x and for y.

    Over a 5-arcminute grid the mapping between two celestial projections is affine to far
    better than a hundredth of a pixel, so it is fitted on a 5 x 5 grid of points and checked;
    None where it is not (a pole, a strongly distorted projection).
    """
    source = np.column_stack(_world_to_pixel(wcs, *_grid_world(ra, dec, _FIT_X, _FIT_Y)))
    coefficients = _FIT_SOLVER @ source
    residual = np.abs(_FIT_DESIGN @ coefficients - source).max()
    return coefficients.T if np.isfinite(residual) and residual < 0.01 else None


def _grid_world(ra, dec, x, y):
    """(ra, dec) in degrees of model-grid pixels (x, y): ``target_wcs(ra, dec)`` without building it.

    The gnomonic (TAN) projection written out (Calabretta & Greisen 2002), the same numbers as
    wcslib's to ~1e-12 deg; building a WCS object costs more than the rest of the affine fit.
    """
    centre = (GRID_PIXELS - 1) / 2.0
    xi = np.radians(-(np.asarray(x, dtype=np.float64) - centre) * GRID_ARCSEC / 3600.0)  # east left
    eta = np.radians((np.asarray(y, dtype=np.float64) - centre) * GRID_ARCSEC / 3600.0)
    dec0 = np.radians(dec)
    denominator = np.cos(dec0) - eta * np.sin(dec0)
    world_ra = np.degrees(np.arctan2(xi, denominator)) + ra
    world_dec = np.degrees(np.arctan2(np.sin(dec0) + eta * np.cos(dec0), np.hypot(xi, denominator)))
    return np.mod(world_ra, 360.0), world_dec


# The affine fit's 5 x 5 points on the grid and its least-squares solver (fixed: computed once).
_FIT_X, _FIT_Y = (a.ravel() for a in np.meshgrid(np.linspace(0, GRID_PIXELS - 1, 5), np.linspace(0, GRID_PIXELS - 1, 5)))
_FIT_DESIGN = np.column_stack([_FIT_X, _FIT_Y, np.ones(_FIT_X.size)])
_FIT_SOLVER = np.linalg.pinv(_FIT_DESIGN)


def _source_pixel_coordinates(wcs, ra, dec, affine):
    """Pixel coordinates in ``wcs`` of every pixel of the model grid (each pixel transformed if not affine)."""
    ix = np.arange(GRID_PIXELS, dtype=np.float64)
    if affine is not None:
        (ax, bx, cx), (ay, by, cy) = affine
        return ax * ix[None, :] + bx * ix[:, None] + cx, ay * ix[None, :] + by * ix[:, None] + cy
    fx, fy = np.meshgrid(ix, ix)
    px, py = _world_to_pixel(wcs, *target_wcs(ra, dec).pixel_to_world_values(fx, fy))
    return np.asarray(px), np.asarray(py)


def resample_to_grid(data, wcs, ra, dec, pixel_scale_arcsec):
    """Resample ``data`` onto the model grid centred on (ra, dec); NaN outside the image.

    A grid that already is 1.8"/px north-up and offset by whole pixels (a FIRST cutout centred
    on the source) is copied, as bilinear sampling at whole pixels would give. Finer images are
    block-averaged first so that bilinear sampling does not alias.
    """
    factor = _block_factor(pixel_scale_arcsec)
    if factor >= 2:
        ny, nx = data.shape
        data = np.asarray(data[: ny - ny % factor, : nx - nx % factor], dtype=np.float32)
        data = data.reshape(ny // factor, factor, nx // factor, factor).mean(axis=(1, 3))
        wcs = _binned_wcs(wcs, factor)
    data = np.asarray(data, dtype=np.float32)
    affine = _grid_to_source_affine(wcs, ra, dec)
    shift = _integer_shift(affine)
    if shift is not None:
        return _shifted_copy(data, *shift)
    px, py = _source_pixel_coordinates(wcs, ra, dec, affine)
    finite = np.isfinite(data)
    filled = np.where(finite, data, 0.0).astype(np.float32)
    values = ndimage.map_coordinates(filled, [py, px], order=1, mode="constant", cval=np.nan,
                                     prefilter=False)
    if not finite.all():
        weight = ndimage.map_coordinates(finite.astype(np.float32), [py, px], order=1, mode="constant",
                                         cval=0.0, prefilter=False)
        values = np.where(weight > 0.5, values / np.maximum(weight, 1e-6), np.nan)
    ny, nx = data.shape
    outside = (px < -0.5) | (px > nx - 0.5) | (py < -0.5) | (py > ny - 0.5)
    values[outside] = np.nan
    return values.astype(np.float32)


def _binned_wcs(wcs, factor):
    """The WCS of an image block-averaged ``factor`` x ``factor``. Not ``wcs[::factor, ::factor]``:
    astropy's slicing scales CDELT and leaves a CD matrix as it was (a 0.9"/px image with CD
    cards was resampled as if its blocks were still 0.9" pixels: the source came out 2x too big)."""
    binned = wcs.deepcopy()
    binned.wcs.crpix = (np.asarray(wcs.wcs.crpix) - 0.5) / factor + 0.5  # FITS pixel centres, 1-based
    if wcs.wcs.has_cd():
        binned.wcs.cd = np.asarray(wcs.wcs.cd) * factor
    else:
        binned.wcs.cdelt = np.asarray(wcs.wcs.cdelt) * factor
    if binned.sip is not None:  # distortion polynomials are in the original pixels: let astropy slice them
        return wcs[::factor, ::factor]
    binned.wcs.set()
    return binned


def _integer_shift(affine, tolerance=1e-3):
    """(x0, y0) when the affine map is the input's own pixels shifted by whole pixels, else None.

    The largest departure from the shift anywhere on the grid is bounded by the coefficient
    errors times the grid's extent, so the coefficients alone decide.
    """
    if affine is None:
        return None
    (ax, bx, cx), (ay, by, cy) = affine
    x0, y0 = round(float(cx)), round(float(cy))
    extent = GRID_PIXELS - 1
    departure_x = (abs(ax - 1.0) + abs(bx)) * extent + abs(cx - x0)
    departure_y = (abs(ay) + abs(by - 1.0)) * extent + abs(cy - y0)
    return (x0, y0) if max(departure_x, departure_y) < tolerance else None


def _shifted_copy(data, x0, y0):
    """The grid cut straight from the pixels (what bilinear sampling at whole pixels gives), NaN outside."""
    out = np.full((GRID_PIXELS, GRID_PIXELS), np.nan, dtype=np.float32)
    ny, nx = data.shape
    ys, xs = slice(max(y0, 0), min(y0 + GRID_PIXELS, ny)), slice(max(x0, 0), min(x0 + GRID_PIXELS, nx))
    if ys.start < ys.stop and xs.start < xs.stop:
        out[ys.start - y0: ys.stop - y0, xs.start - x0: xs.stop - x0] = data[ys, xs]
    return out


def clip_and_scale(values, median, std):
    """Zero everything below median + 3 sigma and scale the rest linearly to (0, 1] by the peak;
    a pixel less than one grey level of an 8-bit image (``GREY_LEVEL`` of the way from the
    threshold to the peak) is zeroed too.

    The labelled images are 8-bit, where such a pixel is 0: cutting raw images the same way
    keeps the same faint pixels on both paths (above 3 sigma alone, a raw FIRST cutout keeps 13 %
    more pixels than the data set's image of the same source, most of it around bright sources).
    An 8-bit image loses nothing: its faintest kept pixel is one grey level.

    Returns the scaled array and the fraction of finite pixels above median + 3 sigma (the
    out-of-distribution check's measure of how much of the field is emission: an optical image
    is full of it even where its brightest star leaves most of it under one grey level).
    """
    threshold = median + CLIP_SIGMA * std if np.isfinite(std) else 0.0
    finite = np.isfinite(values)
    peak = float(values[finite].max()) if finite.any() else threshold
    out = np.zeros(values.shape, dtype=np.float32)
    if peak > threshold:
        above = finite & (values > threshold)
        occupied = float(above.sum() / max(finite.sum(), 1))
        kept = above & (values >= threshold + GREY_LEVEL * (peak - threshold))
        out[kept] = (values[kept] - threshold) / (peak - threshold)
    else:
        occupied = 0.0
    return out, occupied


def core_fwhm_arcsec(array, window=32):
    """Equivalent-circle diameter of the component around the peak above half the peak.

    A compact FIRST component is ~5" (its beam); the same source in a 45" NVSS image resampled to
    1.8"/px is ~45": this separates resolutions without trusting the header. The component is
    first looked for within ``window`` pixels of the peak (cheap), and on the whole image only
    where it reaches the window's edge.
    """
    if array.max() <= 0:
        return 0.0
    peak_y, peak_x = np.unravel_index(np.argmax(array), array.shape)
    y0, x0 = max(peak_y - window, 0), max(peak_x - window, 0)
    box = array[y0: peak_y + window + 1, x0: peak_x + window + 1]
    labels, _ = ndimage.label(box >= 0.5 * array[peak_y, peak_x])
    component = labels == labels[peak_y - y0, peak_x - x0]
    touches_edge = ((component[0].any() and y0 > 0) or (component[-1].any() and y0 + box.shape[0] < array.shape[0])
                    or (component[:, 0].any() and x0 > 0)
                    or (component[:, -1].any() and x0 + box.shape[1] < array.shape[1]))
    if touches_edge:
        labels, _ = ndimage.label(array >= 0.5 * array[peak_y, peak_x])
        component = labels == labels[peak_y, peak_x]
    return float(2.0 * np.sqrt(component.sum() / np.pi) * GRID_ARCSEC)


def prepare(image, ra=None, dec=None):
    """Turn a ``hippo.io.Image`` (any celestial WCS, any units) into the model's input.

    Parameters
    ----------
    image : hippo.io.Image
        The image; it needs a celestial WCS.
    ra, dec : float, optional
        Source position in degrees; default the image centre.

    Returns
    -------
    Prepared
    """
    if ra is None or dec is None:
        ra, dec = image_centre(image)
        if not np.isfinite(ra + dec):  # a header wcslib accepts, e.g. 90 deg pixels in a SIN projection
            raise InputError(image.path, unprojected_reason(image.wcs))
    scale = image.pixel_scale_arcsec
    data, wcs = image.data, image.wcs
    y0, y1, x0, x1 = _noise_box(data.shape, wcs, ra, dec, scale)
    noise_region = data[y0:y1, x0:x1]
    blank = zero_filled_blank(noise_region)
    if blank is not None:
        # Zero-filled blank sky (a survey's edge, as SkyView pads it) is no sky: it would pull the
        # noise towards 0, and count as covered. The box holds the whole grid, so the grid is
        # resampled from the blanked box.
        noise_region = np.where(blank, np.float32(np.nan), noise_region).astype(np.float32)
        data, wcs = noise_region, wcs[y0:y1, x0:x1]
    values = resample_to_grid(data, wcs, ra, dec, scale)
    coverage = float(np.isfinite(values).mean())
    median, std = clipped_stats(noise_region)
    noise_beam = noise_beam_arcsec(noise_region, median, std, scale)
    array, occupied = clip_and_scale(values, median, std)
    finite = values[np.isfinite(values)]
    peak = float(finite.max()) if finite.size else float("nan")
    peak_snr = (peak - median) / std if std > 0 else (float("inf") if peak > median else 0.0)
    beam = image.beam_deg
    bunit = str(image.header.get("BUNIT", "")).strip()
    unknown_units = {}
    if not bunit and std > 0:
        unknown_units = {"background_sigma": float(median / std),
                         # a bright radio source's artefacts come in both signs; stars are positive only
                         "excess_sources_5_sigma": count_sources(values, median + 5.0 * std)
                         - count_sources(-values, -(median - 5.0 * std))}
    return Prepared(array=array, ra=float(ra), dec=float(dec), pixel_scale_arcsec=float(scale),
                    beam_arcsec=None if beam is None else float(beam[0]) * 3600.0,
                    bunit=bunit, peak_snr=float(peak_snr),
                    occupied_fraction=occupied, core_fwhm_arcsec=core_fwhm_arcsec(array), coverage=coverage,
                    noise_beam_arcsec=noise_beam, **unknown_units)


def count_sources(values, threshold, min_pixels=3):
    """Separate components (8-connected, at least ``min_pixels``) of ``values`` above ``threshold``."""
    labels, count = ndimage.label(np.nan_to_num(values, nan=-np.inf) > threshold, structure=np.ones((3, 3)))
    if count == 0:
        return 0
    return int((np.bincount(labels.ravel())[1:] >= min_pixels).sum())


def rows_read_by_prepare(shape, wcs):
    """Which rows of an image ``prepare`` (source at the centre) looks at, or None for all of them.

    For the common case, an image on the model's own pixel grid (a FIRST cutout: the grid is
    copied at a whole-pixel offset), that is the grid's rows plus the rows of the noise sample and
    the row after some of them (the noise beam's pairs), about 70 % of a 300-row cutout; a reader can skip
    decoding the rest. Anything else
    (resampling, block averaging, an image larger than the noise box, an image small enough to be
    measured whole) reads every row.
    """
    ny, nx = shape
    scale = pixel_scale_arcsec(wcs)
    if not scale > 0 or _block_factor(scale) > 1 or ny * nx <= _NOISE_SAMPLE_PIXELS:  # clipped_stats then uses every pixel
        return None
    centre = _centre(shape, wcs)
    if _noise_box(shape, wcs, *centre, scale) != (0, ny, 0, nx):
        return None
    shift = _integer_shift(_grid_to_source_affine(wcs, *centre))
    if shift is None:
        return None
    rows = np.zeros(ny, dtype=bool)
    rows[max(shift[1], 0): max(shift[1] + GRID_PIXELS, 0)] = True
    rows[_symmetric_sample(ny)] = True
    pairs = _noise_beam_rows(ny, nx)
    rows[pairs[pairs + 1 < ny] + 1] = True  # the noise beam's pairs along y (``noise_beam_arcsec``)
    return rows


def _noise_box(shape, wcs, ra, dec, scale):
    """Pixel bounds (y0, y1, x0, x1) of the original pixels the noise is measured on: the data set's
    9' field (``NOISE_FIELD_PIXELS`` model pixels a side) centred on the source, as far as the image
    covers it. The data set's images were clipped on their noise over that field, so sky further out
    (a big mosaic, a 20' cutout) plays no part, and a mosaic is never read whole."""
    half = NOISE_FIELD_PIXELS / 2.0 * GRID_ARCSEC / scale
    cx, cy = _world_to_pixel(wcs, ra, dec)
    ny, nx = shape
    if not np.isfinite(cx + cy + half):  # the source does not project onto the image: no noise to measure
        return 0, 0, 0, 0
    # the pixels whose centres lie within half a field of the source: symmetric about it
    x0, x1 = max(int(np.ceil(cx - half - 1e-6)), 0), min(int(np.floor(cx + half + 1e-6)) + 1, nx)
    y0, y1 = max(int(np.ceil(cy - half - 1e-6)), 0), min(int(np.floor(cy + half + 1e-6)) + 1, ny)
    if not (x0 < x1 and y0 < y1):  # the source is off the image: no noise to measure
        return 0, 0, 0, 0
    return y0, y1, x0, x1


def prepare_labelled(image_uint8):
    """The model input of one 300 x 300 8-bit ``firstgalaxydata`` image (1.8"/px, centred).

    The central crop is the grid of ``prepare`` for an image centred on the source; the clipping
    and scaling are the same function (its sigma-clipped noise is zero).
    """
    data = np.asarray(image_uint8, dtype=np.float32)
    ny, nx = data.shape
    y0, x0 = (ny - GRID_PIXELS) // 2, (nx - GRID_PIXELS) // 2
    values = data[y0: y0 + GRID_PIXELS, x0: x0 + GRID_PIXELS]
    median, std = clipped_stats(data)
    array, occupied = clip_and_scale(values, median, std)
    return array, occupied, core_fwhm_arcsec(array)
