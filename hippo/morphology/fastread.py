"""Reading FITS images for classification at hundreds of files per second.

``hippo.io.read_image`` parses and cleans every header card and checks the file thoroughly; for
a SkyView FIRST cutout (~180 COMMENT cards, RICE tile compression in 300 row tiles) astropy's
header and tile machinery is most of the cost of classifying it. The classifier needs only the
pixels, the celestial WCS, BUNIT and the beam, so this reader parses the few cards it needs
straight from the header blocks and decompresses the tiles with astropy's own C codecs
(``decompress_rice_1_c``, ``unquantize_float_c``: the same calls in the same order as astropy,
so the pixels are identical). It handles plain images (``.fits``, ``.fits.gz``) and the usual
fpack layout (RICE_1, float32 quantized per row, blank pixels flagged by ZBLANK); anything else
(other codecs, BLANK, large mosaics, odd headers) goes to ``hippo.io.read_image``, which also
gives the one-line error for bad files. A test checks that both readers give the same pixels and
sky positions.
"""

import gzip
import math
import re
from pathlib import Path

import numpy as np
from astropy.wcs import WCS

from hippo.io import Image, read_image
from hippo.io.images import FITS_BLOCK_BYTES, degenerate_stokes
from hippo.morphology.preprocess import rows_read_by_prepare

# Files above this size are left to read_image, which memory-maps them.
_MAX_BYTES = 64 << 20
_WANTED = tuple(f"{key}{axis}" for key in ("CTYPE", "CRVAL", "CRPIX", "CDELT", "CROTA", "CUNIT") for axis in (1, 2)) + tuple(
    f"{key}{i}_{j}" for key in ("CD", "PC") for i in (1, 2) for j in (1, 2)) + tuple(
    f"PV{axis}_{m}" for axis in (1, 2) for m in range(5)) + (
    "RADESYS", "RADECSYS", "EQUINOX", "EPOCH", "LONPOLE", "LATPOLE", "MJD-OBS", "DATE-OBS", "BUNIT", "BMAJ",
    "BMIN", "BPA", "OBJECT", "HIPPOCMD", "HIPPORA", "HIPPODEC", "STOKES") + tuple(
    f"{key}{axis}" for key in ("CTYPE", "CRVAL", "CRPIX", "CDELT") for axis in (3, 4))
_WANTED_SET = frozenset(_WANTED)
_NEEDED_PREFIXES = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS", "TTYPE", "TFORM", "THEAP",
                    "BSCALE", "BZERO", "BLANK", "Z")
_DITHER = {"NO_DITHER": -1, "SUBTRACTIVE_DITHER_1": 1, "SUBTRACTIVE_DITHER_2": 2}
_BITPIX = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_TFORM = re.compile(r"^\s*(\d*)([LXBIJKAEDCMPQ])")
_TFORM_BYTES = {"L": 1, "B": 1, "A": 1, "I": 2, "J": 4, "K": 8, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}


def read_for_classification(path):
    """An ``hippo.io.Image`` with the pixels, the celestial WCS and a minimal header of ``path``.

    Only for ``preprocess.prepare`` with the source at the image centre: in a tile-compressed
    FIRST-style cutout the rows it never looks at (``rows_read_by_prepare``) are left undecoded
    (NaN), a third of the decoding.
    """
    try:
        image = _fast_read(Path(path), only_rows_prepare_reads=True)
    except Exception:  # any surprise: the thorough reader decides, and explains bad files
        image = None
    return image if image is not None else read_image(path)


