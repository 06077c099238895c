"""Cross-matching radio sources to optical/IR counterparts: nearest, symmetric best, likelihood ratio.

``xmatch`` reads both catalogues (memory-mapped FITS columns where it can), optionally groups
multi-component radio sources, finds every candidate within the radius by a sky-partitioned
zone search (``zones``), and keeps pairs by the chosen method. Heavy imports stay out of this
path so that ``hippo xmatch`` starts quickly.
"""

import logging
import re

import numpy as np

from hippo.crossmatch.catalogue import (ERROR_PAIRS, ERROR_SINGLE, FITS_SUFFIXES, FLUX_NAMES, MAG_NAMES, SIZE_NAMES,
                                       as_text, read_catalogue)
from hippo.crossmatch.positional import nearest, symmetric_best
from hippo.crossmatch.zones import ZoneIndex
from hippo.errors import EXIT_PARTIAL, InputError, UsageError
from hippo.quantities import angle_arcsec

METHODS = ("nn", "best", "lr")
SPEC_COLUMNS = ("radio_id", "optical_id", "separation_arcsec", "rank", "lr", "reliability")
# Single components larger than this, and than this many beams, are flagged: their radio position
# need not mark the host (Williams et al. 2019 send such LoTSS sources, 15" at a 6" beam, to visual
# inspection). Relative to the beam, or at NVSS/RACS resolution every source would be "extended".
EXTENDED_ARCSEC = 15.0
EXTENDED_BEAMS = 2.0
# The beam is the median component size (as grouping takes it), once there are enough components to say.
MIN_COMPONENTS_FOR_BEAM = 10
# A second accepted candidate with at least this fraction of the best LR makes the choice ambiguous.
AMBIGUOUS_LR_FRACTION = 0.5
# Groups: positional sigma grows with the group's size (its centre or core only approximates the host).
GROUP_SIGMA_PER_EXTENT = 0.1
GROUP_MAX_RADIUS_ARCSEC = 30.0
# Radio positional sigma per axis when the catalogue states none (a faint source at 5-6" resolution).
DEFAULT_RADIO_SIGMA_ARCSEC = 1.0

# A larger radius is a typo (a unit left out): no counterpart is that far from its source, and the
# search would compare almost every pair of the two catalogues.
MAX_RADIUS_DEG = 10.0
# Rows left out for want of a position are named one per line up to this many, then counted.
LEFT_OUT_LINES = 20

log = logging.getLogger("hippo.crossmatch")


