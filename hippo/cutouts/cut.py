"""Cutting an image at a sky position with exact WCS: native pixels or resampled onto a centred grid."""

import errno
import os
import re
import warnings

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits

from hippo.cutouts.geometry import (
    centred_tan_wcs,
    odd_pixels,
    pixel_positions,
    shifted_wcs,
    source_bounding_box,
)
from hippo.errors import HippoError, InputError, UsageError
from hippo.io.atomic import atomic_path
from hippo.io.images import FITS_BLOCK_BYTES, printable
from hippo.quantities import parse_angle

RESAMPLING = ("interp", "exact")

# The largest cutout, pixels a side: 16384 x 16384 is 1 GiB of float32 (2 GiB of float64). A
# bigger one is almost surely a slip of --size or --pixel-scale and would exhaust memory and disk.
MAX_CUTOUT_PIXELS = 16384

# Header cards that describe the array layout or the WCS: rewritten for each cutout, never copied.
# COMMENT and HISTORY cards are copied: survey notes and copyright notices (FIRST's) must survive.
# Only the tile-compression (Z...) and SIP distortion (A_p_q, B_p_q, ...) cards by name: a survey's
# photometric zero point (ZP, ZEROPT, ZPMAG) or a beam card (B_MAJ) must survive.
_STRUCTURE_OR_WCS = re.compile(
    r"^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|PCOUNT|GCOUNT|BSCALE|BZERO|BLANK|CHECKSUM|DATASUM|"
    r"Z(IMAGE|SIMPLE|TENSION|EXTEND|BLOCKED|BITPIX|NAXIS\d*|TILE\d+|CMPTYPE|NAME\d+|VAL\d+|QUANTIZ|"
    r"DITHER0|PCOUNT|GCOUNT|HECKSUM|DATASUM|SCALE|ZERO|BLANK|MASKCMP|THEAP)|"
    r"CTYPE\d|CRPIX\d|CRVAL\d|CDELT\d|CUNIT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|PS\d_\d+|"
    r"LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|WCSAXES|WCSNAME|MJDREF\w*|DATEREF|"
    r"A_\d+_\d+|B_\d+_\d+|AP_\d+_\d+|BP_\d+_\d+|[AB]P?_ORDER|[AB]_DMAX|CPDIS\d|CPERR\d|DP\d|DQ\d|D2IM\w*|"
    r"HIPPO\w*|CUTSTAT|ORIGFILE|OBJECT)$")


class Cutout:
    """A cutout: pixels, WCS, header and how well the survey covered it.

    Attributes
    ----------
    data : numpy.ndarray
        2-D float array; NaN where the survey has no data (padding beyond its edge).
        Empty (shape (0, 0)) when ``status`` is ``no_coverage`` or ``error``.
    wcs : astropy.wcs.WCS or None
        Celestial WCS of ``data`` (None for ``no_coverage`` and ``error``).
    header : astropy.io.fits.Header
        The survey's own cards (BUNIT, beam, telescope...) plus the cutout's WCS.
    status : str
        ``ok`` (fully covered), ``partial`` (some pixels NaN: image edge or survey edge),
        ``no_coverage`` (the survey has no data there) or ``error`` (the cut failed: an unreadable
        tile, a failed download; ``message`` names the input and says why).
    origin : str
        Where the pixels came from (file path or service URL).
    message : str
        Why the status is not ``ok``, where there is something to say.
    """

    def __init__(self, data, wcs, header, status, origin="", message="", header_text=None):
        self.data, self.status, self.origin, self.message = data, status, origin, message
        # Batch cuts carry their header as ready FITS card text and their WCS as a recipe
        # (a callable), and build Header and WCS objects only when asked.
        self._wcs, self._header, self._header_text = wcs, header, header_text

    @property
    def wcs(self):
        if callable(self._wcs):
            self._wcs = self._wcs()
        return self._wcs

    @wcs.setter
    def wcs(self, value):
        self._wcs = value

    @property
    def header(self):
        if self._header is None:
            self._header = fits.Header.fromstring(self._header_text)
        return self._header

    @header.setter
    def header(self, value):
        self._header, self._header_text = value, None

    def header_text(self):
        """The header as FITS card text (80 characters a card, no END)."""
        if self._header_text is None:
            return self.header.tostring(sep="", endcard=False, padding=False)
        return self._header_text

    @property
    def shape(self):
        return self.data.shape

    def to_hdu(self):
        """The cutout as a PrimaryHDU (header with WCS and the survey's cards)."""
        return fits.PrimaryHDU(data=self.data, header=self.header)

    def __repr__(self):
        return f"<Cutout {self.status} {self.data.shape} from {self.origin!r}>"


