"""Local surveys: one FITS image (memory-mapped) or a directory of FITS tiles indexed by footprint."""

import hashlib
import json
import os
import re
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import angular_separation
from astropy.io import fits
from astropy.wcs import WCS, WCSCOMPARE_ANCILLARY, WCSCOMPARE_CRPIX, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

from hippo.archive.base import Survey, cache_dir
from hippo.cutouts.cut import (Cutout, coverage_status, cut_failed, cut_image, cut_native_at, cut_pixels,
                               exact_resampling_factor, no_coverage, resample_image, survey_header)
from hippo.cutouts.geometry import centred_tan_wcs, odd_pixels, pixel_positions, shifted_wcs, source_bounding_box
from hippo.errors import InputError
from hippo.io import read_image
from hippo.io.fitsfiles import fits_stem, is_fits_name
from hippo.io.frames import native_to_icrs
from hippo.io.images import FITS_BLOCK_BYTES, printable, short_reason
from hippo.overlays.beams import is_radio_header
from hippo.quantities import parse_angle

_INDEX_VERSION = 1
_OPEN_TILES = 16  # tiles kept open (memory-mapped) at once
_BLOCK = 256  # positions sorted by tile together


class LocalImageSurvey(Survey):
    """One FITS image as a survey (memory-mapped: a multi-GB mosaic is never read whole).

    Parameters
    ----------
    path : str or Path
        ``.fits``, ``.fits.gz`` or ``.fits.fz`` image with a celestial WCS.
    name : str, optional
        Label used in output file names (default: the file name without its suffix).
    """

    kind = "local"

    def __init__(self, path, name=None):
        self.path = Path(path)
        self.name = name or fits_stem(self.path)
        self._image = None

    @property
    def image(self):
        if self._image is None:
            self._image = read_image(self.path)
        return self._image

    @property
    def is_radio(self):
        return is_radio_header(self.image.header)

    @property
    def pixel_scale_arcsec(self):
        return self.image.pixel_scale_arcsec

    def describe(self):
        image = self.image
        centre = image.wcs.pixel_to_world((image.shape[1] - 1) / 2.0, (image.shape[0] - 1) / 2.0).icrs
        corners = image.wcs.pixel_to_world([-0.5, image.shape[1] - 0.5], [-0.5, image.shape[0] - 0.5])
        radius = float(np.max(centre.separation(corners).deg))
        return {"name": self.name, "kind": self.kind, "location": str(self.path),
                "coverage": f"{image.shape[1]}x{image.shape[0]} px around RA {centre.ra.deg:.4f} "
                            f"Dec {centre.dec.deg:+.4f} (radius {radius:.3f} deg)",
                "pixel_scale_arcsec": round(self.pixel_scale_arcsec, 4), "radio": self.is_radio}

    def identity(self):
        """The file's resolved path, size and modification time."""
        path = self.path.resolve()
        stat = path.stat()
        return f"{path} {stat.st_size} bytes modified {stat.st_mtime_ns} ns"

    def cutout(self, coord, size, pixel_scale=None, resampling="interp"):
        return cut_image(self.image, coord, size, pixel_scale, resampling)

    def cutouts(self, coords, size, pixel_scale=None, resampling="interp"):
        """Cutouts at many positions: native-pixel cuts convert all positions to pixels at once."""
        if pixel_scale is not None:
            yield from super().cutouts(coords, size, pixel_scale, resampling)
            return
        size_arcsec = parse_angle(size, "--size").to_value(u.arcsec)
        try:
            image = self.image
            xs, ys, scales_x, scales_y = pixel_positions(image.wcs, coords)
        except Exception as exc:  # an unreadable image fails every position, each reported
            for _ in range(len(coords)):
                yield cut_failed(exc, self.path)
            return
        for x, y, scale_x, scale_y in zip(xs, ys, scales_x, scales_y):
            try:
                cut = cut_native_at(image, x, y, scale_x, scale_y, size_arcsec)
            except Exception as exc:
                cut = cut_failed(exc, self.path)
            yield cut


