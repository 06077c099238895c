"""PNG previews of FITS cutouts for the inspection page (matplotlib, imported only here)."""

import numpy as np

from hippo.io import atomic_path, read_image


def render_png(fits_path, png_path, zoom=1, size_inches=4.0):
    """Write a PNG of a FITS cutout: asinh stretch from the median (the noise floor) to the 99.9th percentile.

    ``zoom=2`` shows the central half of the cutout (in each axis). Written atomically.
    """
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    image = read_image(fits_path, require_wcs=False)
    data = np.asarray(image.data, dtype=float)
    if zoom > 1:
        ny, nx = data.shape
        dy, dx = ny // (2 * zoom), nx // (2 * zoom)
        data = data[ny // 2 - dy: ny // 2 + dy, nx // 2 - dx: nx // 2 + dx]
    finite = data[np.isfinite(data)]
    low, high = np.percentile(finite, [50.0, 99.9]) if finite.size else (0.0, 1.0)
    scaled = np.arcsinh(10 * np.clip((data - low) / max(high - low, 1e-30), 0, 1)) / np.arcsinh(10)
    figure = Figure(figsize=(size_inches, size_inches), dpi=100)
    axes = figure.add_axes([0, 0, 1, 1])
    axes.imshow(scaled, origin="lower", cmap="inferno", interpolation="nearest")
    axes.set_axis_off()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, format="png")
    return png_path
