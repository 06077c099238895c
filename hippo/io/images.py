"""Read survey images: .fits/.fits.gz/.fits.fz, first image HDU, degenerate axes dropped, WCS checked."""

import gzip
import re
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

from hippo.errors import InputError
from hippo.io.fitsfiles import path_kind

# Above this many pixels an all-NaN check would read a whole (memory-mapped) mosaic: skip it there.
_FULL_NAN_CHECK_MAX_PIXELS = 50_000_000
FITS_BLOCK_BYTES = 2880  # every FITS file is a whole number of these
_NONPRINTABLE = re.compile(r"[^\x20-\x7e]")
# Exact zeros in a run this long along a row are blank (zero-filled survey edges, as SkyView pads them);
# scattered zeros, as in quantised data, are too rarely this many in a row to be taken for blank.
_BLANK_ZERO_RUN = 5
SINGULAR_WCS = "the WCS's pixel matrix (CD or CDELT/PC) is singular: pixels have no size on the sky"


def printable(text):
    """``text`` with every character a FITS header may not hold (outside ASCII 32-126) as a space."""
    return _NONPRINTABLE.sub(" ", str(text))


@dataclass
class Image:
    """A 2-D image with its celestial WCS, as every HIPPO command sees it.

    ``data`` may be a read-only memory map for uncompressed files: slice it, do not modify it.
    ``header`` is the 2-D header (extra axes removed), with the original non-WCS cards
    (BUNIT, BMAJ/BMIN/BPA, TELESCOP, ...) kept.
    """

    data: np.ndarray
    wcs: WCS | None
    header: fits.Header
    path: str
    hdu_index: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def shape(self):
        return self.data.shape

    @property
    def pixel_scale_arcsec(self):
        """Mean pixel size in arcsec (geometric mean of the two axes at the reference pixel)."""
        return pixel_scale_arcsec(self.wcs)

    @property
    def beam_deg(self):
        """(BMAJ, BMIN, BPA) in degrees from the header, or None where the header has no beam."""
        if all(key in self.header for key in ("BMAJ", "BMIN")):
            return (float(self.header["BMAJ"]), float(self.header["BMIN"]), float(self.header.get("BPA", 0.0)))
        return None


def pixel_scale_arcsec(wcs):
    """Mean pixel size in arcsec of a celestial WCS (geometric mean of the two axes at the reference pixel)."""
    scales = proj_plane_pixel_scales(wcs) * 3600.0
    return float(np.sqrt(scales[0] * scales[1]))


def zero_filled_blank(data):
    """Mask of the pixels of ``data`` that are zero-filled blank sky, or None where there are none.

    Survey servers pad areas they have no data for with exact zeros (SkyView at a survey's edge)
    where FITS would use NaN. Zeros count as blank only in runs of at least ``_BLANK_ZERO_RUN``
    along a row, and only where the rest of the image is noisy (more than 5 % of it negative): a
    noiseless model (sources on an exact-zero background) has no negative values, and its zeros
    are its background, not blank.
    """
    values = np.asarray(data)
    zero = values == 0
    if not zero.any():
        return None
    from scipy.ndimage import binary_opening

    # an opening keeps exactly the pixels covered by a full run (runs at the image edge included)
    run = np.ones((1,) * (zero.ndim - 1) + (_BLANK_ZERO_RUN,), dtype=bool)
    blank = binary_opening(zero, structure=run)
    if not blank.any():
        return None
    rest = values[~blank]
    rest = rest[np.isfinite(rest)]
    if not (rest.size and np.mean(rest < 0) > 0.05):
        return None
    return blank