class TileDirectorySurvey(Survey):
    """A directory of FITS tiles as one survey, indexed once by footprint.

    The index (centre, radius, WCS header and shape of each tile) is cached in the user cache
    directory and refreshed only for tiles added, removed or changed since (size or mtime). The
    tile holding a position is found from the index alone; only the chosen tiles are opened.
    A cutout that one tile cannot hold is made from every overlapping tile: tiles on one pixel
    grid (cut from one image) are put back together and cut as that image would be; others are
    resampled one by one and averaged with ``reproject``.
    """

    kind = "tiles"

    def __init__(self, path, name=None):
        self.path = Path(path)
        self.name = name or self.path.resolve().name
        self._index = None
        self._open = OrderedDict()
        self._lock = threading.Lock()

    # -- index -----------------------------------------------------------------------------

    @property
    def index(self):
        if self._index is None:
            self._index = TileIndex.load_or_build(self.path)
        return self._index

    @property
    def is_radio(self):
        return bool(self.index.entries) and any(entry.get("radio") for entry in self.index.entries[:20])

    @property
    def pixel_scale_arcsec(self):
        scales = [entry["scale"] for entry in self.index.entries]
        return float(np.median(scales)) if scales else float("nan")

    def identity(self):
        """The directory's resolved path and a digest of its tiles' names, sizes and times."""
        tiles = "".join(f"{entry['file']} {entry['size']} {entry['mtime']}\n" for entry in self.index.entries)
        return f"{self.path.resolve()} tiles {hashlib.sha256(tiles.encode()).hexdigest()[:16]}"

    def describe(self):
        index = self.index
        problems = [f"{self.path / bad['file']}: {bad['reason']}" for bad in index.unusable]
        unusable = f"; {len(problems)} unusable: " + "; ".join(problems) if problems else ""
        # images that are not sky images (a PSF, a weight map): skipped, named, never a problem
        skipped = [entry["file"] for entry in index.not_tiles]
        not_tiles = ("; not a tile: no celestial WCS: " + ", ".join(skipped[:5])
                     + (f" ({len(skipped) - 5} more)" if len(skipped) > 5 else "")) if skipped else ""
        return {"name": self.name, "kind": self.kind, "location": str(self.path),
                "coverage": f"{len(index.entries)} tiles, {index.area_deg2():.2f} deg^2{unusable}{not_tiles}",
                "pixel_scale_arcsec": round(self.pixel_scale_arcsec, 4), "radio": self.is_radio,
                "problems": problems}

    def _image(self, position):
        with self._lock:  # parallel workers share the open tiles
            if position in self._open:
                self._open.move_to_end(position)
                return self._open[position]
        image = read_image(self.path / self.index.entries[position]["file"])
        with self._lock:
            self._open[position] = image
            while len(self._open) > _OPEN_TILES:
                self._open.popitem(last=False)
        return image

    # -- cutting ---------------------------------------------------------------------------

    def cutouts(self, coords, size, pixel_scale=None, resampling="interp"):
        """Cutouts at many positions, in order; each block of positions is cut tile by tile,
        so a tile is opened once for all the positions it holds. A position whose tile cannot be
        read is a Cutout of status ``error`` naming that tile; the others are cut as usual."""
        try:
            self.index
        except InputError as exc:  # no usable tile at all: every position fails, each reported
            for _ in range(len(coords)):
                yield cut_failed(exc, self.path)
            return
        for start in range(0, len(coords), _BLOCK):
            block = coords[start:start + _BLOCK]
            nearest = self.index.nearest(block)
            results = {}
            for position in np.argsort(nearest, kind="stable"):
                results[position] = self.cutout_or_error(block[position], size, pixel_scale, resampling)
            for position in range(len(block)):
                yield results[position]

    def cutout(self, coord, size, pixel_scale=None, resampling="interp"):
        size_arcsec = parse_angle(size, "--size").to_value(u.arcsec)
        candidates = self.index.candidates(coord, size_arcsec / 3600.0 / np.sqrt(2.0))
        holders = []
        for position in candidates:
            wcs, (height, width) = self.index.wcs(position), self.index.shape(position)
            x, y, scale_x, scale_y = (float(v[0]) for v in pixel_positions(wcs, coord))
            if np.isfinite(x) and np.isfinite(y) and -0.5 <= x < width - 0.5 and -0.5 <= y < height - 0.5:
                margin = min(x + 0.5, width - 0.5 - x, y + 0.5, height - 0.5 - y)
                holders.append((margin, position, x, y, scale_x, scale_y))
        if not holders and self.index.unusable:
            # an unusable tile's footprint is unknown: it may be the one that holds the position
            bad, others = self.index.unusable[0], len(self.index.unusable) - 1
            more = f" ({others} more unusable: see 'hippo surveys {self.path}')" if others else ""
            raise InputError(self.path / bad["file"],
                             f"{bad['reason']}; this tile cannot be used and no usable tile holds the position{more}")
        if not candidates:
            return no_coverage(str(self.path), "no tile of this survey covers the position")
        if pixel_scale is not None:
            pixel_arcsec = parse_angle(pixel_scale, "--pixel-scale").to_value(u.arcsec)
            target = centred_tan_wcs(coord, odd_pixels(size_arcsec, pixel_arcsec), pixel_arcsec)
            if holders:
                best = max(holders)[1]
                single = resample_image(self._image(best), target, resampling=resampling)
                if single.status == "ok":
                    return single
            return self._mosaic(candidates, target, resampling)
        if not holders:
            # In a gap between tiles: a grid of the nearest tile's pixel size, centred exactly.
            pixel_arcsec = self.index.entries[candidates[0]]["scale"]
            target = centred_tan_wcs(coord, odd_pixels(size_arcsec, pixel_arcsec), pixel_arcsec)
            return self._mosaic(candidates, target, resampling)
        _, best, x, y, scale_x, scale_y = max(holders)
        n_x, n_y = odd_pixels(size_arcsec, scale_x), odd_pixels(size_arcsec, scale_y)
        single = cut_pixels(self._image(best), x, y, n_x, n_y)
        if single.status == "ok" or len(candidates) == 1:
            return single
        # The box hangs over the best tile's edge: mosaic on that tile's own pixel grid, so the
        # position stays within half a pixel of the centre and that tile's pixels are unchanged.
        x0 = int(np.floor(x + 0.5)) - n_x // 2
        y0 = int(np.floor(y + 0.5)) - n_y // 2
        target = shifted_wcs(self.index.wcs(best), x0, y0, shape=(n_y, n_x))
        mosaic = self._mosaic(candidates, target, resampling, on_tile_grid=True)
        return mosaic if mosaic.status != "no_coverage" else single

    def _mosaic(self, candidates, target_wcs, resampling, on_tile_grid=False):
        """The tiles resampled onto ``target_wcs`` (at once where they share a pixel grid, else one
        by one and averaged); float32, or with ``on_tile_grid`` (``target_wcs`` is a tile's own
        pixel grid) the tiles' float type, as a cutout of one tile keeps it."""
        from reproject import reproject_exact, reproject_interp
        from reproject.mosaicking import reproject_and_coadd

        shape = (target_wcs.pixel_shape[1], target_wcs.pixel_shape[0])
        inputs, used = [], []
        for position in candidates:
            image = self._image(position)
            box = source_bounding_box(image.wcs, target_wcs, shape, image.data.shape)
            if box is None:
                continue
            x0, x1, y0, y1 = box
            block = np.asarray(image.data[y0:y1, x0:x1], dtype=np.float64)
            block_wcs = shifted_wcs(image.wcs, x0, y0, shape=block.shape)
            if resampling == "exact":  # as for one file: per-pixel units (DN, counts) keep their sum
                block = block * exact_resampling_factor(image.header, target_wcs, block_wcs, shape)
            inputs.append((block, block_wcs))
            used.append(image)
        if not inputs:
            return no_coverage(str(self.path), "no tile of this survey overlaps the cutout")
        function, order = (reproject_exact if resampling == "exact" else reproject_interp), "bilinear"
        on_one_grid = _assembled_on_one_grid(inputs)
        if on_one_grid is not None:  # tiles of one image: resampled once, as that image would be
            inputs = [on_one_grid]
            if on_tile_grid:  # and the cutout's pixels are theirs: copied, as from one tile (any
                # interpolation, even at pixel centres, lets a NaN beside a pixel leak into it)
                function, order = reproject_interp, "nearest-neighbor"
        kwargs = {} if function is reproject_exact else {"order": order, "input_weights": [
            _interior_weights(block.shape) for block, _ in inputs]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, footprint = reproject_and_coadd(inputs, target_wcs, shape_out=shape,
                                                  reproject_function=function, combine_function="mean",
                                                  **kwargs)
        dtype = np.result_type(np.float32, *(image.data.dtype for image in used)) if on_tile_grid else np.float32
        data = np.where(footprint > 0, data, np.nan).astype(dtype)
        status = coverage_status(data)
        if status == "no_coverage":
            return no_coverage(str(self.path), "the tiles have no data inside the cutout")
        header = survey_header(used[0], target_wcs)
        header["NCOMBINE"] = (len(used), "tiles mosaicked into this cutout")
        cutout = Cutout(data, target_wcs, header, status, ";".join(str(Path(i.path).name) for i in used))
        return cutout


def _assembled_on_one_grid(blocks):
    """The (array, WCS) ``blocks`` put together as one array on the pixel grid they share, or
    None when they do not share one (another projection, reference point or pixel size, a
    non-integral CRPIX offset, a distortion).

    Tiles cut from one image (a survey's tiling, a user's split) share its grid. Put back
    together they interpolate across their edges as the image did; resampled one by one, a point
    between two abutting tiles' last pixel centres has no neighbour beyond either tile's edge, and
    the mosaic can only repeat an edge value there: a seam. Where tiles overlap, their pixels are
    averaged, as the mosaic would; where none has data, NaN.
    """
    reference = blocks[0][1]
    starts = []
    for _, wcs in blocks:
        start = reference.wcs.crpix - wcs.wcs.crpix  # the block's pixel (0, 0) on the reference's grid
        if reference.has_distortion or wcs.has_distortion or np.any(np.abs(start - np.round(start)) > 1e-6) \
                or not reference.wcs.compare(wcs.wcs, cmp=WCSCOMPARE_ANCILLARY | WCSCOMPARE_CRPIX):
            return None
        starts.append(np.round(start).astype(int))
    starts = np.array(starts)
    ends = starts + np.array([(block.shape[1], block.shape[0]) for block, _ in blocks])
    (x0, y0), (x1, y1) = starts.min(axis=0), ends.max(axis=0)
    total, count = np.zeros((y1 - y0, x1 - x0)), np.zeros((y1 - y0, x1 - x0))
    for (block, _), (bx, by) in zip(blocks, starts):
        window = np.s_[by - y0:by - y0 + block.shape[0], bx - x0:bx - x0 + block.shape[1]]
        finite = np.isfinite(block)
        total[window] += np.where(finite, block, 0.0)
        count[window] += finite
    with np.errstate(invalid="ignore", divide="ignore"):
        assembled = total / count
    return assembled, shifted_wcs(reference, x0, y0, shape=assembled.shape)


def _interior_weights(shape):
    """Weights for interpolating a tile into a mosaic: 1 inside, almost 0 on its outer ring of
    pixels. Bilinear interpolation within a pixel of a tile's edge has no neighbour beyond it
    (reproject repeats the edge value there); where another tile covers that sky inside its own
    edges, its value wins, and at the survey's true edge the edge value still stands alone."""
    weights = np.full(shape, 1e-12)  # below float32 resolution: a covered point keeps the interior value
    weights[1:-1, 1:-1] = 1.0
    return weights


class TileIndex:
    """Footprints of the FITS tiles of a directory: centre unit vectors, radii, WCS headers."""

    def __init__(self, directory, entries, unusable=(), not_tiles=()):
        self.directory = Path(directory)
        self.entries = entries
        self.unusable = list(unusable)  # {"file", "reason"} of tiles that cannot be used
        self.not_tiles = list(not_tiles)  # {"file", "reason"} of images that are not sky images
        self._wcs = {}
        self._vectors = _unit_vectors(np.array([e["ra"] for e in entries]), np.array([e["dec"] for e in entries]))
        self._radii = np.radians([e["radius"] for e in entries])

    @classmethod
    def load_or_build(cls, directory):
        directory = Path(directory)
        if not directory.is_dir():
            raise InputError(directory, "not a directory")
        cache_file = cache_dir("tile-index") / (hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:24]
                                                + ".json")
        previous = {}
        try:
            cached = json.loads(cache_file.read_text())
            if cached.get("version") == _INDEX_VERSION:
                previous = {entry["file"]: entry for entry in cached["entries"]}
        except (OSError, ValueError, KeyError):
            previous = {}
        entries, unusable, not_tiles, changed = [], [], [], False
        for path in sorted(_fits_files(directory)):
            relative = str(path.relative_to(directory))
            try:
                stat = path.stat()
            except OSError:  # a dangling link or a loop: no tile there
                continue
            entry = previous.get(relative)
            if entry is None or entry["size"] != stat.st_size or entry["mtime"] != stat.st_mtime_ns:
                try:
                    entry = _index_entry(path, relative, stat)
                except _NotATile as exc:
                    # read, and not a sky image (a PSF, a weight map without WCS): never a tile,
                    # so it fails no position (looked at again next time: its header alone)
                    not_tiles.append({"file": relative, "reason": str(exc)})
                    entry = None
                except InputError as exc:
                    # not cached: looked at again next time, so a repaired (or chmod-ed) tile is used
                    unusable.append({"file": relative, "reason": exc.reason})
                    entry = None
                changed = changed or entry is not None or relative in previous
            if entry is not None:
                entries.append(entry)
        changed = changed or len(entries) != len(previous)
        if not entries:
            if unusable:
                more = ", ..." if len(unusable) > 1 else ""
                raise InputError(directory, f"no usable FITS tile: {len(unusable)} cannot be used "
                                            f"({unusable[0]['file']}: {unusable[0]['reason']}{more})")
            raise InputError(directory, "no FITS image with a celestial WCS in this directory")
        if changed:
            from hippo.io import atomic_write_text

            try:
                atomic_write_text(cache_file, json.dumps({"version": _INDEX_VERSION, "directory": str(directory),
                                                          "entries": entries}))
            except (OSError, InputError):
                pass  # an unwritable cache costs a re-index next time, nothing else
        return cls(directory, entries, unusable, not_tiles)

    def candidates(self, coord, extra_radius_deg):
        """Tiles whose footprint circle comes within ``extra_radius_deg`` of ``coord``, nearest first."""
        icrs = coord.icrs
        vector = _unit_vectors(np.atleast_1d(icrs.ra.deg), np.atleast_1d(icrs.dec.deg))[0]
        distance = np.arccos(np.clip(self._vectors @ vector, -1.0, 1.0))
        near = np.flatnonzero(distance <= self._radii + np.radians(extra_radius_deg))
        return [int(i) for i in near[np.argsort(distance[near])]]

    def nearest(self, coords):
        """Index of the tile whose centre is nearest to each of ``coords``."""
        icrs = coords.icrs
        vectors = _unit_vectors(np.atleast_1d(icrs.ra.deg), np.atleast_1d(icrs.dec.deg))
        return np.argmax(vectors @ self._vectors.T, axis=1)

    def wcs(self, position):
        if position not in self._wcs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FITSFixedWarning)
                wcs = WCS(fits.Header.fromstring(self.entries[position]["wcs"]), naxis=2)
            wcs.pixel_shape = tuple(reversed(self.shape(position)))
            self._wcs[position] = wcs
        return self._wcs[position]

    def shape(self, position):
        entry = self.entries[position]
        return entry["ny"], entry["nx"]

    def area_deg2(self):
        return float(sum(e["nx"] * e["ny"] * (e["scale"] / 3600.0) ** 2 for e in self.entries))