def no_coverage(origin="", message="the survey has no data at this position"):
    """A ``no_coverage`` Cutout (no pixels, no file)."""
    return Cutout(np.empty((0, 0), dtype=np.float32), None, fits.Header(), "no_coverage", origin, message)


def cut_failed(exc, origin):
    """An ``error`` Cutout (no pixels, no file) for a cut that raised ``exc``.

    The message names the input and says why: an InputError's own text (``tile.fits: image data
    cannot be read...``), another HIPPO error's text (a remote survey's, which names the survey),
    else ``origin: ExceptionType: text``.
    """
    if isinstance(exc, InputError):
        origin, message = exc.source, str(exc)
    elif isinstance(exc, HippoError):
        message = str(exc)
    else:
        message = f"{origin}: {type(exc).__name__}: {exc}"
    return Cutout(np.empty((0, 0), dtype=np.float32), None, fits.Header(), "error", str(origin), message)


def cut_image(image, coord, size, pixel_scale=None, resampling="interp"):
    """Cut ``image`` (a hippo.io.Image, possibly memory-mapped) around ``coord``.

    Parameters
    ----------
    image : hippo.io.Image
        An image already read with ``hippo.io.read_image``. Only the pixels the cutout needs are
        read from a memory-mapped file.
    coord : astropy.coordinates.SkyCoord or (float, float)
        Requested position (any frame), or (RA, Dec) in degrees (ICRS).
    size : str, Quantity or float
        Width and height (``"4.5arcmin"``; plain numbers are arcsec).
    pixel_scale : str, Quantity, float or None
        None keeps the survey's own pixels (no resampling): the cutout is an odd number of image
        pixels centred on the pixel that holds ``coord``, so ``coord`` lies within half a pixel of
        its geometric centre. Given, the image is resampled onto a north-up TAN grid of that pixel
        size whose central pixel centre is exactly ``coord``.
    resampling : {"interp", "exact"}
        ``interp``: bilinear interpolation (for display). ``exact``: flux-conserving spherical
        polygon intersection (``reproject_exact``; for photometry).

    Returns
    -------
    Cutout
        ``status`` is ``ok``, ``partial`` or ``no_coverage``.

    Examples
    --------
    >>> from hippo.io import read_image, parse_coordinate                    # doctest: +SKIP
    >>> cut = cut_image(read_image("first.fits"), parse_coordinate(228.11, 45.67), "2arcmin")
    >>> cut.status, cut.data.shape                                            # doctest: +SKIP
    ('ok', (67, 67))
    """
    if image.wcs is None:
        raise InputError(image.path, "no celestial WCS: cannot cut at a sky position")
    coord = as_skycoord(coord)
    size_arcsec = parse_angle(size, "--size").to_value(u.arcsec)
    if pixel_scale is None:
        return _cut_native(image, coord, size_arcsec)
    pixel_arcsec = parse_angle(pixel_scale, "--pixel-scale").to_value(u.arcsec)
    n_pixels = cutout_pixels(size_arcsec, pixel_arcsec, f"--pixel-scale {pixel_scale}")
    target_wcs = centred_tan_wcs(coord, n_pixels, pixel_arcsec)
    return resample_image(image, target_wcs, resampling=resampling)


