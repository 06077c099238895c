"""The last step of a batch: shard outputs into the final products and the store, then cleanup.

Runs once every shard is done (as the Slurm merge job, or in the dask client). It can be run again
after a crash at any point without losing or duplicating anything: cutout files are linked (or
copied) into the output and the shards' own are removed only with the scratch directory, after
everything else; the store is filled once per batch (a ``merged`` row in ``batch_jobs`` says so);
and ``summary.json`` in the products record is written last, so its presence means the batch is
complete.
"""

import csv
import getpass
import json
import logging
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table, vstack

from hippo.batch.plan import BatchPlan
from hippo.batch.slurm import queued_batches
from hippo.cutouts.driver import INDEX_COLUMNS, INDEX_NAME, OVERLAY_NOT_WRITTEN, exit_status as cutout_exit_status
from hippo.errors import EXIT_OK, HippoError
from hippo.io import atomic_path, atomic_write_text, read_table, write_table
from hippo.provenance import environment_summary, software_versions, utc_now

log = logging.getLogger(__name__)


def read_json(path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return default


def write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=1, default=str) + "\n")


def record_directory(products, plan):
    """Where a batch's logs, plan, scripts and provenance are kept beside its products."""
    return Path(products) / f"hippo-batch-{plan.name}"


def shard_jobs(plan):
    """shard -> the job (``<array>_<task>`` or ``dask``) of its latest submission."""
    jobs = {}
    for submission in read_json(plan.directory / "jobs.json", []):
        for index in submission["shards"]:
            jobs[index] = (f"{submission['array_job']}_{index}" if submission.get("array_job")
                           else submission["runner"])
    return jobs


def merge_batch(plan_directory):
    """Merge a finished batch; returns its summary (also written to the products record)."""
    plan = BatchPlan.load(plan_directory)
    settings = read_json(plan.directory / "merge.json")
    missing = [i for i in range(plan.shard_count) if not plan.is_done(i)]
    if missing:
        raise HippoError(f"batch {plan.name}: {len(missing)} of {plan.shard_count} shards not done "
                         f"({', '.join(map(str, missing[:10]))}{', ...' if len(missing) > 10 else ''}); nothing merged")
    output = Path(settings["output"])
    record = record_directory(settings["products"], plan)
    (record / "logs").mkdir(parents=True, exist_ok=True)
    statuses = {i: plan.exit_status(i) for i in range(plan.shard_count)}
    partial = sorted(i for i, status in statuses.items() if status != EXIT_OK)

    if plan.kind == "classify":
        from hippo.morphology import exit_status as classify_exit_status, failures as failed_rows

        rows = _merge_classify(plan, output)
        failures = failed_rows(rows)
        exit_status = classify_exit_status(rows)  # as a local run's
    else:
        rows = _merge_cutout(plan, output, settings["output_as_given"])
        # A catalogue row without a usable position is listed once, not once for each survey, as a
        # local run lists it; so is a source's overlay that could not be drawn, listed first.
        rejected = [(str(name), f"row {number}: {reason}") for number, name, reason in
                    plan.description.get("rejected", [])]
        overlays = _overlay_failures(rows)
        rows.meta["overlays_failed"] = len(overlays)
        failures = overlays + [(f"{row['name']} ({row['survey']})", str(row["message"])) for row in rows
                               if row["status"] == "error" and (str(row["name"]), str(row["message"])) not in rejected]
        failures += rejected
        exit_status = cutout_exit_status(rows)  # as the local run's: an overlay not drawn makes it 3 too

    for path in plan.log_directory.iterdir():  # task logs, and dask-jobqueue's worker logs
        if path.is_file():
            shutil.copy2(path, record / "logs" / path.name)
    for path in [plan.directory / "plan.json", plan.directory / "jobs.json", *plan.directory.glob("*.sbatch")]:
        if path.exists():
            shutil.copy2(path, record / path.name)
    jobs = read_json(plan.directory / "jobs.json", [])
    write_json(record / "provenance.json", {
        "batch": plan.name, "command": f"batch {plan.kind}", "parameters": settings["parameters"],
        "inputs": plan.description, "input_count": plan.input_count, "shards": plan.shard_count,
        "tool_arguments": plan.tool_arguments, "submissions": jobs, "shard_exit_status": statuses,
        "versions": software_versions(), "merge_environment": environment_summary(), "merged": utc_now()})

    store_note = None
    if settings.get("store"):
        store_note = _fill_store(plan, settings, rows, record, statuses, exit_status)

    keep = settings.get("keep_intermediates")
    scratch_note = f"kept in {plan.directory}" if keep else f"removed from {plan.directory}"
    summary = {
        "batch": plan.name, "state": "merged", "kind": plan.kind, "inputs": plan.input_count,
        "shards": plan.shard_count, "rows": len(rows), "partial_shards": partial,
        "exit_status": exit_status, "failures": failures, "overlays_failed": rows.meta.get("overlays_failed", 0),
        "output": str(output), "products": str(record), "store": store_note, "intermediates": scratch_note,
        "jobs": [s.get("array_job") for s in jobs if s.get("array_job")], "merged": utc_now(),
    }
    write_json(record / "summary.json", summary)
    if not keep:
        shutil.rmtree(plan.directory, ignore_errors=True)
    return summary