def xmatch(radio, optical, method="nn", radius="5arcsec", mag_col=None, output=None, store=None,
           radio_ra_col=None, radio_dec_col=None, radio_id_col=None,
           optical_ra_col=None, optical_dec_col=None, optical_id_col=None,
           radio_err=None, optical_err=None, astrometric_floor="0.5arcsec", lr_threshold="balanced",
           group=False, flux_col=None, size_col=None, as_columns=False):
    """Match radio sources to optical/IR counterparts.

    Parameters
    ----------
    radio, optical : str, Path or astropy Table
        Catalogues with RA/Dec (degrees or sexagesimal); columns found as SPEC says, or named.
    method : {"nn", "best", "lr"}
        ``nn``: nearest counterpart within ``radius``; ``best``: only pairs that are each other's
        nearest within ``radius`` (unlike STILTS ``find=best``, no greedy pairing of the rest);
        ``lr``: likelihood ratio with per-candidate reliability (Sutherland & Saunders 1992;
        q(m), n(m), Q0 estimated from the data).
    radius : str, float or Quantity
        Search radius (``"5arcsec"``; plain numbers are arcsec).
    mag_col : str or None
        Optical magnitude column for ``lr`` (default: a column named ``mag``; without one the
        likelihood ratio is purely positional).
    output : str or None
        Table to write (by extension); None writes nothing.
    store : str, Store or None
        Also record the run and the pairs in the catalogue store (table ``xmatches``).
    radio_err, optical_err : str, float or None
        Positional errors for ``lr``: one column (circular), two columns ``"E_RA,E_DEC"``, or an
        angle (``"1arcsec"``) for every source. Default: found by name (``E_RA``/``E_DEC``,
        ``ra_err``/``dec_err``, ``e_RAJ2000``/``e_DEJ2000``, ``sigma``, ...); columns without a unit
        are in arcsec. Radio catalogues without them get 1 arcsec per axis, with a warning;
        optical errors are optional. A NaN, masked, zero or negative error gets the column's median.
    astrometric_floor : str or float
        Systematic mismatch between the two catalogues' astrometry, added in quadrature to the
        errors on each axis (default 0.5 arcsec).
    lr_threshold : "balanced" or float
        Accept candidates with LR at least this; ``"balanced"`` picks the threshold where the
        estimated completeness and reliability are equal. Both estimates are in ``meta``.
    group : bool
        Group multi-component radio sources (needs flux and major-axis columns) and match each
        group from its core or flux-weighted centre; groups are flagged ``multi_component``.
    flux_col, size_col : str or None
        Radio flux and major-axis (arcsec) columns for grouping (default: found by name).
    as_columns : bool
        Return ``(columns, meta)``, a dict of numpy arrays and the metadata, instead of a Table
        (what the command line uses: no astropy.table import on its way).

    Returns
    -------
    astropy.table.Table
        One row per accepted pair: radio_id, optical_id, separation_arcsec, rank, lr,
        reliability (``lr``, ``reliability`` masked for positional methods), then flag
        (``ok``, ``multi_component``, ``extended`` or ``ambiguous``), radio_ra, radio_dec,
        optical_ra, optical_dec and, with ``group``, components. ``meta`` holds the method,
        radius, the input catalogues and their id columns and, for ``lr``, the error and magnitude
        columns used, Q0, the threshold and the estimated completeness and reliability.
    """
    if method not in METHODS:
        raise UsageError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    radius_arcsec = angle_arcsec(radius, "--radius")
    if radius_arcsec > MAX_RADIUS_DEG * 3600:
        raise UsageError(f"--radius {radius}: at most {MAX_RADIUS_DEG:g} deg (plain numbers are arcsec): "
                         "no counterpart is that far from its source")
    floor_arcsec = angle_arcsec(astrometric_floor, "--astrometric-floor", allow_zero=True)
    if lr_threshold != "balanced":
        try:
            threshold = float(lr_threshold)
        except (TypeError, ValueError):
            threshold = np.nan
        if not np.isfinite(threshold):  # NaN or inf accepts no candidate: 0 pairs and no hint why
            raise UsageError(f"--lr-threshold: 'balanced' or a finite number, not {lr_threshold!r}")
        lr_threshold = threshold
    radio_catalogue = read_catalogue(radio, radio_ra_col, radio_dec_col, radio_id_col)
    optical_catalogue = read_catalogue(optical, optical_ra_col, optical_dec_col, optical_id_col)
    left_out = _left_out_rows(radio_catalogue) + _left_out_rows(optical_catalogue)
    duplicated = radio_catalogue.duplicated_ids()
    if duplicated:  # their rows in the output could not be told apart
        count, example, rows = duplicated
        log.warning("%s: %d ids in column %s are not unique (e.g. %r is on %d rows): their matches cannot be "
                    "told apart", radio_catalogue.source, count, radio_catalogue.id_column, example, rows)
    # what made the output, as every output format and the store record it
    parameters = {"method": method, "radius_arcsec": radius_arcsec, "radio": radio_catalogue.source,
                  "optical": optical_catalogue.source, "radio_id_col": radio_catalogue.id_column,
                  "optical_id_col": optical_catalogue.id_column}
    if method == "lr":
        parameters.update(astrometric_floor_arcsec=floor_arcsec, lr_threshold=lr_threshold)
    if group:
        parameters["group"] = True

    def run_match():
        columns, meta = _match(radio_catalogue, optical_catalogue, method, radius_arcsec, floor_arcsec,
                               lr_threshold, mag_col, radio_err, optical_err, group, flux_col, size_col)
        meta = {**parameters, **meta}
        for side, catalogue in (("radio", radio_catalogue), ("optical", optical_catalogue)):
            if catalogue.rejected:  # the output lacks them: it says so, and the exit status is 3
                meta[f"{side}_rows_left_out"] = len(catalogue.rejected)
        pairs = None  # the Table is built only when needed (as_columns=True may never need it)
        if output is not None and str(output).lower().endswith(FITS_SUFFIXES):
            _write_fits(columns, meta, output)
        elif output is not None:
            from hippo.io import write_table
            from hippo.provenance import add_provenance

            pairs = pairs_table(columns, meta)  # returned with the same meta as without output
            write_table(add_provenance(pairs.copy(copy_data=False), "xmatch", meta), output)
        return pairs, columns, meta

    if store is None:
        pairs, columns, meta = run_match()
    else:
        from hippo.store import store_session

        inputs = [p for p in (radio, optical) if not hasattr(p, "colnames")]
        with store_session(store) as database, database.run("xmatch", parameters, inputs=inputs) as recorded:
            pairs, columns, meta = run_match()
            rows = pairs_table({name: columns[name] for name in (*SPEC_COLUMNS, "flag")}, {})
            rows["method"], rows["ra"], rows["dec"] = method, columns["radio_ra"], columns["radio_dec"]
            database.insert("xmatches", rows, run_id=recorded.id)
            for line in left_out:  # into the run's log: what the user saw on stderr
                recorded.note(line)
            recorded.exit_status = EXIT_PARTIAL if left_out else 0
    if as_columns:
        return columns, meta
    return pairs if pairs is not None else pairs_table(columns, meta)


