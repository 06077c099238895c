"""``hippo.cutout``: cutouts of one position or a whole catalogue from several surveys, with an index."""

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord, angular_separation
from astropy.io import fits
from astropy.table import Table

from hippo.cutouts.cut import RESAMPLING, cutout_pixels, render_card, write_cutout
from hippo.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, HippoError, UsageError
from hippo.io.images import printable
from hippo.quantities import parse_angle

log = logging.getLogger("hippo")

INDEX_NAME = "cutouts.csv"
INDEX_COLUMNS = ("name", "survey", "ra", "dec", "path", "status", "message")
# Before the reason, in a row's message and on stderr, when a source's overlay is not drawn
# (the batch merge finds overlay failures by it).
OVERLAY_NOT_WRITTEN = "overlay not written: "
_UNSAFE = re.compile(r"[^A-Za-z0-9+\-_.]")
# A cutout on disk is kept only if its requested position is this close to the new one: far below
# any survey's pixel, far above the rounding of the position written in its header.
_SAME_POSITION_ARCSEC = 1e-3


def cutout(ra=None, dec=None, name=None, catalogue=None, survey=(), size="4.5arcmin", pixel_scale=None,
           reproject_to=None, overlay=False, output="cutouts", store=None, workers=None, quiet=False,
           resampling="interp", ra_col=None, dec_col=None, id_col=None, offline=None, timeout=60.0,
           retries=2, overwrite=False):
    """Cut every position from every survey and write ``OUTPUT/<name>/<survey>.fits`` and an index.

    Parameters
    ----------
    ra, dec : float, str or sequence, optional
        One position (or equal-length sequences of positions), degrees or sexagesimal.
    name : str or sequence, optional
        Source name(s); default the IAU-style ``Jhhmmss.ss+ddmmss.s``.
    catalogue : str, Path or astropy Table, optional
        Table of positions instead of ``ra``/``dec`` (columns found as SPEC says). Rows with bad
        positions are reported (status ``error``) and skipped.
    survey : str, Survey or sequence of them
        Remote names (``FIRST``, ``NVSS``, ``DSS2``, ``WISE``...), FITS paths or tile directories.
    size : str, Quantity or float
        Width and height (default ``4.5arcmin``; plain numbers are arcsec).
    pixel_scale : str, Quantity, float or None
        Resample every survey onto a north-up TAN grid of this pixel size, centred exactly on the
        position (a common grid for all surveys of a source).
    reproject_to : str or None
        Put every survey on the grid of this survey: its pixel size (unless ``pixel_scale`` is
        given), centred exactly on the position.
    overlay : bool
        Also write ``OUTPUT/<name>/overlay.png``: radio surveys as contours on the first
        non-radio survey (needs ``hippo.overlays``).
    output : str or Path
        Output directory.
    store : str, Store or None
        Also record sources, cutouts and the run's provenance in the catalogue store.
    workers : int or None
        Parallel workers (threads); default 4 when a remote survey is used, else 1.
    quiet : bool
        No progress bar.
    resampling : {"interp", "exact"}
        When resampling: bilinear interpolation (display) or flux-conserving (photometry).
    ra_col, dec_col, id_col : str, optional
        Catalogue columns, when they cannot be found by UCD or name.
    offline, timeout, retries
        Remote surveys: cache only; seconds per answer; further attempts after a failure.
    overwrite : bool
        Cut again even where a finished cutout exists. A re-run otherwise keeps a cutout only when
        everything that decides its pixels is the same: position, size, pixel scale, resampling
        and the survey input (its resolved path, size and modification time).

    Returns
    -------
    astropy.table.Table
        The index written to ``OUTPUT/cutouts.csv``: ``name, survey, ra, dec, path, status,
        message``; status ``ok``, ``partial``, ``no_coverage`` (no file) or ``error`` (the
        message says why; a cutout an earlier run wrote there is kept, and the row's ``path`` names
        it). ``meta["failed"]`` counts the errors, ``meta["overlays_failed"]`` the overlays that
        could not be drawn (said in the message of their source's rows).

    Raises
    ------
    UsageError
        Bad options, an output path that cannot be a directory, or a cutout larger than
        ``MAX_CUTOUT_PIXELS`` (16384) pixels a side.
    """
    from hippo.archive import get_survey

    if resampling not in RESAMPLING:
        raise UsageError(f"--resampling {resampling!r}: use one of {', '.join(RESAMPLING)}")
    size_arcsec = parse_angle(size, "--size").to_value(u.arcsec)
    surveys_given = [survey] if isinstance(survey, (str, Path)) or not np.iterable(survey) else list(survey)
    if not surveys_given:
        raise UsageError("--survey: name at least one survey (see 'hippo surveys')")
    survey_objects = [get_survey(s, timeout=timeout, retries=retries, offline=offline) for s in surveys_given]
    _check_unique_labels(survey_objects)
    pixel_arcsec = None if pixel_scale is None else parse_angle(pixel_scale, "--pixel-scale").to_value(u.arcsec)
    if reproject_to is not None and pixel_arcsec is None:
        grid_survey = next((s for s, given in zip(survey_objects, surveys_given) if str(given) == str(reproject_to)
                            or s.name == str(reproject_to)), None)
        if grid_survey is None:
            grid_survey = get_survey(reproject_to, offline=offline, option="--reproject-to")
        pixel_arcsec = float(grid_survey.pixel_scale_arcsec)
    _check_cutout_sizes(survey_objects, size, size_arcsec, pixel_scale, pixel_arcsec)
    overlay_function = _overlay_function() if overlay else None

    names, coords, rejected, source_inputs = _positions(ra, dec, name, catalogue, ra_col, dec_col, id_col)
    output = Path(output)
    _make_output_directory(output)
    object_names = [str(n).strip() for n in names]
    names = _unique_safe_names(names)
    # OBJECT keeps the name as given ("3C 123"), unless it had to be told apart from a duplicate
    object_names = [given if _UNSAFE.sub("_", given) == safe else safe for given, safe in zip(object_names, names)]

    from hippo.provenance import fits_provenance_cards

    parameters = {"size_arcsec": size_arcsec, "pixel_scale_arcsec": pixel_arcsec, "resampling": resampling,
                  "reproject_to": reproject_to}
    provenance = fits_provenance_cards("cutout", {k: v for k, v in parameters.items() if v is not None})
    previous = _previous_index(output / INDEX_NAME)
    overlays_written = []  # store rows of the overlays this run writes

    def run():
        rows = {}
        has_remote = any(s.kind == "remote" for s in survey_objects)
        n_workers = int(workers) if workers else (4 if has_remote else 1)
        from hippo.progress import progress

        bar = progress(total=len(survey_objects) * len(names), desc="cutouts", quiet=quiet, unit="cutout")
        job = _Job(output, names, coords, size_arcsec, pixel_arcsec, resampling, provenance, overwrite,
                   object_names)
        try:
            if n_workers <= 1:
                for survey_obj in survey_objects:
                    for index, row in job.cut_survey(survey_obj, range(len(names))):
                        rows[(index, survey_obj.name)] = row
                        bar.update(1)
            else:
                chunks = [(s, chunk) for s in survey_objects
                          for chunk in np.array_split(np.arange(len(names)), min(len(names), n_workers * 4))
                          if len(chunk)]
                with ThreadPoolExecutor(max_workers=n_workers) as pool:
                    for results in pool.map(lambda item: list(job.cut_survey(*item, bar=bar)), chunks):
                        for index, row in results:
                            rows[(index, row["survey"])] = row
        finally:
            bar.close()
            job.remove_empty_folders()
        cut_rows = [rows[(i, s.name)] for i in range(len(names)) for s in survey_objects]
        rejected_rows = [{"name": bad_name, "survey": survey_obj.name, "ra": np.nan, "dec": np.nan, "path": "",
                          "status": "error", "message": f"row {row_number}: {reason}"}
                         for row_number, bad_name, reason in rejected for survey_obj in survey_objects]
        overlays_failed = 0
        if overlay_function is not None:
            written, overlays_failed = _make_overlays(overlay_function, cut_rows, survey_objects, output)
            overlays_written.extend(written)
        index_table = _index_table(cut_rows + rejected_rows)
        _write_index(index_table, output / INDEX_NAME, previous)
        failed = int(np.sum(index_table["status"] == "error"))
        index_table.meta["failed"] = failed
        index_table.meta["overlays_failed"] = overlays_failed
        for row in cut_rows:
            if row["status"] == "error":
                log.warning("error: %s (%s): %s", row["name"], row["survey"], row["message"])
        for row_number, bad_name, reason in rejected:  # once, not once for each survey
            log.warning("error: %s: row %s: %s", bad_name, row_number, reason)
        return index_table

    if store is None:
        return run()
    from hippo.store import store_session

    inputs = [p for p in [catalogue, *surveys_given] if isinstance(p, (str, Path)) and Path(p).exists()]
    with store_session(store) as database, database.run(
            "cutout", {**parameters, "surveys": [str(s) for s in surveys_given], "output": str(output)},
            inputs=inputs) as recorded:
        table = run()
        store_cutout_rows(database, table, recorded.id, source_inputs, size_arcsec, pixel_arcsec)
        database.insert("overlays", overlays_written, run_id=recorded.id)
        recorded.exit_status = exit_status(table)
    return table


