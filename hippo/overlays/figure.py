"""Draw overlay figures on astropy WCSAxes: contours in their own frame, beam, scale bar, compass, regions, markers.

matplotlib is imported only inside these functions (Agg canvas, no pyplot), so importing HIPPO stays fast.
"""

import logging
import math
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.wcs.utils import proj_plane_pixel_scales

from hippo.errors import InputError, UsageError
from hippo.io.fitsfiles import fits_stem
from hippo.overlays.beams import beam_of, survey_of
from hippo.overlays.levels import (contour_levels, estimate_noise, flux_unit_scale, format_levels, level_ratio,
                                   local_noise_map)
from hippo.overlays.stretch import lupton_rgb, normalisation

CONTOUR_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd")
COLOUR_NAMES = {"#d62728": "red", "#1f77b4": "blue", "#2ca02c": "green", "#ff7f0e": "orange", "#9467bd": "purple"}
MARKER_COLOUR = "#00b4d8"
NICE_SCALE_ARCSEC = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200)
ROTATION_TOLERANCE_DEG = 0.5  # north further than this from +y (or east not on -x): draw a compass
NOISELESS_DYNAMIC_RANGE = 1e-7  # noise below this fraction of the peak: a model image, not an observation
MAX_LABELLED_MARKERS = 25     # beyond this many catalogue markers in view, IDs would hide the source

log = logging.getLogger("hippo")


@dataclass
class ContourLayer:
    """One radio image to contour, with its noise, levels and beam (levels in the image's units,
    or in units of the local rms when ``local_noise`` is set)."""

    image: object
    label: str
    colour: str
    noise_rms: float
    levels: list
    negative: float
    beam: object
    local_noise: bool = False
    unit_factor: float = 1.0
    unit: str = ""
    rule: str = ""  # how the levels were made, for the caption: "3σ × √2ⁿ"


@dataclass
class Panel:
    """One WCSAxes panel and the artists drawn on it (kept so tests can check where things landed)."""

    axes: object
    background: object
    contour_sets: list = field(default_factory=list)   # (layer, positive ContourSet, negative ContourSet)
    contour_wcs: list = field(default_factory=list)    # the (cropped) WCS each contour set was drawn in
    beam_patches: list = field(default_factory=list)   # (layer, matplotlib Polygon in background pixels)
    region_artists: list = field(default_factory=list)
    marker_pixels: np.ndarray = None                   # (n, 2) background pixel positions of markers in view
    scalebar_arcsec: float = None
    compass: dict = None                               # {"north": (dx, dy), "east": (dx, dy)} when drawn


@dataclass
class OverlayFigure:
    """What :func:`hippo.overlays.draw` returns: the matplotlib Figure, its panels, the contour layers
    (noise, levels, beam) and the caption text under the panels."""

    figure: object
    panels: list
    layers: list
    caption: str


def load_contour_layers(paths):
    """Read the radio images to contour (paths or Images already read), each with its beam and colour
    (levels are set when drawn)."""
    from hippo.io import as_image

    if len(paths) > len(CONTOUR_COLOURS):
        raise UsageError(f"--contours: at most {len(CONTOUR_COLOURS)} contour images in one figure")
    layers = []
    for path, colour in zip(paths, CONTOUR_COLOURS):
        image = as_image(path)
        layers.append(ContourLayer(image=image, label=survey_of(image) or fits_stem(image.path), colour=colour,
                                   noise_rms=float("nan"), levels=[], negative=float("nan"), beam=beam_of(image)))
    return layers