def _fits_files(directory):
    for root, _, files in os.walk(directory):
        for name in files:
            if is_fits_name(name) and not name.startswith("."):
                yield Path(root) / name


class _NotATile(Exception):
    """A FITS image that was read and is not a sky image (no celestial WCS): not part of the survey."""


def _index_entry(path, relative, stat):
    """Footprint of one tile from its header alone (compressed tiles are not decompressed); None
    for a FITS file that holds no image (a table: not part of the survey). An image read whole
    whose WCS is not celestial (a PSF, a weight map without WCS) raises _NotATile. A file that
    should be a tile and cannot be used (unreadable, truncated, a WCS card that cannot be parsed,
    a celestial WCS with no finite footprint) raises InputError saying why."""
    try:
        header = _image_header(path)
    except Exception as exc:
        raise InputError(path, _unreadable_reason(path, exc)) from None
    if header is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(header, naxis=2).celestial
    except Exception as exc:
        raise InputError(path, f"WCS in the header cannot be read ({short_reason(exc)})") from None
    if wcs.naxis != 2 or not wcs.has_celestial:
        raise _NotATile("no celestial WCS")
    nx, ny = int(header["NAXIS1"]), int(header["NAXIS2"])
    wcs.pixel_shape = (nx, ny)
    xs = np.array([(nx - 1) / 2, -0.5, nx - 0.5, nx - 0.5, -0.5, (nx - 1) / 2, (nx - 1) / 2, -0.5, nx - 0.5])
    ys = np.array([(ny - 1) / 2, -0.5, -0.5, ny - 0.5, ny - 0.5, -0.5, ny - 0.5, (ny - 1) / 2, (ny - 1) / 2])
    try:
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore")
            lon, lat = native_to_icrs(wcs, *wcs.all_pix2world(xs, ys, 0))  # the index keeps ICRS centres
            lon_rad, lat_rad = np.radians(lon), np.radians(lat)
            radius = float(np.degrees(np.nanmax(angular_separation(lon_rad[0], lat_rad[0], lon_rad[1:],
                                                                   lat_rad[1:]))))
            scales = proj_plane_pixel_scales(wcs) * 3600.0
    except Exception as exc:
        raise InputError(path, f"WCS in the header cannot be used ({short_reason(exc)})") from None
    if not np.isfinite(radius) or not np.all(np.isfinite(scales)) or not np.isfinite(lon[0] + lat[0]):
        raise InputError(path, "its WCS does not place the image on the sky (no finite footprint)")
    return {"file": relative, "size": stat.st_size, "mtime": stat.st_mtime_ns,
            "ra": float(lon[0] % 360.0), "dec": float(lat[0]), "radius": radius,
            "nx": nx, "ny": ny, "scale": float(np.sqrt(scales[0] * scales[1])),
            "radio": is_radio_header(header),
            "wcs": printable(wcs.to_header_string(relax=True))}