def exit_status(table):
    """SPEC's exit status of a cutout run from its index: 0 when nothing failed, 2 when every
    cutout failed (nothing could be done), 3 when some did or a requested overlay was not written."""
    failed = int(np.sum(table["status"] == "error"))
    if not failed:
        return EXIT_PARTIAL if table.meta.get("overlays_failed") else EXIT_OK
    return EXIT_USAGE if failed == len(table) else EXIT_PARTIAL


def _check_cutout_sizes(survey_objects, size, size_arcsec, pixel_scale, pixel_arcsec):
    """Refuse, before any work, a cutout more than MAX_CUTOUT_PIXELS a side on any survey's grid."""
    if pixel_arcsec is not None:
        option = f"--size {size}" if pixel_scale is None else f"--size {size} with --pixel-scale {pixel_scale}"
        cutout_pixels(size_arcsec, pixel_arcsec, option)
        return
    for survey_obj in survey_objects:
        try:
            native_arcsec = float(survey_obj.pixel_scale_arcsec)
        except Exception:  # an unreadable survey: each of its cutouts reports why
            continue
        if np.isfinite(native_arcsec) and native_arcsec > 0:
            cutout_pixels(size_arcsec, native_arcsec, f"--size {size} on {survey_obj.name}")


def _make_output_directory(output):
    """Create the output directory, or a UsageError naming it and the reason (nothing written)."""
    if output.exists() and not output.is_dir():
        raise UsageError(f"-o {output}: exists and is not a directory")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"-o {output}: cannot create the directory ({exc.strerror or exc})") from None
    if not os.access(output, os.W_OK | os.X_OK):
        raise UsageError(f"-o {output}: the directory is not writable")