def draw_overlay(backgrounds, layers, *, levels=3, level_step="sqrt2", noise="global", rgb=None,
                 regions=None, catalogue=None, catalogue_columns=(None, None, None), redshift=None,
                 stretch="asinh", percentile=99.5, center=None, size=None, title=None, panel_inches=4.6,
                 cmap="gray_r"):
    """Build the overlay Figure (not saved). See :func:`hippo.overlays.overlay` for the parameters.

    ``backgrounds`` are Images (one panel each); ``rgb`` a tuple of three Images shown as a
    first, colour panel. Returns an :class:`OverlayFigure`.
    """
    from matplotlib.figure import Figure

    sources = ([("rgb", rgb)] if rgb is not None else []) + [("image", image) for image in backgrounds]
    if not sources:
        raise UsageError("give an image to draw on (--image) or three bands (--rgb)")
    ncols = min(len(sources), 3)
    nrows = math.ceil(len(sources) / ncols)
    figure = Figure(figsize=(panel_inches * ncols, panel_inches * nrows), dpi=100)
    region_list = _read_regions(regions) if regions is not None else None
    markers = _read_markers(catalogue, catalogue_columns) if catalogue is not None else None

    panels = []
    for index, (kind, content) in enumerate(sources):
        base = content[0] if kind == "rgb" else content
        axes = figure.add_subplot(nrows, ncols, index + 1, projection=base.wcs)
        panel = Panel(axes=axes, background=base)
        _draw_background(axes, kind, content, stretch, percentile, cmap)
        limits = _field_limits(base, center, size)
        axes.set_xlim(*limits[0])
        axes.set_ylim(*limits[1])
        for layer in layers:
            _draw_contours(panel, layer, limits, levels, level_step, noise)
        _style_axes(axes, index, ncols)
        axes.set_title(_panel_title(kind, content, title, len(sources)), fontsize=9)
        _draw_beams(panel, layers, limits)
        panel.scalebar_arcsec = _draw_scalebar(axes, base, limits, redshift)
        panel.compass = _draw_compass_if_rotated(axes, base, limits)
        if region_list is not None:
            panel.region_artists = _draw_regions(axes, base, region_list)
        if markers is not None:
            panel.marker_pixels = _draw_markers(axes, base, limits, markers)
        panels.append(panel)

    # The caption (known once the levels are) goes under the panels; the figure grows to hold it.
    caption = _caption(layers, redshift)
    wrapped = [textwrap.fill(line, width=int(panel_inches * ncols * 19), subsequent_indent="    ")
               for line in caption.splitlines()]
    # below the axes: tick labels and the RA label (0.5"), then the caption lines
    caption_inches = 0.55 + 0.135 * sum(line.count("\n") + 1 for line in wrapped)
    left, right, top_inches, wspace, hspace = 0.15 / ncols + 0.03, 0.98, 0.3, 0.08, 0.25
    # square panels (equal-aspect WCSAxes) fill the width; the height is made to fit them exactly
    axes_inches = panel_inches * ncols * (right - left) / (ncols + (ncols - 1) * wspace)
    height = axes_inches * (nrows + (nrows - 1) * hspace) + top_inches + caption_inches
    figure.set_size_inches(panel_inches * ncols, height)
    figure.text(0.02, 0.05 / height, "\n".join(wrapped), ha="left", va="bottom", fontsize=7.5, linespacing=1.3)
    figure.subplots_adjust(left=left, right=right, top=1 - top_inches / height, bottom=caption_inches / height,
                           wspace=wspace, hspace=hspace)
    return OverlayFigure(figure=figure, panels=panels, layers=layers, caption=caption)


# -- background ---------------------------------------------------------------------------------

def _draw_background(axes, kind, content, stretch, percentile, cmap):
    if kind == "rgb":
        red, green, blue = (np.asarray(band.data, dtype=float) for band in _co_aligned(content))
        axes.imshow(lupton_rgb(red, green, blue), origin="lower", interpolation="nearest")
        return
    import matplotlib

    data = np.asarray(content.data, dtype=float)
    colour_map = matplotlib.colormaps[cmap].with_extremes(bad="#d9d9d9")  # blank (NaN) areas: light grey
    axes.imshow(data, origin="lower", cmap=colour_map, norm=normalisation(data, stretch, percentile),
                interpolation="nearest")