def cutout_pixels(size_arcsec, pixel_arcsec, option):
    """``odd_pixels(size_arcsec, pixel_arcsec)``; a UsageError naming ``option`` (e.g.
    ``"--size 10deg"``) when that is more than ``MAX_CUTOUT_PIXELS`` a side."""
    needed = size_arcsec / pixel_arcsec
    n_pixels = odd_pixels(size_arcsec, pixel_arcsec) if needed <= MAX_CUTOUT_PIXELS else needed
    if n_pixels > MAX_CUTOUT_PIXELS:
        raise UsageError(f"{option}: the cutout would be {n_pixels:.0f} x {n_pixels:.0f} pixels of "
                         f"{pixel_arcsec:.4g} arcsec; the limit is {MAX_CUTOUT_PIXELS} x {MAX_CUTOUT_PIXELS}")
    return n_pixels


def _cut_native(image, coord, size_arcsec):
    return cut_native_at(image, *(float(v[0]) for v in pixel_positions(image.wcs, coord)), size_arcsec)


def cut_native_at(image, x, y, scale_x, scale_y, size_arcsec):
    """Native cut of ``size_arcsec`` at pixel (x, y) where the pixels measure ``scale_x`` x ``scale_y``
    arcsec (as ``pixel_positions`` gives them); ``no_coverage`` where those are not finite."""
    if not np.all(np.isfinite([x, y, scale_x, scale_y])):
        return no_coverage(image.path, "the position does not project onto this image")
    option = f"--size {size_arcsec:g}arcsec"
    return cut_pixels(image, x, y, cutout_pixels(size_arcsec, scale_x, option),
                      cutout_pixels(size_arcsec, scale_y, option))


def cut_pixels(image, x, y, n_x, n_y):
    """Cut ``n_x`` x ``n_y`` (odd) native pixels centred on the pixel that holds (x, y) (0-based).

    The fast path of batch cutting: positions are converted to pixels once for a whole catalogue.
    """
    centre_x, centre_y = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    x0, y0 = centre_x - n_x // 2, centre_y - n_y // 2
    height, width = image.data.shape
    inside_x0, inside_x1 = max(x0, 0), min(x0 + n_x, width)
    inside_y0, inside_y1 = max(y0, 0), min(y0 + n_y, height)
    if inside_x0 >= inside_x1 or inside_y0 >= inside_y1:
        return no_coverage(image.path, "the position is outside this image")
    block = image.data[inside_y0:inside_y1, inside_x0:inside_x1]
    padded = (inside_x0, inside_y0, inside_x1, inside_y1) != (x0, y0, x0 + n_x, y0 + n_y)
    if padded:
        data = np.full((n_y, n_x), np.nan, dtype=np.result_type(block.dtype, np.float32))
        data[inside_y0 - y0:inside_y1 - y0, inside_x0 - x0:inside_x1 - x0] = block
    else:
        data = np.array(block)  # a copy: the memory map of the mosaic is not kept alive
    status = coverage_status(data)
    if status == "no_coverage":
        return no_coverage(image.path, "the survey has only blank (NaN) pixels here")
    text = _shifted_header_text(image, x0, y0)
    if text is None:
        wcs = shifted_wcs(image.wcs, x0, y0, shape=data.shape)
        return Cutout(data, wcs, survey_header(image, wcs), status, image.path)
    return Cutout(data, lambda: shifted_wcs(image.wcs, x0, y0, shape=data.shape), None, status, image.path,
                  header_text=text)


def coverage_status(data):
    """``ok`` when every pixel is finite, ``partial`` when some are, ``no_coverage`` when none are."""
    finite = np.isfinite(data)
    if finite.all():
        return "ok"
    return "partial" if finite.any() else "no_coverage"