def read_image(path, *, require_wcs=True, memmap=True, check_finite=True):
    """Read the first HDU holding an image from a FITS file.

    Parameters
    ----------
    path : str or Path
        ``.fits``, ``.fits.gz`` or ``.fits.fz`` (tile-compressed; the image is in HDU 1).
    require_wcs : bool
        Raise InputError when the image has no celestial WCS.
    memmap : bool
        Memory-map uncompressed files so that multi-GB mosaics are never read whole. Scaled
        integers (BZERO/BSCALE/BLANK: uint16 and DN images) cannot be mapped; they are read.
    check_finite : bool
        Raise InputError when every pixel is NaN/inf (skipped for very large images).

    Returns
    -------
    Image
    """
    path = Path(path)
    kind, why = path_kind(path)  # opening a FIFO would wait for a writer for ever
    if kind != "file":
        raise InputError(path, "is a directory, not a FITS file" if kind == "dir" else why)
    stream = None
    try:
        with open(path, "rb") as file:
            if file.read(2) == b"\x1f\x8b":
                stream = gzip.open(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # memmap=None maps when it can and reads scaled integers instead; True would refuse them
            hdul = fits.open(stream or path, memmap=None if memmap else False, lazy_load_hdus=False,
                             output_verify="silentfix")
    except Exception as exc:  # astropy raises assorted errors on garbage
        if stream is not None:
            stream.close()
        raise InputError(path, _unreadable_reason(exc)) from None
    try:
        try:
            return image_from_hdul(hdul, path, require_wcs=require_wcs, check_finite=check_finite)
        finally:
            # astropy reads a gzip stream only as far as the image, so gzip never checks its CRC:
            # reading on to the end does (a corrupt stream also explains any other fault found)
            fault = stream is not None and _gzip_fault(stream)
            if fault:
                raise InputError(path, fault) from None
    except InputError:
        hdul.close()  # no image is returned: let go of the file now, not at garbage collection
        raise
    finally:
        if stream is not None:
            stream.close()


def _unreadable_reason(exc):
    """Why astropy cannot open a file, without its advice to callers of its API."""
    reason = short_reason(exc)
    if reason.startswith("No SIMPLE card found"):
        return "not a FITS file (it does not start with a SIMPLE card)"
    return f"not a readable FITS file ({reason})"


def _gzip_fault(stream):
    """Why the rest of an open gzip stream fails gzip's checks (CRC, length, end of data), or None."""
    try:
        while stream.read(1 << 20):
            pass
    except EOFError:
        return "compressed data ends early: the file is truncated"
    except (OSError, zlib.error) as exc:  # BadGzipFile is an OSError; the checksums themselves say nothing
        if str(exc).startswith("Not a gzipped file"):
            return None  # bytes after the last member, each checked: gzip(1) too ignores trailing garbage
        return f"compressed data is corrupt ({str(exc).split(' 0x')[0]})"
    return None


def as_image(value, **read_options):
    """``value`` itself when it is already an Image, else ``read_image(value, **read_options)``.

    Lets a caller that already holds an image hand it on instead of having the file read again.
    """
    return value if isinstance(value, Image) else read_image(value, **read_options)


def image_from_hdul(hdul, path, *, require_wcs=True, check_finite=True):
    """The first image of an open HDUList (a file ``read_image`` opened, or a download held in
    memory), as ``read_image`` returns it; ``path`` names it in errors and in ``Image.path``."""
    for index, hdu in enumerate(hdul):
        if _holds_image(hdu):
            break
    else:
        kinds = ", ".join(type(h).__name__ for h in hdul)
        raise InputError(path, f"no image HDU in the file (HDUs: {kinds}){_truncation_hint(path)}")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = hdu.data
    except Exception as exc:
        hint = _truncation_hint(path) or "; the file may be truncated"
        raise InputError(path, f"image data cannot be read ({short_reason(exc)}){hint}") from None
    if data is None:
        raise InputError(path, "image HDU has no data")
    try:
        header = _clean_header(hdu.header)
    except ValueError as exc:
        raise InputError(path, str(exc)) from None
    data, header = _drop_degenerate_axes(path, data, header)
    if not np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float32)

    wcs = _celestial_wcs(path, header, hdul, data.shape)
    if require_wcs and wcs is None:
        raise InputError(path, "no celestial WCS in the header (need CTYPE1/2 RA---/DEC-- with CRVAL/CRPIX/CDELT or CD)")
    if check_finite and data.size <= _FULL_NAN_CHECK_MAX_PIXELS and not np.isfinite(data).any():
        raise InputError(path, "every pixel is NaN or infinite")
    return Image(data=data, wcs=wcs, header=header, path=str(path), hdu_index=index)


def _truncation_hint(path):
    """'; the file is truncated ...' when a file on disk is not whole 2880-byte FITS blocks, else ''.

    astropy drops an extension cut short (a compressed image's table, typically) without a word,
    which would otherwise read as a file that never held an image.
    """
    try:
        size = Path(path).stat().st_size
    except (OSError, TypeError, ValueError):
        return ""  # an image held in memory, named but not on disk
    if size % FITS_BLOCK_BYTES:
        return f"; the file is truncated ({size} bytes, not a whole number of {FITS_BLOCK_BYTES}-byte FITS blocks)"
    return ""


def _holds_image(hdu):
    if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
        return hdu.header.get("NAXIS", 0) >= 2 or (
            isinstance(hdu, fits.CompImageHDU) and hdu.header.get("ZNAXIS", hdu.header.get("NAXIS", 0)) >= 2
        )
    return False