def _merge_classify(plan, output):
    """The shard tables in order, after the error rows of inputs that did not exist (where a local
    run puts them), each input named as given; their provenance (one per shard) replaced by the
    batch's own."""
    from hippo.morphology.classifier import error_row, rows_to_table, unreadable_source_name
    from hippo.provenance import add_provenance

    tables = [read_table(plan.shard_output(i)) for i in range(plan.shard_count)]
    missing = plan.description.get("missing", [])
    if missing:
        tables.insert(0, rows_to_table([error_row(unreadable_source_name(item), reason, item)
                                         for item, reason in missing]))
    merged = vstack(tables, metadata_conflicts="silent") if len(tables) > 1 else tables[0]
    if len(merged):
        merged["input"] = [plan.as_given(path) for path in merged["input"]]
    model = tables[-1].meta.get("model", "")
    merged.meta.clear()
    merged.meta["model"] = model
    add_provenance(merged, f"batch classify {plan.name}",
                   {"model": model, "inputs": len(merged), "shards": plan.shard_count})
    write_table(merged, output)
    return merged


def _merge_cutout(plan, output, output_text):
    """Every shard's cutouts into ``output`` (the layout of a local run) and their indexes joined.

    Index paths read as a local run writes them (``output`` as the user gave it). Rows of
    catalogue positions that went to no shard (no usable position) follow, once per survey, as
    in a local run; rows an earlier run left in ``output/cutouts.csv`` for other (name, survey)
    pairs are kept, as a local run does.
    """
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(plan.shard_count):
        shard_dir = plan.shard_output(index)
        for path in sorted(p for p in shard_dir.rglob("*") if p.is_file() and p.name != INDEX_NAME):
            _link_or_copy(path, output / path.relative_to(shard_dir))
        for row in _index_rows(shard_dir / INDEX_NAME):
            if row["path"]:
                row["path"] = str(Path(output_text) / Path(row["path"]).relative_to(shard_dir))
            # A message may name a cutout too ("overlay not written: <cutout>: ...").
            row["message"] = row["message"].replace(f"{shard_dir}{os.sep}", f"{Path(output_text)}{os.sep}")
            rows.append(row)
    surveys = list(dict.fromkeys(row["survey"] for row in rows))
    rows += [{"name": name, "survey": survey, "ra": "nan", "dec": "nan", "path": "", "status": "error",
              "message": f"row {number}: {reason}"}
             for number, name, reason in plan.description.get("rejected", []) for survey in surveys]
    index_path = output / INDEX_NAME
    earlier = _index_rows(index_path) if index_path.exists() else []
    new = {(row["name"], row["survey"]) for row in rows}
    kept = [row for row in earlier if (row["name"], row["survey"]) not in new]
    write_table(_index_table(kept + rows), index_path)
    return _index_table(rows)


# What ``hippo cutout --overlay`` appends to the messages of a source whose overlay it could not
# draw (hippo/cutouts/driver.py, _make_overlays); the index is all a shard leaves of it.


def _overlay_failures(rows):
    """(source, "overlay not written: <reason>") once per source, as a local run lists them."""
    failures = {}
    for row in rows:
        at = str(row["message"]).find(OVERLAY_NOT_WRITTEN)
        if at >= 0:
            failures.setdefault(str(row["name"]), str(row["message"])[at:])
    return list(failures.items())


def _link_or_copy(source, target):
    """``target`` becomes ``source``'s file, whole or not at all: a hard link, or a copy where scratch
    is another file system. The shard keeps its own until the merge has finished."""
    with atomic_path(target) as partial:
        partial.unlink()
        try:
            os.link(source, partial)
        except OSError:
            shutil.copy2(source, partial)


def _index_rows(path):
    """A cutout index's rows as text: astropy would guess a column's type from its values, and an
    all-empty ``message`` or ``path`` column of one shard comes back as numbers that do not stack
    with another shard's text."""
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _index_table(rows):
    """Index rows (text) as the table ``hippo cutout`` writes: text columns, but for ra and dec."""
    return Table({column: np.array([float(row.get(column) or "nan") for row in rows]) if column in ("ra", "dec")
                  else np.array([row.get(column) or "" for row in rows], dtype=str) for column in INDEX_COLUMNS})


