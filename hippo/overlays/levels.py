"""Contour levels from a robust noise estimate: k x sigma x step^n, with a dashed negative contour."""

import math
import warnings

import numpy as np

from hippo.errors import InputError, UsageError
from hippo.io.images import zero_filled_blank

LEVEL_STEPS = {"sqrt2": math.sqrt(2.0), "2": 2.0}
MAX_LEVELS = 30  # more than this makes an unreadable picture; the top levels are dropped
# Above this many pixels the noise is estimated on a regular subsample: the clipped MAD of a
# million pixels is as good as that of a hundred million, and a mosaic stays quick.
_NOISE_SAMPLE_PIXELS = 1_000_000


def estimate_noise(data):
    """Robust rms of an image's noise: MAD-based standard deviation after iterative 3-sigma clipping.

    Sources (positive tails) are clipped away; for pure Gaussian noise the result is within
    about 1 % of the true sigma (the 3-sigma clip biases the MAD by 0.3 %).

    Parameters
    ----------
    data : ndarray
        Image values; NaN/inf and zero-filled blank areas (runs of exact zeros along rows) are ignored.

    Returns
    -------
    float
        The noise rms in the image's units (NaN when fewer than 10 usable pixels).
    """
    values = np.asarray(data, dtype=float)
    usable = np.isfinite(values)
    # with more than half the image zero-filled the MAD would be 0 (and a biased low one with less)
    blank = zero_filled_blank(values)
    if blank is not None:
        usable &= ~blank
    values, usable = values.ravel(), usable.ravel()
    if values.size > _NOISE_SAMPLE_PIXELS:
        step = values.size // _NOISE_SAMPLE_PIXELS + 1
        values, usable = values[::step], usable[::step]
    values = values[usable]
    if values.size < 10:
        return float("nan")
    return float(sky_and_noise(values)[1])


def sky_and_noise(values):
    """Sky level (3-sigma-clipped median) and noise (clipped MAD rms) of finite ``values``."""
    from astropy.stats import sigma_clipped_stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # numpy: partition ignores the clipping mask (harmless)
        _, sky, noise = sigma_clipped_stats(values, sigma=3.0, maxiters=10, stdfunc="mad_std")
    return sky, noise


def local_noise_map(data, box_pixels):
    """A map of the local noise rms (photutils Background2D on boxes of ``box_pixels``, MAD rms).

    Used for contours of signal-to-noise when the noise varies across the field (near bright
    sources in interferometric images).
    """
    import inspect

    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MADStdBackgroundRMS, MedianBackground

    data = np.asarray(data, dtype=float)
    box = int(max(8, min(box_pixels, min(data.shape) // 2)))
    # photutils 3 renamed the rms estimator argument; older releases (>= 1.10 allowed) know only the old name
    rms_argument = ("bkg_rms_estimator" if "bkg_rms_estimator" in inspect.signature(Background2D).parameters
                    else "bkgrms_estimator")
    background = Background2D(data, box, filter_size=3, sigma_clip=SigmaClip(sigma=3.0),
                              bkg_estimator=MedianBackground(), mask=~np.isfinite(data),
                              **{rms_argument: MADStdBackgroundRMS()})
    return np.asarray(background.background_rms, dtype=float)


def contour_levels(noise_rms, peak, first=3.0, step="sqrt2", source=None):
    """Positive contour levels ``first * noise * step**n`` up to the peak, and the negative one.

    Parameters
    ----------
    noise_rms : float
        The noise rms (image units), or 1 when contouring a signal-to-noise map.
    peak : float
        The highest value in the field: no level is drawn above it.
    first : float
        The lowest contour in units of the noise (3 is the usual choice).
    step : {"sqrt2", "2"} or float
        Ratio between successive levels.
    source : str, optional
        The contour image, named in the error when its noise is unusable (InputError, else UsageError).

    Returns
    -------
    positive : list of float
        At least one level (the first), rising by ``step``.
    negative : float
        ``-first * noise_rms``, drawn dashed.
    """
    ratio = level_ratio(step)
    if not (first > 0 and math.isfinite(first)):
        raise UsageError(f"--levels: the first contour must be a positive number of sigma, got {first!r}")
    if not (noise_rms > 0 and math.isfinite(noise_rms)):
        reason = ("cannot draw contours: the noise cannot be estimated (fewer than 10 usable pixels)"
                  if math.isnan(noise_rms) else
                  f"cannot draw contours: the noise estimate is {noise_rms!r} (is the image blank?)")
        raise UsageError(reason) if source is None else InputError(source, reason)
    base = first * noise_rms
    positive = [base]
    while len(positive) < MAX_LEVELS and positive[-1] * ratio <= peak:
        positive.append(base * ratio ** len(positive))
    return positive, -base


def level_ratio(step):
    """The ratio between contour levels: ``"sqrt2"``, ``"2"`` or a number above 1."""
    if isinstance(step, str) and step in LEVEL_STEPS:
        return LEVEL_STEPS[step]
    try:
        ratio = float(step)
    except (TypeError, ValueError):
        raise UsageError(f"--level-step: use sqrt2, 2 or a number above 1, got {step!r}") from None
    if not (ratio > 1 and math.isfinite(ratio)):
        raise UsageError(f"--level-step: use sqrt2, 2 or a number above 1, got {step!r}")
    return ratio


def flux_unit_scale(bunit, noise_rms):
    """(factor, unit) to print levels readably: Jy/beam images with mJy-level noise print in mJy/beam."""
    unit = (bunit or "").strip()
    if unit.lower().replace(" ", "") in ("jy/beam", "jy/bm", "jy/bea") and noise_rms < 0.1:
        return 1e3, "mJy/beam"
    if unit.lower() == "jy/beam":
        return 1.0, "Jy/beam"
    return 1.0, unit


def format_levels(levels, factor=1.0):
    """Levels as short numbers for a caption: ``0.45, 0.64, 0.9, 1.3``."""
    return ", ".join(f"{value * factor:.3g}" for value in levels)
