"""The last step of a batch: shard outputs into the final products and the store, then cleanup.

Runs once every shard is done (as the Slurm merge job, or in the dask client). It can be run again
after a crash at any point without losing or duplicating anything: files already moved are not
moved twice, the store is filled once per batch (a ``merged`` row in ``batch_jobs`` says so), and
``summary.json`` in the products record is written last, so its presence means the batch is
complete.
"""

import json
import os
import shutil
from pathlib import Path

from astropy.io import fits
from astropy.table import vstack

from hippo.batch.plan import BatchPlan
from hippo.errors import EXIT_OK, EXIT_PARTIAL, HippoError
from hippo.io import atomic_write_text, read_table, write_table
from hippo.provenance import environment_summary, software_versions, utc_now


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

    rows = (_merge_classify(plan, output) if plan.kind == "classify"
            else _merge_cutout(plan, output, settings["output_as_given"]))

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
        store_note = _fill_store(plan, settings, rows, record, statuses)

    keep = settings.get("keep_intermediates")
    scratch_note = f"kept in {plan.directory}" if keep else f"removed from {plan.directory}"
    summary = {
        "batch": plan.name, "state": "merged", "kind": plan.kind, "inputs": plan.input_count,
        "shards": plan.shard_count, "rows": len(rows), "partial_shards": partial,
        "exit_status": EXIT_PARTIAL if partial else EXIT_OK,
        "output": str(output), "products": str(record), "store": store_note, "intermediates": scratch_note,
        "jobs": [s.get("array_job") for s in jobs if s.get("array_job")], "merged": utc_now(),
    }
    write_json(record / "summary.json", summary)
    if not keep:
        shutil.rmtree(plan.directory, ignore_errors=True)
    return summary


def _merge_classify(plan, output):
    """The shard tables in order; their provenance (one per shard) replaced by the batch's own."""
    from hippo.provenance import add_provenance

    tables = [read_table(plan.shard_output(i)) for i in range(plan.shard_count)]
    merged = vstack(tables, metadata_conflicts="silent") if len(tables) > 1 else tables[0]
    renamed = plan.description.get("renamed", {})
    if renamed and len(merged):
        # An error row is named by the path the job read; a local run names it as the user did.
        merged["source"] = [renamed.get(str(source), str(source)) if flag == "error" else str(source)
                            for source, flag in zip(merged["source"], merged["flag"])]
    model = tables[0].meta.get("model", "")
    merged.meta.clear()
    merged.meta["model"] = model
    add_provenance(merged, f"batch classify {plan.name}",
                   {"model": model, "inputs": len(merged), "shards": plan.shard_count})
    write_table(merged, output)
    return merged


def _merge_cutout(plan, output, output_text):
    """Move every shard's cutouts into ``output`` (the layout of a local run) and join the indexes.

    Index paths read as a local run writes them (``output`` as the user gave it); rows an earlier
    run left in ``output/cutouts.csv`` for other (name, survey) pairs are kept, as a local run does.
    """
    output.mkdir(parents=True, exist_ok=True)
    indexes = []
    for index in range(plan.shard_count):
        shard_dir = plan.shard_output(index)
        for path in sorted(p for p in shard_dir.rglob("*") if p.is_file() and p.name != "cutouts.csv"):
            target = output / path.relative_to(shard_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(target))
        table = read_table(shard_dir / "cutouts.csv")
        table["path"] = [str(Path(output_text) / Path(str(p)).relative_to(shard_dir))
                         if str(p).startswith(str(shard_dir)) else p for p in table["path"]]
        indexes.append(table)
    merged = vstack(indexes, metadata_conflicts="silent") if len(indexes) > 1 else indexes[0]
    index_path = output / "cutouts.csv"
    if index_path.exists():
        earlier = read_table(index_path)
        new = {(str(r["name"]), str(r["survey"])) for r in merged}
        kept = earlier[[(str(r["name"]), str(r["survey"])) not in new for r in earlier]]
        if len(kept):
            merged = vstack([kept, merged], metadata_conflicts="silent")
    write_table(merged, index_path)
    return merged


def _fill_store(plan, settings, rows, record, statuses):
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
            run.exit_status = EXIT_PARTIAL if any(s != EXIT_OK for s in statuses.values()) else EXIT_OK
        return f"{store.path} (run {run.id}: {inserted} rows)"


def _insert_results(store, plan, rows, run_id, settings):
    if plan.kind == "classify":
        # As a local ``hippo classify --store``: each row with its model and its input file.
        from hippo.morphology import store_classification_rows

        inputs = [line for i in range(plan.shard_count) for line in plan.shard_inputs(i).read_text().splitlines()]
        return store_classification_rows(store, rows, run_id, rows.meta.get("model", ""), inputs)
    # The rows a local ``hippo cutout --store`` writes, with the size and pixel scale the cutout
    # files' headers record.
    from hippo.cutouts.driver import store_cutout_rows

    scales = {"HIPPOSIZ": None, "HIPPOPXS": None}
    for row in rows[rows["status"] != "error"]:
        if row["path"] and Path(str(row["path"])).exists():
            header = fits.getheader(str(row["path"]))
            scales = {key: header.get(key) for key in scales}
            break
    return store_cutout_rows(store, rows, run_id, plan.description["catalogue"], scales["HIPPOSIZ"],
                             scales["HIPPOPXS"])