def _co_aligned(bands):
    """The three RGB bands on the first one's pixel grid (the display image only: contours are never resampled)."""
    from reproject import reproject_interp

    first = bands[0]
    aligned = [first]
    for band in bands[1:]:
        if band.shape == first.shape and band.wcs.wcs.compare(first.wcs.wcs, tolerance=1e-9):
            aligned.append(band)
            continue
        data, _ = reproject_interp((np.asarray(band.data, dtype=float), band.wcs), first.wcs, shape_out=first.shape)
        aligned.append(type(band)(data=data, wcs=first.wcs, header=band.header, path=band.path))
    return aligned


def _field_limits(image, center, size):
    """Axis limits (background pixels) of the field shown: the whole image, or ``size`` around ``center``
    (UsageError if that field misses the image altogether, which would draw an empty panel)."""
    ny, nx = image.shape
    if size is None and center is None:
        return (-0.5, nx - 0.5), (-0.5, ny - 0.5)
    if center is None:
        cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
    else:
        cx, cy = (float(v) for v in image.wcs.world_to_pixel(center))
    if size is None:
        half_x, half_y = nx / 2.0, ny / 2.0
    else:
        scales = local_pixel_scales(image, (cx, cy))
        half_x = size.to_value(u.arcsec) / 2.0 / scales[0]
        half_y = size.to_value(u.arcsec) / 2.0 / scales[1]
    (x_low, x_high), (y_low, y_high) = limits = (cx - half_x, cx + half_x), (cy - half_y, cy + half_y)
    # written so that NaN (a centre off this projection, e.g. on the far side of the sky) fails too
    overlaps = x_low < nx - 0.5 and x_high > -0.5 and y_low < ny - 0.5 and y_high > -0.5
    if not overlaps:
        raise UsageError(f"--ra/--dec: the field centred on RA {center.ra.deg:.5f}, Dec {center.dec.deg:+.5f} deg "
                         f"lies outside {image.path or _image_label(image)}")
    return limits


def _style_axes(axes, index, ncols):
    ra, dec = axes.coords[0], axes.coords[1]
    ra.set_major_formatter("hh:mm:ss")
    dec.set_major_formatter("dd:mm:ss")
    for coordinate in (ra, dec):
        coordinate.set_ticklabel(size=7)
        coordinate.set_ticks(color="black", number=4)
        coordinate.display_minor_ticks(True)
    ra.set_axislabel("RA (ICRS)", size=8)
    if index % ncols == 0:
        dec.set_axislabel("Dec (ICRS)", size=8, minpad=-0.2)
    else:
        dec.set_ticklabel_visible(False)
        dec.set_axislabel("")


def _panel_title(kind, content, title, npanels):
    if kind == "rgb":
        name = "RGB: " + ", ".join(_image_label(band) for band in content)
    else:
        name = _image_label(content)
    return title if title and npanels == 1 else name


def _image_label(image):
    header = image.header
    survey = survey_of(image)
    if survey:
        return survey
    telescope = str(header.get("TELESCOP", "")).strip()
    band = header.get("BAND")
    if telescope.upper() == "WISE" and band is not None:
        return f"WISE W{band}"
    return telescope or fits_stem(image.path)


# -- contours -----------------------------------------------------------------------------------