def _left_out_rows(catalogue):
    """One ``error:`` line per catalogue row left out for want of a usable position, logged (the
    first LEFT_OUT_LINES, then how many more) and returned."""
    lines = [f"error: {catalogue.source} row {row}: {reason}" for row, reason in catalogue.rejected[:LEFT_OUT_LINES]]
    if len(catalogue.rejected) > LEFT_OUT_LINES:
        lines.append(f"error: {catalogue.source}: and {len(catalogue.rejected) - LEFT_OUT_LINES} more rows "
                     "without a usable position")
    for line in lines:
        log.warning("%s", line)
    return lines


def _match(radio, optical, method, radius_arcsec, floor_arcsec, lr_threshold, mag_col, radio_err, optical_err,
           group, flux_col, size_col):
    """The matching itself on arrays: returns the output columns and the metadata."""
    units = _match_units(radio, group, flux_col, size_col)
    meta = {}
    if method == "lr":
        from hippo.crossmatch.lr import match_likelihood_ratio

        use_for_fit = ~(units["is_group"] | units["extended"])
        if not use_for_fit.any():  # Q0 and q(m) would be NaN and every candidate rejected, silently
            raise InputError(radio.source, f"lr: all {len(use_for_fit)} radio sources are extended or multi-component: "
                                           "no compact source to estimate Q0 and q(m) from")
        radio_sigma, meta["radio_err"] = _errors(radio, radio_err, "radio", required=True)
        optical_sigma, meta["optical_err"] = _errors(optical, optical_err, "optical", required=False)
        unit_sigma = _unit_sigma(radio_sigma, units)
        search_radius = np.where(units["is_group"], np.clip(3 * np.maximum(*unit_sigma), radius_arcsec,
                                                            max(radius_arcsec, GROUP_MAX_RADIUS_ARCSEC)),
                                 radius_arcsec)
        meta["mag_col"], magnitude = _magnitudes(optical, mag_col)
        index = ZoneIndex(optical.ra, optical.dec, search_radius.max())
        radio_index, optical_index, separation, lr, reliability, model = match_likelihood_ratio(
            units["ra"], units["dec"], unit_sigma, index, optical.ra, optical.dec, magnitude, optical_sigma,
            radius_arcsec, floor_arcsec, lr_threshold, use_for_fit=use_for_fit, search_radius=search_radius)
        meta.update(model.summary())
        meta["positional_only"] = magnitude is None
        log.info("lr: Q0 %.3f, threshold %.3g: estimated completeness %.1f%%, reliability %.1f%%",
                 model.q0, model.threshold, 100 * model.completeness, 100 * model.reliability)
        # the accepted pairs (LR above the threshold) by radio source, then by LR
        order = np.lexsort((-lr, radio_index))
        radio_index, optical_index, separation = radio_index[order], optical_index[order], separation[order]
        lr, reliability = lr[order], reliability[order]
        rank = _ranks(radio_index)
        best_lr = np.zeros(len(units["ra"]))
        np.maximum.at(best_lr, radio_index, lr)
        runner_up = (rank == 2) & (lr >= AMBIGUOUS_LR_FRACTION * best_lr[radio_index])
        ambiguous = np.zeros(len(units["ra"]), dtype=bool)
        ambiguous[radio_index[runner_up]] = True
    else:
        batches = ZoneIndex(optical.ra, optical.dec, radius_arcsec).pair_batches(units["ra"], units["dec"])
        if method == "nn":
            radio_index, optical_index, separation = nearest(batches)
        else:
            radio_index, optical_index, separation = symmetric_best(batches, len(optical.ra))
        rank = np.ones(len(radio_index), dtype=np.int64)
        lr = reliability = None
        ambiguous = np.zeros(len(units["ra"]), dtype=bool)
    flag = np.where(units["is_group"], "multi_component",
                    np.where(units["extended"], "extended", np.where(ambiguous, "ambiguous", "ok")))
    columns = {
        "radio_id": units["name"](radio_index),
        "optical_id": optical.names(optical_index),
        "separation_arcsec": separation,
        "rank": rank,
        "lr": lr,
        "reliability": reliability,
        "flag": flag[radio_index],
        "radio_ra": units["ra"][radio_index], "radio_dec": units["dec"][radio_index],
        "optical_ra": optical.ra[optical_index], "optical_dec": optical.dec[optical_index],
    }
    if group:
        columns["components"] = units["components"](radio_index)
    return columns, meta


