"""Radio contours on optical/IR or radio images: publication-quality PNG/PDF figures on astropy WCSAxes."""

import math
from pathlib import Path

from hippo.errors import UsageError

OUTPUT_FORMATS = (".png", ".pdf")


def overlay(image=None, contours=None, levels=3, level_step="sqrt2", regions=None, catalogue=None,
            output="overlay.png", redshift=None, stretch="asinh", rgb=None, *, noise="global", percentile=99.5,
            ra=None, dec=None, size=None, title=None, ra_col=None, dec_col=None, id_col=None, dpi=150,
            panel_inches=4.6, cmap="gray_r", store=None, source=None):
    """Draw radio contours over an image with a WCS and write a PNG or PDF.

    Contours are drawn in the contour image's own pixel frame (each vertex mapped through its WCS
    onto the background), never from resampled data. Levels are ``levels x sigma x step**n`` up
    to the peak in the field, sigma being a robust (3-sigma-clipped, MAD) estimate of the noise,
    plus a dashed contour at ``-levels x sigma``; the values are written in the caption.

    Parameters
    ----------
    image : str, Path, Image, or list of them
        Background image(s) with a celestial WCS (optical/IR or radio). Several images make a
        multi-panel figure (one source, many surveys), each panel with the same contours. May be
        None when ``rgb`` is given, or when only contours are wanted (drawn over the first
        contour image).
    contours : str, Path, Image, or list of them
        Radio image(s) to contour (up to five, each in its own colour).
    levels : float or sequence of float
        First contour in units of the noise (default 3), or explicit levels in image units.
    level_step : {"sqrt2", "2"} or float
        Ratio between successive contours.
    regions : str or Path
        DS9 (``.reg``) or CRTF (``.crtf``) region file; sky regions are placed through the WCS.
    catalogue : str, Path or astropy Table
        Positions to mark (open circles labelled with their IDs), e.g. cross-match candidates.
    output : str or Path
        ``.png`` or ``.pdf``; written atomically.
    redshift : float
        Also give the scale bar in kpc (Planck18 cosmology).
    stretch : {"asinh", "zscale", "percentile", "sqrt", "log", "linear"}
        Display stretch of the background (see :func:`hippo.overlays.stretch.normalisation`).
    rgb : sequence of three paths
        Red, green, blue bands (e.g. WISE W3, W2, W1) for a Lupton RGB panel; bands are
        background-subtracted and put on the red band's grid.
    noise : "global", "local" or float
        ``global``: one robust rms per contour image; ``local``: contours of signal-to-noise
        against a local rms map; a number: the rms in the contour image's units.
    percentile : float
        Percentage of pixels spanned by the asinh/percentile/sqrt/log stretches.
    ra, dec : float or str
        Centre of the field shown (default: the image centre).
    size : str or Quantity
        Width of the field shown (``"2arcmin"``; plain numbers are arcsec). Default: whole image.
    title : str
        Figure title (e.g. the source name).
    ra_col, dec_col, id_col : str
        Columns of ``catalogue`` (default: found by UCD or common names).
    dpi : int
        Resolution of PNG output.
    store : str or Store
        Also record the run and an ``overlays`` row (``source``, path, image, contours).
    source : str
        Source name for the store row (default: the title, or the output file's stem).

    Returns
    -------
    pathlib.Path
        The figure written.

    Examples
    --------
    >>> import hippo
    >>> hippo.overlay("W1.fits", contours=["FIRST.fits"], output="J1512+4540.png", redshift=0.2)  # doctest: +SKIP
    """
    output = Path(output)
    if output.suffix.lower() not in OUTPUT_FORMATS:
        raise UsageError(f"-o {output}: the figure must be .png or .pdf")
    parameters = {"levels": levels, "level_step": level_step, "noise": noise, "stretch": stretch,
                  "redshift": redshift, "size": None if size is None else str(size)}
    inputs = [p for p in [*_names(image), *_names(contours), *_names(rgb), regions] if p is not None]
    if isinstance(catalogue, (str, Path)):
        inputs.append(catalogue)
    arguments = dict(image=image, contours=contours, levels=levels, level_step=level_step, regions=regions,
                     catalogue=catalogue, redshift=redshift, stretch=stretch, rgb=rgb, noise=noise,
                     percentile=percentile, ra=ra, dec=dec, size=size, title=title, ra_col=ra_col,
                     dec_col=dec_col, id_col=id_col, panel_inches=panel_inches, cmap=cmap)
    if store is None:
        return _save(draw(**arguments), output, dpi, arguments)
    from hippo.store import store_session

    with store_session(store) as database, database.run("overlay", parameters, inputs=inputs) as recorded:
        path = _save(draw(**arguments), output, dpi, arguments)
        database.insert("overlays", [{"source": source or title or output.name.split(".")[0], "path": str(path),
                                      "image": ";".join(_names(image) or _names(rgb)),
                                      "contours": ";".join(_names(contours))}], run_id=recorded.id)
    return path