def store_cutout_rows(database, table, run_id, origin, size_arcsec, pixel_arcsec):
    """The store rows of a cutout run (local or a merged batch): its sources, and every cutout
    that did not fail with its size and pixel scale. Paths are stored absolute: the store is
    read from other directories (hippo inspect, a notebook)."""
    good = table[table["status"] != "error"]
    sources = {}
    for row in good:
        sources.setdefault(row["name"], {"source": row["name"], "ra": row["ra"], "dec": row["dec"], "origin": origin})
    database.insert("sources", list(sources.values()), run_id=run_id, replace_on="source")
    return database.insert("cutouts", [{"source": row["name"], "survey": row["survey"], "ra": row["ra"],
                                        "dec": row["dec"], "path": str(Path(row["path"]).absolute()) if row["path"] else None,
                                        "status": row["status"],
                                        "size_arcsec": size_arcsec, "pixel_scale_arcsec": pixel_arcsec}
                                       for row in good], run_id=run_id)


class _Job:
    """One run's settings; cuts a survey at a set of positions and writes the files."""

    def __init__(self, output, names, coords, size_arcsec, pixel_arcsec, resampling, provenance, overwrite,
                 object_names=None):
        self.output, self.names, self.coords = output, names, coords
        self.object_names = names if object_names is None else object_names
        self.ra, self.dec = np.asarray(coords.ra.deg, float), np.asarray(coords.dec.deg, float)
        self._constant_cards, self._identities, self._new_folders = {}, {}, set()
        self.size_arcsec, self.pixel_arcsec, self.resampling = size_arcsec, pixel_arcsec, resampling
        self.provenance, self.overwrite = provenance, overwrite

    def cut_survey(self, survey_obj, indices, bar=None):
        """Yield ``(index, row)`` for each position index; finished cutouts of an earlier run are kept."""
        indices = list(indices)
        todo = []
        for index in indices:
            done = None if self.overwrite else self._finished(survey_obj, index)
            if done is not None:
                yield index, done
                if bar is not None:
                    bar.update(1)
            else:
                todo.append(index)
        if not todo:
            return
        coords = self.coords[todo]
        pixel_scale = None if self.pixel_arcsec is None else self.pixel_arcsec * u.arcsec
        size = self.size_arcsec * u.arcsec
        # cutouts() hands a failed cut (bad tile, failed download) back as status "error", in order
        for index, result in zip(todo, survey_obj.cutouts(coords, size, pixel_scale, self.resampling)):
            try:
                row = self._write(survey_obj, index, result)
            except Exception as exc:  # the cutout could not be written: that row fails, the batch goes on
                reason = str(exc) if isinstance(exc, HippoError) else f"{type(exc).__name__}: {exc}"
                row = self._failed(survey_obj, index, reason)
            yield index, row
            if bar is not None:
                bar.update(1)

    def _path(self, survey_obj, index):
        return self.output / self.names[index] / f"{_UNSAFE.sub('_', survey_obj.name)}.fits"

    def _row(self, survey_obj, index, path, status, message=""):
        return {"name": self.names[index], "survey": survey_obj.name, "ra": float(self.ra[index]),
                "dec": float(self.dec[index]), "path": str(path), "status": status, "message": message}

    def _finished(self, survey_obj, index):
        """The row of a cutout already on disk that this run would cut the same, else None.

        Everything that decides its pixels must match: position, size, pixel scale, resampling,
        the survey input (resolved path, size, modification time) and a finished status.
        """
        path = self._path(survey_obj, index)
        if not path.exists():
            return None
        try:
            header = fits.getheader(path)
            separation_arcsec = np.degrees(angular_separation(
                *np.radians([header["HIPPORA"], header["HIPPODEC"], self.ra[index], self.dec[index]]))) * 3600.0
        except Exception:
            return None  # unreadable, or written without the cards: cut again
        same_position = separation_arcsec < _SAME_POSITION_ARCSEC
        same_size = np.isclose(header.get("HIPPOSIZ", -1.0), self.size_arcsec)
        if self.pixel_arcsec is None:
            same_grid = "HIPPOPXS" not in header
        else:
            same_grid = (np.isclose(header.get("HIPPOPXS", -1.0), self.pixel_arcsec)
                         and header.get("HIPPORES") == self.resampling)
        identity = self._survey_identity(survey_obj)
        same_survey = identity is not None and header.get("HIPPOSRC") == identity
        if not (same_position and same_size and same_grid and same_survey
                and header.get("CUTSTAT") in ("ok", "partial")):
            return None
        return self._row(survey_obj, index, path, header["CUTSTAT"], "kept from an earlier run")

    def _survey_identity(self, survey_obj):
        """What the survey input is now, as written in HIPPOSRC: a file's resolved path, size and
        modification time; a tile directory's path and a digest of its tiles' names, sizes and
        times; a remote survey's name. None when the input cannot be examined."""
        if survey_obj.name not in self._identities:
            try:
                self._identities[survey_obj.name] = printable(survey_obj.identity())
            except Exception:  # unreadable or gone: nothing is kept, each cut reports why
                self._identities[survey_obj.name] = None
        return self._identities[survey_obj.name]

    def _failed(self, survey_obj, index, reason):
        """The row of a cut or a write that failed. An earlier run's cutout there (perhaps of
        another size, grid or survey input) must neither be lost (a survey unreadable for now must
        not cost a good product) nor pass for this run's (classify reads the folder): it is
        renamed, atomically, to ``<name>.fits.previous`` (not a FITS name, so classify and batch
        skip it; an older one there is replaced), and the row has no path and says where it went.
        A later successful cut leaves the ``.previous`` file alone."""
        path = self._path(survey_obj, index)
        if path.is_file():
            previous = path.with_name(path.name + ".previous")
            try:
                os.replace(path, previous)
            except OSError as exc:
                reason += f"; the earlier cutout {path} could not be moved aside ({exc.strerror or exc}): " \
                          "it is not this run's"
            else:
                reason += f"; the earlier cutout was moved to {previous}"
        return self._row(survey_obj, index, "", "error", reason)

    def remove_empty_folders(self):
        """Remove the source folders this run made and left empty (every write to them failed)."""
        for folder in self._new_folders:
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty: it holds another survey's cutout

    def _write(self, survey_obj, index, result):
        if result.status == "error":
            return self._failed(survey_obj, index, result.message)
        if result.status == "no_coverage":
            # An earlier run's file under this name would pass for this run's (classify reads the
            # folder): the survey has no data there now, so there is no file.
            self._path(survey_obj, index).unlink(missing_ok=True)
            return self._row(survey_obj, index, "", result.status, result.message)
        cards = [render_card("OBJECT", self.object_names[index], "source name"),
                 render_card("HIPPORA", float(self.ra[index]), "[deg] requested RA (ICRS)"),
                 render_card("HIPPODEC", float(self.dec[index]), "[deg] requested Dec (ICRS)"),
                 render_card("ORIGFILE", str(result.origin), "where the pixels came from"),
                 render_card("CUTSTAT", result.status, "ok, partial (NaN-padded)")]
        path = self._path(survey_obj, index)
        if not path.parent.exists():
            self._new_folders.add(path.parent)
        write_cutout(result, path, cards + self._survey_cards(survey_obj))
        message = ""
        if result.status == "partial":
            blank = int(np.count_nonzero(~np.isfinite(result.data)))
            message = result.message or f"{blank} of {result.data.size} pixels without data (image or survey edge)"
        return self._row(survey_obj, index, path, result.status, message)

    def _survey_cards(self, survey_obj):
        """The cards every cutout of this survey in this run carries, rendered once."""
        if survey_obj.name not in self._constant_cards:
            cards = [("HIPPOSIZ", self.size_arcsec, "[arcsec] requested size"),
                     ("HIPPOSRV", survey_obj.name, "survey")]
            if self.pixel_arcsec is not None:
                cards.append(("HIPPOPXS", self.pixel_arcsec, "[arcsec] resampled pixel size"))
                cards.append(("HIPPORES", self.resampling, "resampling: interp or exact (flux-conserving)"))
            rendered = [render_card(k, v, c) for k, v, c in cards + list(self.provenance)]
            identity = self._survey_identity(survey_obj)
            if identity is not None:
                # the survey input, compared whole on re-runs: may need CONTINUE cards, so no comment
                rendered.append(fits.Card("HIPPOSRC", identity).image)
            self._constant_cards[survey_obj.name] = rendered
        return self._constant_cards[survey_obj.name]