def _ranks(sorted_radio_index):
    """1, 2, ... within each run of equal radio index (the pairs are sorted by radio, then LR)."""
    start = np.ones(len(sorted_radio_index), dtype=bool)
    start[1:] = sorted_radio_index[1:] != sorted_radio_index[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(len(start)), 0))
    return np.arange(len(start)) - first + 1


def _match_units(radio, group, flux_col, size_col):
    """What is matched: lone components and, with ``group``, groups of components.

    ``name`` and ``components`` map unit rows to names (computed only for matched rows when
    there are no groups: naming 1e6 sources costs more than matching them)."""
    size_name = radio.find(size_col, SIZE_NAMES, "major axis")
    major = radio.values(size_name, "arcsec") if size_name else np.zeros(len(radio))
    units = {"ra": radio.ra, "dec": radio.dec, "name": radio.names, "members": None,
             "is_group": np.zeros(len(radio), dtype=bool), "extended": _extended(major)}
    if not group:
        return units
    names = radio.names(np.arange(len(radio)))  # integer ids stay integers, as without groups
    flux_name = radio.find(flux_col, FLUX_NAMES, "flux")
    if flux_name is None or size_name is None:
        raise InputError(radio.source, "grouping needs flux and major-axis columns (name them with "
                                       "--flux-col and --size-col)")
    from hippo.crossmatch.grouping import group_components

    groups = group_components(radio.ra, radio.dec, radio.values(flux_name), major)
    alone = np.flatnonzero(groups.label < 0)
    log.info("grouped %d components into %d multi-component sources", len(radio) - len(alone), len(groups.members))
    member_lists = [[i] for i in alone] + [list(m) for m in groups.members]
    is_group = np.concatenate([np.zeros(len(alone), bool), np.ones(len(groups.members), bool)])
    text = as_text(names)
    return {"ra": np.concatenate([radio.ra[alone], groups.ra]),
            "dec": np.concatenate([radio.dec[alone], groups.dec]),
            "name": names[[m[0] for m in member_lists]].__getitem__,
            "members": member_lists,
            "is_group": is_group,
            "extended": np.concatenate([units["extended"][alone], np.zeros(len(groups.members), bool)]),
            "extent_arcsec": np.concatenate([np.zeros(len(alone)), groups.extent_arcsec]),
            "components": np.array([";".join(text[i] for i in m) for m in member_lists]).__getitem__}


def _extended(major_arcsec):
    """Components larger than EXTENDED_ARCSEC and than EXTENDED_BEAMS beams."""
    major = np.nan_to_num(major_arcsec)
    sized = major[major > 0]
    beam = np.median(sized) if len(sized) >= MIN_COMPONENTS_FOR_BEAM else 0.0
    return major > max(EXTENDED_ARCSEC, EXTENDED_BEAMS * beam)


def _errors(catalogue, given, side, required):
    """Per-source positional sigma (arcsec) along RA and Dec, from columns or one angle, and what
    they came from (for the provenance)."""
    if given is None:
        columns = _error_columns(catalogue)
    else:
        wanted = [part.strip() for part in given.split(",")] if isinstance(given, str) else []
        if wanted and all(name in catalogue.colnames for name in wanted):
            columns = wanted if len(wanted) == 2 else wanted * 2
        else:
            try:
                value = angle_arcsec(given, f"--{side}-err")
            except UsageError:
                if re.match(r"\s*[-+]?\.?\d", str(given)):  # an angle, but zero, negative or not finite
                    raise
                raise InputError(catalogue.source, f"--{side}-err {given!r}: neither columns of this table nor "
                                                   f"an angle") from None
            return (np.full(len(catalogue), value), np.full(len(catalogue), value)), f"{value:g}arcsec"
    if columns:
        return tuple(_error_arcsec(catalogue, name, side) for name in columns), ",".join(dict.fromkeys(columns))
    if required:
        log.warning("%s: no positional error columns found (tried E_RA/E_DEC, ra_err/dec_err, sigma, ...): "
                    "taking %g arcsec per axis; name them or give a value with --%s-err",
                    catalogue.source, DEFAULT_RADIO_SIGMA_ARCSEC, side)
        sigma = np.full(len(catalogue), DEFAULT_RADIO_SIGMA_ARCSEC)
        return (sigma, sigma), f"none ({DEFAULT_RADIO_SIGMA_ARCSEC:g}arcsec)"
    return None, "none"