def _fast_read(path, only_rows_prepare_reads=False):
    if path.stat().st_size > _MAX_BYTES:
        return None
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    position = 0
    while position < len(raw):
        cards, data_start = _parse_header(raw, position)
        if cards is None:
            return None
        size = _data_bytes(cards)
        data = None
        if cards.get("ZIMAGE") is True:
            wcs = _celestial_wcs_or_none(cards)
            if wcs is None:
                return None
            rows = rows_read_by_prepare((cards.get("ZNAXIS2", 0), cards.get("ZNAXIS1", 0)), wcs) \
                if only_rows_prepare_reads else None
            data = _rice_rows(raw, data_start, cards, rows)
            return None if data is None else _image(path, data, cards, wcs)
        elif cards.get("NAXIS", 0) >= 2 and cards.get("XTENSION", "IMAGE").strip() == "IMAGE" and size:
            data = _plain_image(raw, data_start, cards)
        if data is not None:
            return _image(path, data, cards, _celestial_wcs_or_none(cards))
        position = data_start + -(-size // FITS_BLOCK_BYTES) * FITS_BLOCK_BYTES
    return None


def _parse_header(raw, start):
    """Keyword -> value of the header at ``start`` (commentary cards skipped), and where its data starts."""
    cards = {}
    position = start
    while position + 80 <= len(raw):
        card = raw[position: position + 80]
        position += 80
        if card[8:10] == b"= ":  # a value card; most of a SkyView header is COMMENT/HISTORY
            keyword = card[:8].decode("ascii", errors="replace").strip()
            if _needed(keyword):
                cards[keyword] = _card_value(card[10:].decode("ascii", errors="replace"))
        elif card[:8].rstrip() == b"END":
            return cards, start + -(-(position - start) // FITS_BLOCK_BYTES) * FITS_BLOCK_BYTES
    return None, None


def _needed(keyword):
    """Structure, tile compression and the WCS/unit/beam cards; a SkyView header has ~200 others."""
    return keyword in _WANTED_SET or keyword.startswith(_NEEDED_PREFIXES)


def _card_value(text):
    text = text.strip()
    if text.startswith("'"):
        end, value = 1, []
        while end < len(text):
            if text[end] == "'":
                if text[end + 1: end + 2] == "'":
                    value.append("'")
                    end += 2
                    continue
                break
            value.append(text[end])
            end += 1
        return "".join(value).rstrip().replace("\t", " ")
    token = text.split("/", 1)[0].strip()
    if token in ("T", "F"):
        return token == "T"
    try:
        return int(token)
    except ValueError:
        value = float(token.replace("D", "E"))
    if not math.isfinite(value):  # NaN/Inf is no FITS number: read_image refuses the card with the reason
        raise ValueError(f"{token} is not a FITS number")
    return value


def _data_bytes(cards):
    naxis = cards.get("NAXIS", 0)
    if naxis == 0:
        return 0
    count = 1
    for axis in range(1, naxis + 1):
        count *= cards[f"NAXIS{axis}"]
    return abs(cards["BITPIX"]) // 8 * cards.get("GCOUNT", 1) * (cards.get("PCOUNT", 0) + count)


def _plain_image(raw, start, cards):
    shape = [cards[f"NAXIS{axis}"] for axis in range(cards["NAXIS"], 0, -1)]
    if any(n != 1 for n in shape[:-2]) or "BLANK" in cards:
        raise ValueError("not a plain 2-D image")
    count = int(np.prod(shape))
    data = np.frombuffer(raw, dtype=_BITPIX[cards["BITPIX"]], count=count, offset=start).reshape(shape[-2:])
    data = data.astype(np.float32)
    if "BSCALE" in cards or "BZERO" in cards:
        data = data * np.float32(cards.get("BSCALE", 1.0)) + np.float32(cards.get("BZERO", 0.0))
    return data


def _rice_rows(raw, start, cards, rows=None):
    """Pixels of fpack's usual layout (RICE_1, float32 quantized per row tile), else None.

    ``rows`` (a boolean mask over the image rows) decodes only those; the others are NaN.
    """
    from astropy.io.fits.hdu.compressed._compression import decompress_rice_1_c, unquantize_float_c

    nx, ny = cards.get("ZNAXIS1"), cards.get("ZNAXIS2")
    if not (cards.get("ZCMPTYPE", "").strip() == "RICE_1" and cards.get("ZBITPIX") == -32
            and cards.get("ZNAXIS") == 2 and cards.get("ZTILE1", nx) == nx and cards.get("ZTILE2", 1) == 1
            and cards.get("ZQUANTIZ", "NO_DITHER") in _DITHER and "BLANK" not in cards):
        return None
    columns, offset = {}, 0
    for index in range(1, cards["TFIELDS"] + 1):
        match = _TFORM.match(cards[f"TFORM{index}"])
        repeat, code = int(match.group(1) or 1), match.group(2)
        columns[cards[f"TTYPE{index}"].strip()] = (offset, code, repeat)
        offset += repeat * _TFORM_BYTES[code] if code != "X" else -(-repeat // 8)
    if columns.get("COMPRESSED_DATA", (0, ""))[1] not in ("P", "Q") or "ZSCALE" not in columns \
            or "ZZERO" not in columns or "ZBLANK" in columns:
        return None
    row_bytes = cards["NAXIS1"]
    table = np.frombuffer(raw, dtype=np.uint8, count=row_bytes * ny, offset=start).reshape(ny, row_bytes)

    def column(name, dtype):
        where, _, _ = columns[name]
        width = np.dtype(dtype).itemsize
        return table[:, where: where + width].copy().view(dtype).ravel()

    pointer = ">i4" if columns["COMPRESSED_DATA"][1] == "P" else ">i8"
    where = columns["COMPRESSED_DATA"][0]
    descriptors = table[:, where: where + 2 * np.dtype(pointer).itemsize].copy().view(pointer).reshape(ny, 2)
    scales, zeros = column("ZSCALE", ">f8"), column("ZZERO", ">f8")
    if np.any(descriptors[:, 0] == 0):
        return None  # rows stored raw or gzipped: astropy's general reader handles them
    settings = {str(cards[f"ZNAME{i}"]).strip(): cards[f"ZVAL{i}"] for i in range(1, 10) if f"ZNAME{i}" in cards}
    blocksize, bytepix = int(settings.get("BLOCKSIZE", 32)), int(settings.get("BYTEPIX", 4))
    method = _DITHER[cards.get("ZQUANTIZ", "NO_DITHER")]
    seed = cards.get("ZDITHER0", 0)
    heap = start + cards.get("THEAP", row_bytes * ny)
    integer_type = np.dtype(f"i{bytepix}")
    chosen = np.arange(ny) if rows is None else np.flatnonzero(rows)
    # Python lists: indexing numpy scalars row by row costs more than the decompression.
    sizes, offsets = descriptors[chosen, 0].tolist(), descriptors[chosen, 1].tolist()
    scales, zeros, row_numbers = scales[chosen].tolist(), zeros[chosen].tolist(), chosen.tolist()
    decoded = [decompress_rice_1_c(raw[heap + offset: heap + offset + size], blocksize, bytepix, nx)
               for offset, size in zip(offsets, sizes)]
    quantized = None
    if method == -1 or "ZBLANK" in cards:
        quantized = np.frombuffer(b"".join(decoded), dtype=integer_type).reshape(len(chosen), nx)
    if method == -1:
        values = (quantized * np.array(scales)[:, None] + np.array(zeros)[:, None]).astype(np.float32)
    else:
        values = b"".join(unquantize_float_c(quantized, row + seed, nx, scale, zero, method, 0, 0, 0.0, bytepix)
                          for row, quantized, scale, zero in zip(row_numbers, decoded, scales, zeros))
        values = np.frombuffer(values, dtype=np.float32).reshape(len(chosen), nx)
    if rows is None:
        pixels = values.copy() if not values.flags.writeable else values
    else:
        pixels = np.full((ny, nx), np.nan, dtype=np.float32)
        pixels[chosen] = values
    if "ZBLANK" in cards:
        # Blank pixels (NaN in the original) are stored as the integer ZBLANK, as astropy reads them.
        pixels[chosen] = np.where(quantized == cards["ZBLANK"], np.nan, pixels[chosen])
    return pixels


def _celestial_wcs_or_none(cards):
    if not str(cards.get("CTYPE1", "")).startswith(("RA", "GLON", "ELON")):
        return None
    wcs = _celestial_wcs(cards)
    # NaN in CRVAL/CDELT/CD: read_image refuses the file with the reason (wcslib would place it at 9.9e107)
    numbers = [wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cd if wcs.wcs.has_cd() else wcs.wcs.cdelt]
    if not wcs.has_celestial or not all(np.all(np.isfinite(n)) for n in numbers):
        return None
    return wcs


def _image(path, data, cards, wcs):
    if wcs is None or not np.isfinite(data).any():
        return None
    header = {keyword: cards[keyword] for keyword in _WANTED if keyword in cards}
    stokes = degenerate_stokes(cards.get, max(cards.get("NAXIS", 2), cards.get("ZNAXIS", 2)))
    if stokes not in (None, "I"):
        header["STOKES"] = stokes
    # The header is a dict of the cards read (all the classifier looks at): building an
    # astropy Header and parsing it again into a WCS cost more than decoding the pixels.
    return Image(data=data, wcs=wcs, header=header, path=str(path))


def _celestial_wcs(cards):
    """The 2-D WCS of the cards, set directly on wcslib's structure (WCS(Header) costs ~1 ms a file).

    Follows the FITS rules that WCS(header) applies: CD takes precedence over PC/CDELT, then
    CROTA2; PVi_m, LONPOLE/LATPOLE, RADESYS/EQUINOX (or the old RADECSYS/EPOCH) and the date.
    """
    wcs = WCS(naxis=2)
    core = wcs.wcs
    core.ctype = [cards["CTYPE1"], cards.get("CTYPE2", "")]
    core.crval = [cards.get("CRVAL1", 0.0), cards.get("CRVAL2", 0.0)]
    core.crpix = [cards.get("CRPIX1", 0.0), cards.get("CRPIX2", 0.0)]
    if "CUNIT1" in cards or "CUNIT2" in cards:
        core.cunit = [cards.get("CUNIT1", ""), cards.get("CUNIT2", "")]
    if any(f"CD{i}_{j}" in cards for i in (1, 2) for j in (1, 2)):
        core.cd = [[cards.get(f"CD{i}_{j}", 0.0) for j in (1, 2)] for i in (1, 2)]
    else:
        core.cdelt = [cards.get("CDELT1", 1.0), cards.get("CDELT2", 1.0)]
        if any(f"PC{i}_{j}" in cards for i in (1, 2) for j in (1, 2)):
            core.pc = [[cards.get(f"PC{i}_{j}", float(i == j)) for j in (1, 2)] for i in (1, 2)]
        elif "CROTA2" in cards or "CROTA1" in cards:
            core.crota = [cards.get("CROTA1", 0.0), cards.get("CROTA2", cards.get("CROTA1", 0.0))]
    pv = [(axis, m, cards[f"PV{axis}_{m}"]) for axis in (1, 2) for m in range(5) if f"PV{axis}_{m}" in cards]
    if pv:
        core.set_pv(pv)
    for keyword, attribute in (("LONPOLE", "lonpole"), ("LATPOLE", "latpole"), ("MJD-OBS", "mjdobs")):
        if keyword in cards:
            setattr(core, attribute, cards[keyword])
    radesys = cards.get("RADESYS", cards.get("RADECSYS"))
    if radesys:
        core.radesys = str(radesys).strip()
    equinox = cards.get("EQUINOX", cards.get("EPOCH"))
    if equinox is not None:
        core.equinox = float(equinox)
    if "DATE-OBS" in cards:
        core.dateobs = str(cards["DATE-OBS"])
    core.set()
    return wcs