def _positions(ra, dec, name, catalogue, ra_col, dec_col, id_col):
    """(names, SkyCoord array, rejected rows, description of the input) from ra/dec or a catalogue."""
    from hippo.io import iau_name, parse_coordinate, read_positions

    if catalogue is not None:
        if ra is not None or dec is not None:
            raise UsageError("give either --ra/--dec or --catalogue, not both")
        positions = read_positions(catalogue, ra_col, dec_col, id_col)
        coords = SkyCoord(np.asarray(positions.table["ra"], float) * u.deg,
                          np.asarray(positions.table["dec"], float) * u.deg, frame="icrs")
        names = [str(n) for n in positions.table["name"]]  # blank and masked ids are IAU names already
        return names, coords, positions.rejected, str(catalogue) if not isinstance(catalogue, Table) else "table"
    if ra is None or dec is None:
        raise UsageError("give a position (--ra and --dec) or a catalogue (--catalogue)")
    ras = list(ra) if np.iterable(ra) and not isinstance(ra, str) else [ra]
    decs = list(dec) if np.iterable(dec) and not isinstance(dec, str) else [dec]
    if len(ras) != len(decs):
        raise UsageError(f"--ra and --dec: {len(ras)} RAs but {len(decs)} Decs")
    parsed = [parse_coordinate(r, d, source="--ra/--dec") for r, d in zip(ras, decs)]
    coords = SkyCoord([c.ra.deg for c in parsed] * u.deg, [c.dec.deg for c in parsed] * u.deg, frame="icrs")
    if name is None:
        names = [iau_name(c) for c in parsed]
    else:
        names = [name] if isinstance(name, str) else list(name)
        if len(names) != len(parsed):
            raise UsageError(f"--name: {len(names)} names for {len(parsed)} positions")
        names = [_name_or_iau(n, c) for n, c in zip(names, parsed)]
    return names, coords, [], "command line"