def _error_columns(catalogue):
    """The RA and Dec error columns found by name (one column twice for circular errors), or None."""
    lowered = {name.lower(): name for name in catalogue.colnames}
    for ra_name, dec_name in ERROR_PAIRS:
        if ra_name in lowered and dec_name in lowered:
            return [lowered[ra_name], lowered[dec_name]]
    for name in ERROR_SINGLE:
        if name in lowered:
            return [lowered[name]] * 2
    return None


def _error_arcsec(catalogue, name, side):
    """An error column in arcsec: by its unit, or arcsec without one, unless every value is below
    a milliarcsecond, which only degrees make plausible. Missing errors are filled in."""
    values = catalogue.values(name, "arcsec")
    if catalogue.unit(name) is None and np.nanmax(values, initial=0) < 1e-3:
        log.warning("%s: column %s has no unit and values below 1 mas: taken as degrees", catalogue.source, name)
        values = values * 3600.0
    return _fill_missing_errors(catalogue, name, values, side)


def _fill_missing_errors(catalogue, name, sigma, side):
    """A NaN, masked, zero or negative error says nothing about its source: it gets the column's
    median (of the usable errors), or with none usable the default of a catalogue without errors.
    Left in, one such row makes every reliability NaN (or f 0/0 with no floor) and empties the run."""
    with np.errstate(invalid="ignore"):
        missing = ~(np.isfinite(sigma) & (sigma > 0))
    if not missing.any():
        return sigma
    usable = sigma[~missing]
    fill = float(np.median(usable)) if len(usable) else (DEFAULT_RADIO_SIGMA_ARCSEC if side == "radio" else 0.0)
    log.warning("%s: %d rows have no usable error in column %s (NaN, masked, zero or negative): taking %g arcsec "
                "for them (%s)", catalogue.source, int(missing.sum()), name, fill,
                "the median of the others" if len(usable) else f"no {side} row has one")
    return np.where(missing, fill, sigma)


def _unit_sigma(component_sigma, units):
    """Sigma per match unit: a component's own, or for a group its brightest component's grown
    with the group's extent."""
    sigma_x, sigma_y = component_sigma  # missing errors are filled in already
    if units["members"] is None:
        return sigma_x, sigma_y
    first = np.array([m[0] for m in units["members"]])
    grow = GROUP_SIGMA_PER_EXTENT * units["extent_arcsec"]
    return np.hypot(sigma_x[first], grow), np.hypot(sigma_y[first], grow)


def _magnitudes(optical, mag_col):
    """The magnitude column's name and values: named, or ``mag``/``magnitude``, or the one column
    with ``mag`` in its name (errors and flags aside); (None, None) without one. Sentinels for
    "not measured" (-99, 99, -9999) become NaN."""
    name = optical.find(mag_col, MAG_NAMES, "magnitude")
    if name is None:
        found = [c for c in optical.colnames if "mag" in c.lower()
                 and not any(word in c.lower() for word in ("err", "e_", "sig", "flag", "unc"))]
        if not found:
            log.info("lr: no magnitude column (name one with --mag-col): the likelihood ratio is positional only")
            return None, None
        name = found[0]
        log.info("lr: magnitudes from column %s%s", name,
                 f" (others: {', '.join(found[1:])}; choose with --mag-col)" if len(found) > 1 else "")
    magnitude = optical.values(name)
    with np.errstate(invalid="ignore"):
        return name, np.where((magnitude > -10) & (magnitude < 40), magnitude, np.nan)