def _draw_contours(panel, layer, limits, levels, level_step, noise):
    """Contour ``layer`` in its own pixel frame (matplotlib maps each vertex through its WCS)."""
    cropped = _crop_to_field(layer.image, panel.background, limits)
    if cropped is None:
        log.warning("warning: %s does not cover the field shown: no contours from it", layer.image.path or layer.label)
        return
    data = np.asarray(cropped.data, dtype=float)
    if noise == "local" and not isinstance(levels, (list, tuple, np.ndarray)):
        beam_pixels = layer.beam.major_arcsec / cropped.pixel_scale_arcsec if layer.beam else 5.0
        with np.errstate(invalid="ignore", divide="ignore"):
            data = data / local_noise_map(data, 10 * beam_pixels)  # contours of signal-to-noise
        layer.local_noise = True
    if not layer.levels:
        _set_levels(layer, data, levels, level_step, noise)
    transform = panel.axes.get_transform(cropped.wcs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no contour levels were found" when the field holds no source
        positive = panel.axes.contour(np.ma.masked_invalid(data), levels=layer.levels, colors=layer.colour,
                                      linewidths=0.8, transform=transform)
        negative = panel.axes.contour(np.ma.masked_invalid(data), levels=[layer.negative], colors=layer.colour,
                                      linewidths=0.7, linestyles="dashed", transform=transform)
    panel.contour_sets.append((layer, positive, negative))
    panel.contour_wcs.append(cropped.wcs)


def _set_levels(layer, field_data, levels, level_step, noise):
    """A layer's noise and levels, set once: noise from the whole image (sources clipped away),
    levels up to the peak in the field shown; explicit ``levels`` are taken as given."""
    unit = str(layer.image.header.get("BUNIT", "")).strip()
    if isinstance(levels, (list, tuple, np.ndarray)):
        explicit = sorted(float(v) for v in levels)
        layer.levels = [v for v in explicit if v > 0] or explicit
        layer.negative = -abs(layer.levels[0])
        layer.unit_factor, layer.unit = 1.0, unit
        return
    if layer.local_noise:
        layer.noise_rms = 1.0
    elif noise in (None, "global"):
        layer.noise_rms = estimate_noise(layer.image.data)
    else:
        layer.noise_rms = float(noise)  # checked positive by hippo.overlays.draw
    finite = np.isfinite(field_data)
    peak = float(np.max(field_data[finite])) if finite.any() else float("nan")  # a blank field: no levels below
    step_name = {"sqrt2": "\u221a2", "2": "2"}.get(str(level_step), f"{level_ratio(level_step):g}")
    if peak > 0 and layer.noise_rms < peak * NOISELESS_DYNAMIC_RANGE:
        # a noiseless (model or simulated) image: eight levels stepping down from the peak instead
        ratio = level_ratio(level_step)
        layer.levels = [peak / ratio ** n for n in range(8, 0, -1)]
        layer.negative = -layer.levels[0]
        layer.rule = f"peak / {step_name}\u207f, n = 1..8"
        if noise not in (None, "global", "local"):
            # the user's own sigma is not used: the caption and the log say so, not only the levels
            layer.rule += f"; --noise {layer.noise_rms:g} not used: below {NOISELESS_DYNAMIC_RANGE:g} of the peak"
            log.warning("warning: %s: --noise %g is below %g of the peak (%g): contours are eight levels down "
                        "from the peak, as for a noiseless model image", layer.label, layer.noise_rms,
                        NOISELESS_DYNAMIC_RANGE, peak)
        layer.noise_rms = float("nan")
    else:
        layer.levels, layer.negative = contour_levels(layer.noise_rms, peak, first=float(levels), step=level_step,
                                                      source=layer.image.path or layer.label)
        layer.rule = f"{float(levels):g}\u03c3 \u00d7 {step_name}\u207f"
    layer.unit_factor, layer.unit = (1.0, "\u03c3") if layer.local_noise else flux_unit_scale(
        unit, layer.noise_rms if math.isfinite(layer.noise_rms) else layer.levels[0])


def _crop_to_field(image, background, limits):
    """The part of a contour image under the field shown (a slice, never resampled), or None."""
    from hippo.io import Image

    (x0, x1), (y0, y1) = limits
    edge = np.linspace(0.0, 1.0, 25)
    xs = np.concatenate([x0 + (x1 - x0) * edge, np.full(25, x1), x0 + (x1 - x0) * edge, np.full(25, x0)])
    ys = np.concatenate([np.full(25, y0), y0 + (y1 - y0) * edge, np.full(25, y1), y0 + (y1 - y0) * edge])
    sky = background.wcs.pixel_to_world(xs, ys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cx, cy = image.wcs.world_to_pixel(sky)
    if not (np.isfinite(cx).any() and np.isfinite(cy).any()):
        return None
    ny, nx = image.shape
    margin = 3
    ix0 = max(int(np.floor(np.nanmin(cx))) - margin, 0)
    ix1 = min(int(np.ceil(np.nanmax(cx))) + margin + 1, nx)
    iy0 = max(int(np.floor(np.nanmin(cy))) - margin, 0)
    iy1 = min(int(np.ceil(np.nanmax(cy))) + margin + 1, ny)
    if ix1 - ix0 < 2 or iy1 - iy0 < 2:
        return None
    if (ix0, iy0, ix1, iy1) == (0, 0, nx, ny):
        return image
    wcs = image.wcs.slice((slice(iy0, iy1), slice(ix0, ix1)))
    return Image(data=image.data[iy0:iy1, ix0:ix1], wcs=wcs, header=image.header, path=image.path)


# -- beam, scale bar, compass -------------------------------------------------------------------

def beam_polygon_sky(center, beam, points=72):
    """Sky positions around a beam ellipse (FWHM axes, position angle east of north) centred on ``center``."""
    t = np.linspace(0.0, 2 * np.pi, points, endpoint=False)
    half_major, half_minor = beam.major_arcsec / 2.0, beam.minor_arcsec / 2.0
    pa = np.radians(beam.angle_deg)
    north = half_major * np.cos(t) * np.cos(pa) - half_minor * np.sin(t) * np.sin(pa)
    east = half_major * np.cos(t) * np.sin(pa) + half_minor * np.sin(t) * np.cos(pa)
    return center.spherical_offsets_by(east * u.arcsec, north * u.arcsec)


def _draw_beams(panel, layers, limits):
    """Each contour image's beam, filled in its colour, side by side in the lower-left corner."""
    from matplotlib.patches import Polygon

    (x0, x1), (y0, y1) = limits
    pad = 0.04 * (x1 - x0)
    # the sky scale in the lower-left corner, where the beams go (not at the reference pixel)
    scale_x, scale_y = local_pixel_scales(panel.background, (x0 + 2 * pad, y0 + 2 * pad))
    x = x0 + pad
    for layer in layers:
        if layer.beam is None or not any(entry[0] is layer for entry in panel.contour_sets):
            continue
        radius_x, radius_y = layer.beam.major_arcsec / 2.0 / scale_x, layer.beam.major_arcsec / 2.0 / scale_y
        if 2 * radius_x > 0.5 * (x1 - x0):
            continue  # a beam half the field wide would hide the source; the caption still gives it
        centre_pixel = (x + radius_x, y0 + pad + radius_y)
        centre = panel.background.wcs.pixel_to_world(*centre_pixel)
        outline = beam_polygon_sky(centre, layer.beam)
        px, py = panel.background.wcs.world_to_pixel(outline)
        patch = Polygon(np.column_stack([px, py]), closed=True, facecolor=layer.colour, edgecolor="black",
                        linewidth=0.6, alpha=0.75, transform=panel.axes.transData)
        panel.axes.add_patch(patch)
        panel.beam_patches.append((layer, patch))
        x += 2 * radius_x + pad / 2


def local_pixel_scales(image, pixel):
    """Arcsec per pixel along x and y at ``pixel``: the angular distance between the points half a pixel
    either side. On CAR/AIT grids, or far from the reference pixel, the scale at CRPIX is wrong here."""
    x, y = (float(v) for v in pixel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a point off the projection comes back NaN
        ends = image.wcs.pixel_to_world(np.array([x - 0.5, x, x + 0.5, x]), np.array([y, y - 0.5, y, y + 0.5]))
        scales = np.asarray(ends[:2].separation(ends[2:]).arcsec, dtype=float)
    if not (np.isfinite(scales).all() and (scales > 0).all()):
        return proj_plane_pixel_scales(image.wcs) * 3600.0  # off the projection: the best there is
    return scales


def _draw_scalebar(axes, image, limits, redshift):
    """A bar of a round number of arcsec (about a quarter of the field) in the lower-right corner."""
    (x0, x1), (y0, y1) = limits
    scale_x = local_pixel_scales(image, ((x0 + x1) / 2, (y0 + y1) / 2))[0]
    width_arcsec = (x1 - x0) * scale_x
    # 0.1 % slack so a field of exactly 4' (as asked, give or take the WCS's rounding) gets a 1' bar
    length = max([v for v in NICE_SCALE_ARCSEC if v <= width_arcsec / 4.0 * 1.001] or [NICE_SCALE_ARCSEC[0]])
    length_px = length / scale_x
    pad = 0.05 * (x1 - x0)
    xr, yb = x1 - pad, y0 + 0.05 * (y1 - y0)
    axes.plot([xr - length_px, xr], [yb, yb], color="black", linewidth=2.2, solid_capstyle="butt",
              transform=axes.transData)
    axes.plot([xr - length_px, xr], [yb, yb], color="white", linewidth=1.0, solid_capstyle="butt",
              transform=axes.transData)
    label = _angle_label(length)
    if redshift is not None:
        label += f" = {length * kpc_per_arcsec(redshift):.0f} kpc"
    axes.text(xr - length_px / 2, yb + 0.015 * (y1 - y0), label, ha="center", va="bottom", fontsize=7,
              color="black", bbox=dict(facecolor="white", edgecolor="none", alpha=0.7, pad=1.0))
    return float(length)


def kpc_per_arcsec(redshift):
    """Proper transverse kpc per arcsec at ``redshift`` (Planck 2018 cosmology)."""
    from astropy.cosmology import Planck18

    if not redshift > 0:
        raise UsageError(f"--redshift: must be positive, got {redshift!r}")
    return float(Planck18.kpc_proper_per_arcmin(redshift).to_value(u.kpc / u.arcmin)) / 60.0


def _angle_label(arcsec):
    if arcsec >= 60 and arcsec % 60 == 0:
        return f"{arcsec // 60:g}\u2032"
    return f"{arcsec:g}\u2033"


def sky_directions(image, pixel):
    """Unit vectors (in pixels) pointing north and east at ``pixel`` of an image."""
    centre = image.wcs.pixel_to_world(*pixel)
    step = 0.5 * image.pixel_scale_arcsec * u.arcsec
    directions = {}
    for name, offset in (("north", (0 * u.arcsec, step)), ("east", (step, 0 * u.arcsec))):
        x, y = image.wcs.world_to_pixel(centre.spherical_offsets_by(*offset))
        vector = np.array([float(x) - pixel[0], float(y) - pixel[1]])
        directions[name] = vector / np.hypot(*vector)
    return directions


def _draw_compass_if_rotated(axes, image, limits):
    """North/east arrows in the upper-right corner when north is not up or east not left."""
    (x0, x1), (y0, y1) = limits
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    directions = sky_directions(image, centre)
    north_angle = math.degrees(math.atan2(directions["north"][0], directions["north"][1]))
    east_angle = math.degrees(math.atan2(-directions["east"][1], -directions["east"][0]))
    if abs(north_angle) <= ROTATION_TOLERANCE_DEG and abs(east_angle) <= ROTATION_TOLERANCE_DEG:
        return None
    length = 0.12 * (x1 - x0)
    base = (x1 - 0.08 * (x1 - x0) - length / 2, y1 - 0.08 * (y1 - y0) - length / 2)
    for name, letter in (("north", "N"), ("east", "E")):
        dx, dy = directions[name] * length
        axes.annotate("", xy=(base[0] + dx, base[1] + dy), xytext=base, xycoords="data",
                      arrowprops=dict(arrowstyle="->", color="black", linewidth=1.0))
        axes.text(base[0] + 1.25 * dx, base[1] + 1.25 * dy, letter, ha="center", va="center", fontsize=7)
    return {name: tuple(vector) for name, vector in directions.items()}


# -- regions and catalogue markers --------------------------------------------------------------

def _read_regions(path):
    """Regions from a DS9 or CRTF file; a file in which no region can be read is refused."""
    from regions import Regions

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    formats = ["crtf", "ds9"] if path.suffix.lower() == ".crtf" else ["ds9", "crtf"]
    problems = []
    for fmt in formats:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                found = list(Regions.read(path, format=fmt))
            except Exception as exc:
                found, caught = [], [*caught, exc]
        if found:
            return found
        reason = str(caught[0].message if hasattr(caught[0], "message") else caught[0]) if caught else "no regions"
        problems.append(f"{fmt}: {reason.strip().splitlines()[0][:100] if reason.strip() else 'no regions'}")
    raise InputError(path, "not a DS9 or CRTF region file (" + "; ".join(problems) + ")")


def _draw_regions(axes, image, region_list):
    """Sky regions placed through the background's WCS; pixel regions taken in its pixels."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    artists = []
    for region in region_list:
        pixel_region = region.to_pixel(image.wcs) if hasattr(region, "to_pixel") else region
        artist = pixel_region.as_artist()  # in the file's own colours (DS9's green by default)
        if isinstance(artist, Patch):
            artist.set_linewidth(1.0)
            axes.add_patch(artist)
        elif isinstance(artist, Line2D):
            axes.add_line(artist)
        else:
            axes.add_artist(artist)
        artists.append((pixel_region, artist))
    return artists


def _read_markers(catalogue, columns):
    from hippo.io import read_positions

    positions = read_positions(catalogue, *columns)
    return positions.coords, [str(name) for name in positions.table["name"]]


def _draw_markers(axes, image, limits, markers):
    """Open circles at the catalogue positions in view, labelled with their IDs when few enough."""
    coords, names = markers
    (x0, x1), (y0, y1) = limits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = (np.asarray(v, dtype=float) for v in image.wcs.world_to_pixel(coords))
    inside = np.isfinite(x) & np.isfinite(y) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    axes.scatter(x[inside], y[inside], s=60, facecolors="none", edgecolors=MARKER_COLOUR, linewidths=1.1,
                 transform=axes.transData, zorder=4)
    if inside.sum() <= MAX_LABELLED_MARKERS:
        offset = 0.02 * (x1 - x0)
        for xi, yi, name in zip(x[inside], y[inside], np.asarray(names, dtype=object)[inside]):
            axes.text(xi + offset, yi + offset, name, fontsize=6, color=MARKER_COLOUR, zorder=5,
                      bbox=dict(facecolor="white", edgecolor="none", alpha=0.6, pad=0.5))
    return np.column_stack([x[inside], y[inside]])


# -- caption ------------------------------------------------------------------------------------

def _caption(layers, redshift):
    """One line per contour image: survey, colour, levels with units, noise and beam."""
    lines = []
    for layer in layers:
        if not layer.levels:
            lines.append(f"{layer.label} ({COLOUR_NAMES[layer.colour]}): no overlap with the image shown")
            continue
        levels = (f"levels {format_levels([layer.negative], layer.unit_factor)} (dashed), "
                  f"{format_levels(layer.levels, layer.unit_factor)} {layer.unit}"
                  + (f" ({layer.rule})" if layer.rule else ""))
        if layer.local_noise:
            values = f"signal-to-noise from a local rms map; {levels}"
        elif math.isfinite(layer.noise_rms):
            values = f"\u03c3 = {layer.noise_rms * layer.unit_factor:.3g} {layer.unit}; {levels}"
        else:
            values = levels
        beam = ""
        if layer.beam is not None:
            size = (f"{layer.beam.major_arcsec:.3g}\u2033" if layer.beam.major_arcsec == layer.beam.minor_arcsec
                    else f"{layer.beam.major_arcsec:.3g}\u2033\u00d7{layer.beam.minor_arcsec:.3g}\u2033, "
                         f"PA {layer.beam.angle_deg:.0f}\u00b0")
            beam = f"; beam {size}" + ("" if layer.beam.origin == "header" else f" ({layer.beam.origin} nominal)")
        lines.append(f"{layer.label} contours ({COLOUR_NAMES[layer.colour]}): {values}{beam}")
    if redshift is not None:
        lines.append(f"z = {redshift:g}: {kpc_per_arcsec(redshift):.3g} kpc/arcsec (Planck18)")
    return "\n".join(lines)