def _name_or_iau(name, coord):
    """``name`` (from --name), or the IAU-style name of ``coord`` where it is blank."""
    from hippo.io import iau_name

    text = "" if name is None else str(name).strip()
    return text or iau_name(coord)


def folder_name(name):
    """The directory a source's cutouts go to: its name with anything but letters, digits and
    ``+-_.`` replaced by ``_`` (``NGC 315`` -> ``NGC_315``)."""
    safe = _UNSAFE.sub("_", str(name).strip()) or "source"
    return "source" if safe in (".", "..") else safe


def _unique_safe_names(names):
    """Folder names for ``names``; repeats get ``_2``, ``_3``... (skipping any that another source
    is called: ``a, a, a_2`` -> ``a, a_3, a_2``), so no cutout overwrites another."""
    folders = [folder_name(raw) for raw in names]
    taken, used, result = set(folders), set(), []
    for folder in folders:
        unique, count = folder, 1
        while unique in used or (count > 1 and unique in taken):
            count += 1
            unique = f"{folder}_{count}"
        used.add(unique)
        result.append(unique)
    return result


def _check_unique_labels(survey_objects):
    labels = [s.name for s in survey_objects]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise UsageError(f"--survey: two surveys would both be written as {duplicates[0]}.fits; "
                         "configure distinct names (HIPPO_SURVEYS=NAME=PATH)")


