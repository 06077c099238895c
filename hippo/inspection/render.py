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


def overlay_layout(cutouts):
    """Which cutouts of a source make its overlay: (background path, [contour paths]) or None.

    ``cutouts`` are (survey, path) pairs. Radio cutouts (known survey names, else a beam or
    Jy/beam in the header) are contoured, at most three, finest resolution first; the first
    optical/IR cutout is the background, or the finest radio one when there is none.
    """
    from hippo.errors import HippoError
    from hippo.overlays.beams import is_radio_image, is_radio_survey

    radio, other = [], []
    for survey, path in cutouts:
        try:
            image = read_image(path)
        except HippoError:
            continue  # an unreadable cutout is left out of the overlay; its own PNG says why
        if is_radio_survey(survey) or is_radio_image(image):
            radio.append((image.pixel_scale_arcsec, str(path)))
        else:
            other.append(str(path))
    if not radio:
        return None
    contours = [path for _, path in sorted(radio)][:3]
    return (other[0] if other else contours[0]), contours


def render_overlay_png(background, contours, png_path, zoom=1, ra=None, dec=None, title=None):
    """Radio contours on the background cutout (hippo.overlays) around the source.

    Zoom 1 shows the field both cutouts cover (the narrower of the background and the widest
    radio cutout: an 8' WISE image under a 3' FIRST one shows 3'); zoom 2 its central half.
    """
    from hippo.overlays import overlay

    # each file read once: the field is sized from the same images the overlay draws
    images = {path: read_image(path) for path in dict.fromkeys([background, *contours])}

    def width_arcsec(path):
        return min(images[path].shape) * images[path].pixel_scale_arcsec

    field = min(width_arcsec(background), max(width_arcsec(path) for path in contours)) / zoom
    if ra is None or dec is None:
        ny, nx = images[background].shape
        centre = images[background].wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
        ra, dec = centre.ra.deg, centre.dec.deg
    return overlay(image=images[background], contours=[images[path] for path in contours], output=png_path, ra=ra,
                   dec=dec, size=f"{field:.1f}arcsec", title=title, dpi=100, panel_inches=3.6)