def draw(image=None, contours=None, levels=3, level_step="sqrt2", regions=None, catalogue=None, redshift=None,
         stretch="asinh", rgb=None, *, noise="global", percentile=99.5, ra=None, dec=None, size=None, title=None,
         ra_col=None, dec_col=None, id_col=None, panel_inches=4.6, cmap="gray_r"):
    """Build the overlay figure without writing it (parameters as :func:`overlay`).

    Returns
    -------
    hippo.overlays.figure.OverlayFigure
        The matplotlib Figure, and per panel its WCSAxes and the artists drawn (contour sets,
        beam patches, regions, markers), with each contour layer's noise and levels.
    """
    from hippo.io import as_image
    from hippo.overlays.figure import draw_overlay, load_contour_layers

    layers = load_contour_layers(_as_list(contours))
    backgrounds = [as_image(path) for path in _as_list(image)]
    bands = None
    if rgb is not None:
        if len(_as_list(rgb)) != 3:
            raise UsageError("--rgb: give exactly three images (red, green, blue)")
        bands = tuple(as_image(path) for path in _as_list(rgb))
    if not backgrounds and bands is None:
        if not layers:
            raise UsageError("nothing to draw: give --image, --rgb or --contours")
        backgrounds = [layers[0].image]
    return draw_overlay(backgrounds, layers, levels=_levels(levels), level_step=level_step, noise=_noise(noise),
                        rgb=bands, regions=regions, catalogue=catalogue, catalogue_columns=(ra_col, dec_col, id_col),
                        redshift=_redshift(redshift), stretch=stretch, percentile=percentile,
                        center=_center(ra, dec), size=_size(size), title=title, panel_inches=panel_inches,
                        cmap=cmap)


def _save(drawing, output, dpi, arguments):
    """Write the figure atomically, with what made it in the PNG text chunks or the PDF info."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from hippo._version import __version__
    from hippo.io import atomic_path
    from hippo.provenance import utc_now

    # images handed over already read are named by their files, as paths are
    shown = {**arguments, **{name: _named(arguments[name]) for name in ("image", "contours", "rgb")}}
    description = "hippo overlay " + " ".join(
        f"{name}={shown[name]}" for name in ("image", "contours", "rgb", "levels", "level_step", "noise", "ra",
                                             "dec", "size")
        if shown[name] is not None)
    if output.suffix.lower() == ".png":
        metadata = {"Software": f"HIPPO {__version__}", "Description": description, "Creation Time": utc_now()}
    else:
        metadata = {"Creator": f"HIPPO {__version__}", "Subject": description}
    FigureCanvasAgg(drawing.figure)
    with atomic_path(output) as tmp:
        if output.suffix.lower() == ".pdf":
            drawing.figure.savefig(tmp, format="pdf", dpi=dpi, metadata=metadata, bbox_inches="tight",
                                   pad_inches=0.05)
        else:
            _save_png(drawing.figure, tmp, dpi, metadata)
    return output


def _save_png(figure, path, dpi, metadata):
    """PNG without the alpha channel matplotlib adds (the figure is opaque): a quarter smaller."""
    import io

    from PIL import Image, PngImagePlugin

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.05)
    buffer.seek(0)
    text = PngImagePlugin.PngInfo()
    for key, value in metadata.items():
        text.add_text(key, str(value))
    with Image.open(buffer) as picture:
        picture.convert("RGB").save(path, format="PNG", pnginfo=text)


def _as_list(value):
    """One image (a path or an already-read Image) or several, as a list."""
    from hippo.io import Image

    if value is None:
        return []
    if isinstance(value, (str, Path, Image)):
        return [value]
    return list(value)


def _names(value):
    """The file names of images given as paths or Images (what provenance and the store record)."""
    from hippo.io import Image

    return [item.path if isinstance(item, Image) else str(item) for item in _as_list(value)]


def _named(value):
    """An image argument as the figure's description shows it: the file name(s), one or a list as given."""
    names = _names(value)
    return names if isinstance(value, (list, tuple)) else (names[0] if names else None)


def _levels(levels):
    if isinstance(levels, (list, tuple)):
        if not levels:
            raise UsageError("--levels: give the first contour in sigma, or a list of levels")
        return [float(v) for v in levels]
    if isinstance(levels, str) and "," in levels:
        try:
            return [float(v) for v in levels.split(",") if v.strip()]
        except ValueError:
            raise UsageError(f"--levels: cannot read {levels!r} as numbers") from None
    try:
        return float(levels)
    except (TypeError, ValueError):
        raise UsageError(f"--levels: cannot read {levels!r} as a number of sigma") from None


def _noise(noise):
    """``global``, ``local`` or a positive, finite rms; zero or negative would silently turn the
    levels into "eight steps from the peak", with no sigma in the caption."""
    if noise in (None, "global", "local"):
        return noise or "global"
    try:
        rms = float(noise)
    except (TypeError, ValueError):
        raise UsageError(f"--noise: use global, local or an rms in the image's units, got {noise!r}") from None
    if not (math.isfinite(rms) and rms > 0):
        raise UsageError(f"--noise: the rms must be a positive number in the image's units, got {noise!r}")
    return rms


def _redshift(redshift):
    if redshift is None:
        return None
    try:
        value = float(redshift)
    except (TypeError, ValueError):
        raise UsageError(f"--redshift: cannot read {redshift!r} as a number") from None
    if not value > 0:
        raise UsageError(f"--redshift: must be positive, got {redshift!r}")
    return value


def _center(ra, dec):
    if ra is None and dec is None:
        return None
    if ra is None or dec is None:
        raise UsageError("give both --ra and --dec (or neither)")
    from hippo.io import parse_coordinate

    return parse_coordinate(ra, dec, source="--ra/--dec")


def _size(size):
    if size is None:
        return None
    from hippo.quantities import parse_angle

    return parse_angle(size, "--size")  # plain numbers in arcsec, parse_angle's default