def resample_image(image, target_wcs, shape=None, resampling="interp"):
    """Resample ``image`` onto ``target_wcs`` (reading only the part of the image it covers).

    ``exact`` keeps surface brightness (Jy/beam, MJy/sr, mag/arcsec2); for images in a
    per-pixel unit (BUNIT ``DN``, ``counts``, ``ADU``, ``electrons``, ``nanomaggies`` or
    ``.../pixel``) values are scaled by the ratio of pixel areas so that sums over the same
    footprint (total DN, total flux) are conserved. ``interp`` samples the values as they are.
    """
    if resampling not in RESAMPLING:
        raise UsageError(f"--resampling {resampling!r}: use one of {', '.join(RESAMPLING)}")
    from reproject import reproject_exact, reproject_interp

    shape = shape or (target_wcs.pixel_shape[1], target_wcs.pixel_shape[0])
    box = source_bounding_box(image.wcs, target_wcs, shape, image.data.shape)
    if box is None:
        return no_coverage(image.path, "the cutout does not overlap this image")
    x0, x1, y0, y1 = box
    block = np.asarray(image.data[y0:y1, x0:x1], dtype=np.float64)
    block_wcs = shifted_wcs(image.wcs, x0, y0, shape=block.shape)
    if resampling == "exact":
        data, _ = reproject_exact((block, block_wcs), target_wcs, shape_out=shape, parallel=False)
        data = data * exact_resampling_factor(image.header, target_wcs, block_wcs, shape)
    else:
        data, _ = reproject_interp((block, block_wcs), target_wcs, shape_out=shape, order="bilinear")
    data = data.astype(np.float32)
    status = coverage_status(data)
    if status == "no_coverage":
        return no_coverage(image.path, "the survey has no data inside the cutout")
    target = target_wcs.deepcopy()
    target.pixel_shape = (shape[1], shape[0])
    return Cutout(data, target, survey_header(image, target), status, image.path)


# Units of a quantity counted in each pixel, whose sum over an area is the measurement (optical
# and infrared images: WISE DN, SDSS nanomaggies, counts, ADU, electrons; also rates of them and
# anything "/pixel"). Every other unit (Jy/beam, MJy/sr, mag/arcsec2) is a surface brightness.
_PER_PIXEL_UNIT = re.compile(
    r"^(dn|datanumbers?|counts?|cts?|adu|electrons?|e-|nanomaggy|nanomaggies|nmgy)(/s|/sec|/second)?$"
    r"|/(pixel|pix|px)$")