def _unreadable_reason(path, exc):
    """Why a tile's header cannot be read: what read_image says of the file (the reason a cut
    from it alone gives: no permission, empty, truncated...), else the header reader's error."""
    try:
        read_image(path, check_finite=False)  # the header or the file is at fault, not the pixels
    except InputError as error:
        return error.reason
    except Exception:
        pass
    return f"header cannot be read ({short_reason(exc)})"


_WCS_OR_IMAGE_CARD = re.compile(
    r"^(NAXIS\d*|CTYPE\d|CRPIX\d|CRVAL\d|CDELT\d|CUNIT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|PS\d_\d+|"
    r"LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|MJD-OBS|DATE-OBS|WCSAXES|A_\w+|B_\w+|AP_\w+|BP_\w+|"
    r"BUNIT|BMAJ|BMIN|BPA)$")


def _image_header(path):
    """The WCS and image cards of the first image HDU, read as raw header blocks.

    Tile-compressed (``.fits.fz``) headers are read as they are stored (ZNAXISn give the image
    size), so indexing a thousand tiles does not decompress or verify anything.
    """
    import gzip

    opener = gzip.open if str(path).lower().endswith(".gz") else open
    with opener(path, "rb") as stream:
        for hdu in range(8):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    raw = fits.Header.fromfile(stream)
            except EOFError:
                if hdu == 0 or (opener is open and os.fstat(stream.fileno()).st_size % FITS_BLOCK_BYTES):
                    raise  # empty, or cut short after an HDU
                return None  # the file ends after its last HDU: it holds no image
            compressed = bool(raw.get("ZIMAGE", False))
            prefix = "ZNAXIS" if compressed else "NAXIS"
            naxis = int(raw.get(prefix, 0))
            shape = [int(raw.get(f"{prefix}{i}", 0)) for i in range(1, naxis + 1)]
            if (compressed or raw.get("XTENSION", "IMAGE").strip() in ("IMAGE", "")) and naxis >= 2 \
                    and all(n > 0 for n in shape) and all(n == 1 for n in shape[2:]):
                header = fits.Header([card for card in raw.cards if _WCS_OR_IMAGE_CARD.match(card.keyword)
                                      and not card.keyword.startswith("NAXIS")])
                header["NAXIS"] = 2
                header["NAXIS1"], header["NAXIS2"] = shape[0], shape[1]
                return header
            bits = abs(int(raw.get("BITPIX", 8)))
            count = int(np.prod([int(raw.get(f"NAXIS{i}", 0)) for i in range(1, int(raw.get("NAXIS", 0)) + 1)])) \
                if int(raw.get("NAXIS", 0)) else 0
            size = bits // 8 * int(raw.get("GCOUNT", 1)) * (int(raw.get("PCOUNT", 0)) + count)
            stream.seek(size + (-size % FITS_BLOCK_BYTES), 1)
    return None


def _unit_vectors(ra_deg, dec_deg):
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
