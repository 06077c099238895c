"""Display stretches for optical/IR and radio backgrounds, and Lupton RGB composites of three bands."""

import numpy as np

from hippo.errors import UsageError
from hippo.overlays.levels import sky_and_noise

STRETCHES = ("asinh", "zscale", "percentile", "sqrt", "log", "linear")


def normalisation(data, stretch="asinh", percentile=99.5):
    """An astropy ImageNormalize for displaying ``data``.

    Parameters
    ----------
    data : ndarray
        The background image (NaN ignored).
    stretch : str
        ``asinh`` (default: from 2 sigma below the sky to the ``percentile`` value or 50 sigma above
        the sky, whichever is higher, so that the noise is a light, quiet grey while faint hosts
        and bright stars or radio sources both show), ``zscale`` (IRAF's ZScale
        interval, linear: the sky noise at mid-grey, as DS9 shows optical images),
        ``percentile`` (linear between the low and high percentiles), ``sqrt``, ``log`` or
        ``linear`` (min to max).
    percentile : float
        Central percentage of pixel values spanned by ``asinh``/``percentile``/``sqrt``/``log``.
    """
    from astropy.visualization import (AsinhStretch, ImageNormalize, LinearStretch, LogStretch, MinMaxInterval,
                                       PercentileInterval, SqrtStretch, ZScaleInterval)

    if stretch not in STRETCHES:
        raise UsageError(f"--stretch: use one of {', '.join(STRETCHES)}, got {stretch!r}")
    if not 0 < float(percentile) <= 100:
        raise UsageError(f"--percentile: must be in (0, 100], got {percentile!r}")
    finite = np.asarray(data, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        finite = np.zeros(1)
    if stretch == "asinh":
        low, high = _sky_to_bright_limits(finite, percentile)
    else:
        interval = {"zscale": ZScaleInterval(), "linear": MinMaxInterval()}.get(stretch,
                                                                                PercentileInterval(percentile))
        low, high = interval.get_limits(finite)
    transform = {"asinh": AsinhStretch(0.1), "sqrt": SqrtStretch(), "log": LogStretch(1000)}.get(stretch,
                                                                                                LinearStretch())
    if not high > low:
        high = low + 1.0
    return ImageNormalize(vmin=low, vmax=high, stretch=transform, clip=True)


def _sky_to_bright_limits(values, percentile):
    """(sky - 2 sigma, max(percentile, sky + 50 sigma)) with a robust sky level and noise."""
    sample = values[:: max(1, values.size // 1_000_000)]
    sky, noise = sky_and_noise(sample)
    return sky - 2 * noise, max(float(np.percentile(sample, percentile)), sky + 50 * noise)


def lupton_rgb(red, green, blue, stretch_sigma=8.0, q=8.0):
    """An RGB composite of three co-aligned bands (Lupton et al. 2004), background subtracted.

    Each band has its sigma-clipped median sky removed and is scaled by its own noise, so that
    bands in different units (DN, nanomaggies, Jy/beam) weigh alike; ``stretch_sigma`` noise
    units span the linear part of the asinh stretch.

    Returns
    -------
    ndarray (ny, nx, 3) uint8
    """
    from astropy.visualization import make_lupton_rgb

    scaled = []
    for band in (red, green, blue):
        band = np.asarray(band, dtype=float)
        sky, noise = sky_and_noise(band[np.isfinite(band)])
        noise = noise if noise > 0 else 1.0
        scaled.append(np.nan_to_num((band - sky) / noise, nan=0.0))
    return make_lupton_rgb(*scaled, minimum=0.0, stretch=stretch_sigma, Q=q)