def exact_resampling_factor(header, target_wcs, source_wcs, shape):
    """What ``exact`` resampling from ``source_wcs`` onto ``target_wcs`` (``shape``: the target's
    (ny, nx)) multiplies values by: the ratio of pixel areas for an image in a per-pixel unit (so
    sums over a footprint are conserved), 1 for a surface brightness. Every path that resamples
    exactly (one file, a mosaic of tiles) applies it, so a cutout's total does not depend on how
    the survey is stored.

    The areas are those on the sky at the cutout's centre, not at the reference pixels: a CAR or
    AIT survey's pixels shrink away from its reference (by cos b at latitude b on CAR).
    """
    if not _PER_PIXEL_UNIT.search(str(header.get("BUNIT", "")).replace(" ", "").lower()):
        return 1.0
    from astropy.wcs.utils import proj_plane_pixel_area

    centre_x, centre_y = (shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0
    # through SkyCoord: the survey's frame (galactic, FK4) need not be the cutout's
    source_x, source_y = source_wcs.world_to_pixel(target_wcs.pixel_to_world(centre_x, centre_y))
    ratio = _sky_area_of_pixel(target_wcs, centre_x, centre_y) / _sky_area_of_pixel(source_wcs, source_x, source_y)
    if not np.isfinite(ratio) or ratio <= 0:  # a centre outside a projection's valid region
        return proj_plane_pixel_area(target_wcs) / proj_plane_pixel_area(source_wcs)
    return float(ratio)


def _sky_area_of_pixel(wcs, x, y):
    """Solid angle (sr) of the pixel at (x, y): the cross product of the chords between the
    midpoints of its opposite edges, on the unit sphere."""
    lon, lat = wcs.pixel_to_world_values(np.array([x - 0.5, x + 0.5, x, x]), np.array([y, y, y - 0.5, y + 0.5]))
    lon, lat = np.radians(lon), np.radians(lat)
    points = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    return float(np.linalg.norm(np.cross(points[1] - points[0], points[3] - points[2])))


def _kept_cards(image):
    # The survey's own (non-WCS) cards, computed once per image and kept with it.
    kept = image.extra.get("hippo_kept_cards")
    if kept is None:
        kept = fits.Header([card for card in image.header.cards if not _STRUCTURE_OR_WCS.match(card.keyword)])
        frequency_hz = _observing_frequency_hz(image)
        if frequency_hz is not None and "FREQ" not in kept:
            # A 2-D cutout cannot keep the FREQ axis (CTYPE3/CRVAL3 describe a third axis it does not
            # have), so the frequency goes in a plain FREQ card, in Hz. Not RESTFRQ: in FITS WCS that is
            # the rest frequency of a spectral line, and WCS readers would take it for one.
            kept.append(("FREQ", frequency_hz, "[Hz] observing frequency (was the FREQ axis)"), bottom=False)
        image.extra["hippo_kept_cards"] = kept
    return kept


def _observing_frequency_hz(image):
    """The frequency of a radio image's degenerate FREQ axis (FIRST: 1.4351 GHz) in Hz, or None."""
    header = image.header
    if "BMAJ" not in header and "BEAM" not in str(header.get("BUNIT", "")).upper():
        return None  # not a radio map
    axis = _frequency_axis(header)
    if axis is None:
        try:  # hippo.io drops the extra axes of a 4-axis image: read their cards from the file again
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                header = fits.getheader(image.path, image.hdu_index)
        except Exception:  # an image held in memory, or the file gone: no frequency to keep
            return None
        axis = _frequency_axis(header)
        if axis is None:
            return None
    try:
        # the frequency at the axis' single pixel (pixel 1), which need not be the reference pixel
        value = float(header[f"CRVAL{axis}"]) + (1.0 - float(header.get(f"CRPIX{axis}", 1.0))) * float(
            header.get(f"CDELT{axis}", 0.0))
        unit = u.Unit(str(header.get(f"CUNIT{axis}", "")).strip() or "Hz")
        frequency_hz = float((value * unit).to_value(u.Hz))
    except (TypeError, ValueError, u.UnitsError):
        return None
    return frequency_hz if np.isfinite(frequency_hz) and frequency_hz > 0 else None


def _frequency_axis(header):
    """The number (as text) of a FREQ axis with a CRVAL in ``header``, or None."""
    return next((card.keyword[5:] for card in header.cards if card.keyword.startswith("CTYPE")
                 and str(card.value).startswith("FREQ") and f"CRVAL{card.keyword[5:]}" in header), None)


def survey_header(image, wcs):
    """The survey's own cards of ``image`` with the cutout's ``wcs``."""
    header = _kept_cards(image).copy()
    # the WCS repeats cards it reads (DATE-OBS, MJD-OBS, RESTFRQ): the survey's own are kept
    header.extend([card for card in wcs.to_header(relax=True).cards if card.keyword not in header])
    return header


def _shifted_header_text(image, x0, y0):
    """Header text of a native cut at offset (x0, y0): the image's WCS cards with CRPIX moved.

    Computed once per image; only the two CRPIX cards are rendered per cutout. Returns None
    for WCSs whose lookup-table distortions need the full WCS machinery.
    """
    template = image.extra.get("hippo_header_template")
    if template is None:
        wcs = image.wcs
        if any(t is not None for t in (wcs.cpdis1, wcs.cpdis2, wcs.det2im1, wcs.det2im2)):
            template = False
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wcs_header = wcs.to_header(relax=True)
            kept_cards = _kept_cards(image)
            # the WCS repeats cards it reads (DATE-OBS, MJD-OBS, RESTFRQ): the survey's own are kept
            wcs_cards = [card for card in wcs_header.cards if card.keyword not in kept_cards]
            cards = [card.image for card in wcs_cards]
            keys = [card.keyword for card in wcs_cards]
            kept = kept_cards.tostring(sep="", endcard=False, padding=False)
            template = (cards, keys.index("CRPIX1"), keys.index("CRPIX2"), wcs.wcs.crpix.copy(), kept)
        image.extra["hippo_header_template"] = template
    if template is False:
        return None
    cards, i1, i2, crpix, kept = template
    cards = list(cards)
    cards[i1] = render_card("CRPIX1", float(crpix[0] - x0), "Pixel coordinate of reference point")
    cards[i2] = render_card("CRPIX2", float(crpix[1] - y0), "Pixel coordinate of reference point")
    return kept + "".join(cards)


def render_card(keyword, value, comment=None):
    """One 80-character FITS card for a str, bool, int or float value (fixed format); no comment
    when ``comment`` is empty or None.

    Much faster than ``astropy.io.fits.Card`` for the few cards written per cutout; COMMENT and
    HISTORY cards take ``value`` as their text. Nothing is cut short: a longer COMMENT or HISTORY
    text goes on as many cards as it needs, a longer string value on CONTINUE cards (the text is
    then a whole number of cards).
    """
    if keyword in ("COMMENT", "HISTORY"):
        text = printable(str(value)) or " "
        return "".join(f"{keyword:8s}{text[start:start + 72]}".ljust(80) for start in range(0, len(text), 72))
    if isinstance(value, (bool, np.bool_)):
        text = f"{'T' if value else 'F':>20s}"
    elif isinstance(value, (int, np.integer)):
        text = f"{int(value):>20d}"
    elif isinstance(value, (float, np.floating)):
        text = f"{_float_text(float(value)):>20s}"
    else:
        quoted = printable(str(value)).replace("'", "''")
        if len(quoted) > 68:
            from astropy.io import fits

            return fits.Card(keyword.upper(), printable(str(value)), printable(comment or "")).image
        text = f"'{quoted:<8s}'".ljust(20)
    card = f"{keyword.upper():8s}= {text}"
    if comment:
        card += f" / {printable(comment)}"
    return card[:80].ljust(80)


def _float_text(value):
    if not np.isfinite(value):
        raise ValueError(f"FITS cannot hold the value {value}")
    for digits in range(17, 8, -1):
        text = f"{value:.{digits}G}"
        if "." not in text and "E" not in text:
            text += ".0"
        elif "E" in text and "." not in text.split("E")[0]:
            mantissa, exponent = text.split("E")
            text = f"{mantissa}.0E{exponent}"
        if len(text) <= 20 and float(text) == value or digits == 9:
            return text
    return text


def write_cutout(cutout, path, cards=()):
    """Write a cutout as a single-HDU FITS file, atomically, with extra ``cards``.

    ``cards`` are (keyword, value, comment) tuples (HISTORY/COMMENT allowed), e.g. provenance
    from ``hippo.provenance.fits_provenance_cards``, or card text already rendered with
    ``render_card``. The file is written directly (header text and big-endian data) rather than
    through ``HDUList.writeto``, which verifies every card again and dominated the time of
    large batches.
    """
    # float64 surveys keep their precision; everything else is written as float32
    big_endian = ">f8" if cutout.data.dtype.itemsize == 8 else ">f4"
    ny, nx = cutout.data.shape
    text = [render_card("SIMPLE", True, "conforms to FITS standard"),
            render_card("BITPIX", -64 if big_endian == ">f8" else -32, "IEEE floating point"),
            render_card("NAXIS", 2, "number of data axes"), render_card("NAXIS1", nx, "length of data axis 1"),
            render_card("NAXIS2", ny, "length of data axis 2"), cutout.header_text()]
    text.extend(card if isinstance(card, str) else render_card(*card) for card in cards)
    text.append("END".ljust(80))
    header_bytes = "".join(text).encode("ascii")
    header_bytes += b" " * (-len(header_bytes) % FITS_BLOCK_BYTES)
    data_bytes = np.ascontiguousarray(cutout.data, dtype=big_endian).tobytes()
    data_bytes += b"\0" * (-len(data_bytes) % FITS_BLOCK_BYTES)
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as stream:
                stream.write(header_bytes)
                stream.write(data_bytes)
        except OSError as exc:  # a full disk, a quota: named by the output, not the temporary file
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            raise InputError(path, "no space left on device" if full else
                             f"cannot write here ({exc.strerror or exc})") from None
    return os.fspath(path)


def as_skycoord(coord):
    """A SkyCoord from a SkyCoord or an (ra, dec) pair in degrees."""
    if isinstance(coord, SkyCoord):
        return coord
    ra, dec = coord
    return SkyCoord(float(ra) * u.deg, float(dec) * u.deg, frame="icrs")