def _fill_store(plan, settings, rows, record, statuses, exit_status):
    """The merged rows, one row per shard in ``batch_jobs`` and the run's provenance, once per batch."""
    from hippo.store import Store

    with Store.open(settings["store"]) as store:
        already = store.query("SELECT run_id FROM batch_jobs WHERE batch=? AND state='merged'", (plan.name,))
        if len(already):
            return f"{store.path} (filled by run {already['run_id'][0]} before)"
        jobs = shard_jobs(plan)
        with store.run(f"batch {plan.kind}", settings["parameters"], inputs=[record / "plan.json"]) as run:
            inserted = _insert_results(store, plan, rows, run.id, settings)
            store.insert("batch_jobs", [
                {"batch": plan.name, "job_id": jobs.get(i), "shard": i,
                 "state": "done" if status == EXIT_OK else "partial",
                 "log": str(record / "logs"), "output": str(plan.shard_output(i))}
                for i, status in statuses.items()], run_id=run.id)
            merge_job = os.environ.get("SLURM_JOB_ID", settings["runner"])
            store.insert("batch_jobs", [{"batch": plan.name, "job_id": merge_job, "shard": -1, "state": "merged",
                                         "log": str(record), "output": settings["output"]}], run_id=run.id)
            close_submissions(store, [plan.name])
            run.exit_status = exit_status
        return f"{store.path} (run {run.id}: {inserted} rows)"


def close_submissions(store, batches):
    """The ``submitted`` rows of ``batches``, none of whose jobs is queued any more, say how they ended:
    ``ended`` once the batch is merged (the merge's rows say how each shard went), else ``interrupted``
    (cancelled, killed, lost, or a merge that never ran: the batch command run again finishes it), as
    a run whose process ended unrecorded is marked ``interrupted``."""
    batches = list(batches)
    if not batches:
        return
    with store.transaction() as connection:
        connection.execute(
            "UPDATE batch_jobs SET state=CASE WHEN EXISTS (SELECT 1 FROM batch_jobs AS outcome "
            "WHERE outcome.batch=batch_jobs.batch AND outcome.state='merged') THEN 'ended' ELSE 'interrupted' END "
            f"WHERE state='submitted' AND batch IN ({', '.join('?' * len(batches))})", batches)


def close_stale_submissions(store):
    """``submitted`` rows of this user's batches with no job left in Slurm's queue are closed (see
    :func:`close_submissions`), so none says ``submitted`` for ever. Best effort, as the store's own
    marking of interrupted runs: where Slurm or the store cannot be asked now, a later call does it.
    """
    try:
        submitted = store.query(
            "SELECT DISTINCT batch_jobs.batch AS batch FROM batch_jobs JOIN runs ON runs.id=batch_jobs.run_id "
            "WHERE batch_jobs.state='submitted' AND json_extract(runs.environment, '$.user')=?", (getpass.getuser(),))
        if not len(submitted):
            return
        queued = queued_batches()
        if queued is not None:
            close_submissions(store, set(submitted["batch"]) - queued)
    except (HippoError, sqlite3.Error) as exc:
        log.debug("%s: batch jobs left submitted not closed now (%s)", store.path, exc)


def _insert_results(store, plan, rows, run_id, settings):
    if plan.kind == "classify":
        # As a local ``hippo classify --store``: each row with its model and its input file.
        from hippo.morphology import store_classification_rows

        inputs = [item for item, _ in plan.description.get("missing", [])]
        inputs += [line for i in range(plan.shard_count) for line in plan.shard_inputs(i).read_text().splitlines()]
        return store_classification_rows(store, rows, run_id, rows.meta.get("model", ""), inputs)
    # The rows a local ``hippo cutout --store`` writes, with the size and pixel scale the cutout
    # files' headers record, and absolute paths: a store outlives the directory a command was run
    # from (classify stores its inputs so too), and the merge job may run from another.
    from hippo.cutouts.driver import store_cutout_rows

    output, output_as_given = Path(settings["output"]), Path(settings["output_as_given"])
    located = rows.copy()
    located["path"] = [str(output / Path(path).relative_to(output_as_given)) if path else "" for path in rows["path"]]
    scales = {"HIPPOSIZ": None, "HIPPOPXS": None}
    for path in located["path"]:
        if path and Path(path).exists():
            header = fits.getheader(path)
            scales = {key: header.get(key) for key in scales}
            break
    return store_cutout_rows(store, located, run_id, plan.description["catalogue"], scales["HIPPOSIZ"],
                             scales["HIPPOPXS"])