def short_reason(exc):
    """One line saying why ``exc`` happened. wcslib's messages put where (``ERROR 3 in wcsset() at
    line 2868 of file wcs.c:``) before why (``Linear transformation matrix is singular.``): the
    why is kept."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    reasons = [line for line in lines if not (line.startswith("ERROR") and " of file " in line)]
    return (reasons or lines)[0][:200].rstrip(".")


def _clean_header(header):
    """Copy the header, replacing characters FITS forbids (SkyView writes TABs in COMMENT cards)."""
    clean = fits.Header()
    for card in header.cards:
        key = card.keyword
        if key in ("COMMENT", "HISTORY", ""):
            clean.add_comment(printable(card.value)) if key == "COMMENT" else (
                clean.add_history(printable(card.value)) if key == "HISTORY" else None
            )
            continue
        try:
            value = card.value
            if isinstance(value, str):
                value = printable(value)
            clean.append(fits.Card(key, value, printable(card.comment or "")))
        except (ValueError, fits.VerifyError):
            if _WCS_KEY.match(key):  # dropped, wcslib would take its default (CRVAL 0) and misplace the image
                raise ValueError(f"header card {key} cannot be read: the image cannot be placed on the sky") from None
            continue  # any other card astropy cannot even represent carries nothing we need
    return clean


_AXIS_KEYS = ("NAXIS", "CTYPE", "CRVAL", "CDELT", "CRPIX", "CROTA", "CUNIT", "CNAME", "CRDER", "CSYER")
_WCS_KEY = re.compile(r"^(NAXIS|CTYPE|CRVAL|CDELT|CRPIX|CROTA|CUNIT|CD\d_|PC\d_|PV\d_|LONPOLE|LATPOLE|RADESYS|EQUINOX)")


# FITS STOKES axis values (Greisen & Calabretta 2002, table 7)
_STOKES_NAMES = {1: "I", 2: "Q", 3: "U", 4: "V", -1: "RR", -2: "LL", -3: "RL", -4: "LR",
                 -5: "XX", -6: "YY", -7: "XY", -8: "YX"}
# Planes that are not a measure of total intensity (polarisation, cross-hands)
NOT_TOTAL_INTENSITY = frozenset({"Q", "U", "V", "RL", "LR", "XY", "YX"})


def degenerate_stokes(get, naxis):
    """The Stokes parameter ('I', 'V', ...) of the first pixel of a STOKES axis beyond the image
    axes, read through ``get`` (a header's or a dict's ``get``); None without such an axis."""
    for axis in range(3, naxis + 1):
        if str(get(f"CTYPE{axis}", "")).strip().upper() == "STOKES":
            value = float(get(f"CRVAL{axis}", 1.0)) + (1.0 - float(get(f"CRPIX{axis}", 1.0))) * float(
                get(f"CDELT{axis}", 1.0))
            return _STOKES_NAMES.get(int(round(value)), f"{value:g}")
    return None


def _drop_degenerate_axes(path, data, header):
    """Reduce to the two image axes; extra axes (FIRST's STOKES/FREQ) must have length 1. A
    STOKES axis that is not I is kept in words, as ``STOKES = 'V'``: the pixels are not total
    intensity, which the classifier and a reader of a cutout must know."""
    if data.ndim < 2:
        raise InputError(path, f"image has {data.ndim} axis; HIPPO needs a 2-D image")
    extra_shape = data.shape[:-2]
    if any(n != 1 for n in extra_shape):
        raise InputError(path, f"image has non-degenerate extra axes {data.shape}; HIPPO needs a 2-D image")
    if data.ndim > 2:
        data = data.reshape(data.shape[-2:])
    naxis = header.get("NAXIS", 2)
    stokes = degenerate_stokes(header.get, max(naxis, header.get("WCSAXES", 2)))
    if stokes not in (None, "I"):
        header["STOKES"] = (stokes, "Stokes parameter (the dropped STOKES axis)")
    if naxis > 2 or header.get("WCSAXES", 2) > 2:
        for axis in range(3, max(naxis, header.get("WCSAXES", 2)) + 1):
            for key in _AXIS_KEYS:
                header.remove(f"{key}{axis}", ignore_missing=True)
            for other in range(1, axis + 1):
                for key in (f"PC{axis}_{other}", f"PC{other}_{axis}", f"CD{axis}_{other}", f"CD{other}_{axis}",
                            f"PC{axis:03d}{other:03d}", f"PC{other:03d}{axis:03d}"):
                    header.remove(key, ignore_missing=True)
        header["NAXIS"] = 2
        if "WCSAXES" in header:
            header["WCSAXES"] = 2
    return data, header


def unprojected_reason(wcs):
    """Why an image with ``wcs`` whose centre pixel has no position on the sky cannot be used."""
    reason = "the image does not project onto the sky: its centre pixel has no sky position"
    degrees = pixel_scale_arcsec(wcs) / 3600
    return f"{reason} (pixels of {degrees:.3g} deg: CDELT or CD far too large?)" if degrees >= 1 else reason


def is_singular(wcs):
    """True when the pixel matrix of a celestial WCS is singular (to rounding): a pixel covers no area."""
    matrix = wcs.pixel_scale_matrix
    with np.errstate(invalid="ignore"):  # a NaN matrix is singular too, without numpy's warning
        return not abs(np.linalg.det(matrix)) > 1e-10 * np.max(np.abs(matrix)) ** 2


def _celestial_wcs(path, header, hdul, shape):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header, fobj=hdul, naxis=2)
    except Exception as exc:
        raise InputError(path, f"WCS in the header cannot be read ({short_reason(exc)})") from None
    if not wcs.has_celestial or wcs.naxis != 2:
        return None
    celestial = wcs.celestial
    if not np.all(np.isfinite(celestial.wcs.crval)) or not np.all(np.isfinite(proj_plane_pixel_scales(celestial))):
        return None
    if is_singular(celestial):
        raise InputError(path, SINGULAR_WCS)
    ny, nx = shape
    if not np.all(np.isfinite(celestial.pixel_to_world_values((nx - 1) / 2.0, (ny - 1) / 2.0))):
        raise InputError(path, unprojected_reason(celestial))
    return celestial