def pairs_table(columns, meta):
    """The Table ``xmatch`` returns, from the ``(columns, meta)`` of ``as_columns=True``."""
    from astropy.table import MaskedColumn, Table

    table = Table(meta=dict(meta))
    for name, values in columns.items():
        if values is None:
            table[name] = MaskedColumn(np.zeros(len(columns["radio_id"])), mask=True)
        else:
            table[name] = as_text(values) if values.dtype.kind == "S" else values
    return table


def _write_fits(columns, meta, path):
    """The pairs as a FITS binary table with provenance cards, written atomically straight from
    the arrays (empty ``lr``/``reliability`` as NaN; gzipped for ``.gz``). Written by hand:
    astropy's table HDU construction costs more than the whole match for 1e5 text ids."""
    import gzip

    from astropy.io import fits

    from hippo.io.atomic import atomic_path
    from hippo.provenance import fits_provenance_cards

    count = len(columns["radio_id"])
    arrays, fields, cards = [], [], []
    for number, (name, values) in enumerate(columns.items(), start=1):
        values = np.full(count, np.nan) if values is None else np.asarray(values)
        if values.dtype.kind == "U":
            try:
                values = values.astype(np.bytes_)
            except UnicodeEncodeError:
                values = np.char.encode(values, "utf-8")
        zero = None
        if values.dtype.kind == "S":
            width = max(values.dtype.itemsize, 1)
            dtype, tform = f"S{width}", f"{width}A"
        elif values.dtype == np.uint64:  # as FITS (and astropy) store uint64: K, offset by TZERO = 2**63
            values, zero = (values ^ np.uint64(2 ** 63)).view(np.int64), 2 ** 63
            dtype, tform = ">i8", "K"
        elif values.dtype.kind in "iub":
            dtype, tform = ">i8", "K"
        else:
            dtype, tform = ">f8", "D"
        arrays.append(values)
        fields.append((name, dtype))
        cards += [(f"TTYPE{number}", name), (f"TFORM{number}", tform)]
        if zero is not None:
            cards.append((f"TZERO{number}", zero))
    data = np.empty(count, dtype=fields)
    for (name, _), values in zip(fields, arrays):
        data[name] = values
    header = fits.Header([("XTENSION", "BINTABLE"), ("BITPIX", 8), ("NAXIS", 2), ("NAXIS1", data.dtype.itemsize),
                          ("NAXIS2", count), ("PCOUNT", 0), ("GCOUNT", 1), ("TFIELDS", len(fields)), *cards,
                          ("EXTNAME", "XMATCH")])
    for keyword, value, comment in fits_provenance_cards("xmatch", meta):
        header.append((keyword, value, comment) if comment else (keyword, value))
    body = data.tobytes()
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    with atomic_path(path) as tmp, opener(tmp, "wb") as stream:
        stream.write(fits.PrimaryHDU().header.tostring().encode("ascii"))
        stream.write(header.tostring().encode("ascii"))
        stream.write(body + b"\0" * (-len(body) % 2880))


def overlay_flagged(pairs, radio_id, image, contours=None, output=None, size=None, **options):
    """Overlay of one cross-matched source for visual inspection: radio contours on the optical or
    IR image with every candidate marked (and, for a group, its components in the title).

    Parameters
    ----------
    pairs : astropy.table.Table
        The output of ``xmatch``.
    radio_id : str
        The source to draw (e.g. one flagged ``multi_component``).
    image : str or Path
        Optical/IR image with a WCS covering the source.
    contours : str, Path or list
        Radio image(s) to contour.
    output : str or Path
        PNG or PDF to write (default ``<radio_id>.png``).
    **options
        Passed to ``hippo.overlay`` (levels, stretch, ...).

    Returns
    -------
    The result of ``hippo.overlay``.
    """
    from astropy.table import Table

    from hippo.overlays import overlay

    rows = pairs[np.asarray(pairs["radio_id"]).astype(str) == str(radio_id)]
    if len(rows) == 0:
        raise InputError(radio_id, "no cross-match row for this source")
    candidates = Table({"id": [f"{o} ({r})" for o, r in zip(rows["optical_id"], rows["rank"])],
                        "ra": rows["optical_ra"], "dec": rows["optical_dec"]})
    title = f"{radio_id}: {rows['flag'][0]}"
    if "components" in rows.colnames:
        title += f" [{rows['components'][0]}]"
    return overlay(image=image, contours=contours, catalogue=candidates, output=output or f"{radio_id}.png",
                   ra=float(rows["radio_ra"][0]), dec=float(rows["radio_dec"][0]), size=size, title=title,
                   **options)