def _previous_index(path):
    """Rows of an earlier run's index by (name, survey), as text, read leniently."""
    import csv

    if not path.exists():
        return {}
    try:
        with open(path, newline="") as stream:
            rows = list(csv.DictReader(stream))
    except (OSError, csv.Error, UnicodeDecodeError):
        return {}
    return {(row["name"], row["survey"]): row for row in rows
            if row.get("name") is not None and row.get("survey") is not None}


def _index_table(rows):
    table = Table(rows=[[row[c] for c in INDEX_COLUMNS] for row in rows] or None, names=INDEX_COLUMNS,
                  dtype=[str, str, float, float, str, str, str])
    return table


def _write_index(table, path, previous):
    """Write the index; rows of earlier runs for other (name, survey) pairs are kept."""
    from hippo.io import write_table

    current = {(str(r["name"]), str(r["survey"])) for r in table}
    kept = [row for key, row in previous.items() if key not in current]
    merged = table
    if kept:
        older = _index_table([{c: _number_or_text(c, row.get(c) or "") for c in INDEX_COLUMNS} for row in kept])
        from astropy.table import vstack

        merged = vstack([older, table])
    write_table(merged, path)


def _number_or_text(column, text):
    if column in ("ra", "dec"):
        try:
            return float(text)
        except ValueError:
            return float("nan")
    return text


def _overlay_function():
    try:
        from hippo.overlays import overlay
    except ImportError:
        raise UsageError("--overlay: hippo.overlays is not available in this version") from None
    return overlay


def _make_overlays(overlay_function, rows, survey_objects, output):
    """One overlay per source: radio surveys as contours on the first non-radio survey's image.
    Returns the ``overlays`` store rows of the figures written and how many could not be drawn;
    a figure that cannot be drawn is said in the message of each of its source's rows."""
    by_source, written, failed = {}, [], 0
    for row in rows:
        if row["status"] in ("ok", "partial") and row["path"]:
            by_source.setdefault(row["name"], []).append(row)
    used = {row["survey"] for source_rows in by_source.values() for row in source_rows}
    radio = {s.name: bool(s.is_radio) for s in survey_objects if s.name in used}  # (a failed survey may not say)
    for source, source_rows in by_source.items():
        ordered = sorted(source_rows, key=lambda r: [s.name for s in survey_objects].index(r["survey"]))
        images = [r for r in ordered if not radio[r["survey"]]]
        base = images[0] if images else ordered[0]
        contours = [r["path"] for r in ordered if r is not base and radio[r["survey"]]]
        try:
            path = overlay_function(base["path"], contours=contours, output=output / source / "overlay.png",
                                    title=source)
        except Exception as exc:  # that figure fails, the others are drawn
            reason = str(exc) if isinstance(exc, HippoError) else f"{type(exc).__name__}: {exc}"
            log.warning("error: %s: %s%s", source, OVERLAY_NOT_WRITTEN, reason)
            for row in source_rows:
                row["message"] = "; ".join(filter(None, [row["message"], f"{OVERLAY_NOT_WRITTEN}{reason}"]))
            failed += 1
            continue
        written.append({"source": source, "path": str(path), "image": str(base["path"]),
                        "contours": ";".join(str(c) for c in contours)})
    return written, failed
