"""Driving a batch: submit what is missing or failed, wait if asked, and say where everything went."""

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hippo.batch import slurm as scheduler
from hippo.batch.merge import merge_batch, read_json, record_directory, write_json
from hippo.errors import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, HippoError, UsageError
from hippo.io import atomic_write_text
from hippo.provenance import utc_now


@dataclass
class BatchResult:
    """What a ``batch_*`` call did and where things are.

    ``state`` is ``submitted`` (jobs queued, not waited for), ``running`` (a previous submission is
    still in the queue), ``merged`` (complete) or ``failed`` (some shards, or the merge, failed:
    re-run the same call to resubmit only those).
    """

    batch: str
    state: str
    output: Path
    products: Path
    scratch: Path
    jobs: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    summary: dict = None

    @property
    def exit_status(self):
        if self.state == "merged":
            return self.summary.get("exit_status", EXIT_OK)
        if self.state == "failed":
            return EXIT_PARTIAL if any(shard is not None for shard, _ in self.failures) else EXIT_FAILURE
        return EXIT_OK

    @property
    def table(self):
        """The merged table (classify) or cutout index (cutout), once merged."""
        from hippo.io import read_table

        if self.state != "merged":
            return None
        return read_table(self.output if self.output.suffix else self.output / "cutouts.csv")

    def report(self):
        """Lines for a person: the state, the job ids, and what was kept where."""
        lines = [f"batch {self.batch}: {self.state}" + (f" (jobs {', '.join(self.jobs)})" if self.jobs else "")]
        if self.summary:
            failed = len(self.summary.get("failures", []))
            overlays = self.summary.get("overlays_failed")
            lines += [f"output: {self.output} ({self.summary['rows']} rows from {self.summary['inputs']} inputs in "
                      f"{self.summary['shards']} shards" + (f"; {failed} failed, listed below" if failed else "")
                      + (f"; {overlays} overlay{'s' * (overlays > 1)} not written" if overlays else "") + ")",
                      f"products: {self.summary['products']} (logs, plan, scripts, provenance.json, summary.json)",
                      f"intermediates: {self.summary['intermediates']}"]
            if self.summary.get("store"):
                lines.append(f"store: {self.summary['store']}")
        elif self.state in ("submitted", "running"):
            lines += [f"intermediates and logs: {self.scratch}",
                      f"the merge writes {self.output} and its record in {self.products}",
                      "re-run the same command to check on it, or add --wait"]
        elif self.state == "failed":
            lines += [f"intermediates and logs kept in {self.scratch}",
                      "re-run the same command to resubmit only what failed"]
        return lines


@dataclass
class BatchSettings:
    """Everything about a batch that is not its shard plan: where results go and how it runs."""

    output: Path
    output_as_given: str
    products: Path
    store: str = None
    keep_intermediates: bool = False
    wait: bool = False
    timeout: float = None
    slurm: bool = False
    dask: str = None
    workers: int = 2
    interface: str = None
    options: scheduler.SlurmOptions = field(default_factory=scheduler.SlurmOptions)
    parameters: dict = field(default_factory=dict)
    quiet: bool = False

    @property
    def runner(self):
        return "slurm" if self.slurm else f"dask-{self.dask}"


def default_scratch(products):
    """``$HIPPO_SCRATCH``, else ``$SCRATCH/hippo`` (the usual cluster variable), else beside the products.

    Never node-local ``$TMPDIR``: every task and the merge must see the same scratch.
    """
    if os.environ.get("HIPPO_SCRATCH"):
        return Path(os.environ["HIPPO_SCRATCH"])
    if os.environ.get("SCRATCH"):
        return Path(os.environ["SCRATCH"]) / "hippo"
    return Path(products) / ".hippo-scratch"


def check_runner(slurm_flag, dask):
    if bool(slurm_flag) == bool(dask):
        raise UsageError("choose one of --slurm (a job array) or --dask [local|slurm]")
    if slurm_flag:
        scheduler.require_slurm()


def run_batch(plan, settings):
    """Bring a planned batch to completion as far as this call can; returns a BatchResult."""
    record = record_directory(settings.products, plan)
    result = BatchResult(plan.name, "submitted", settings.output, record, plan.directory)
    summary = read_json(record / "summary.json")
    if summary and summary["output"] == str(settings.output) and settings.output.exists():
        result.state, result.summary = "merged", summary
        if not settings.keep_intermediates:  # planning again re-created them; the batch is done
            shutil.rmtree(plan.directory, ignore_errors=True)
        return result
    # A summary of an earlier merge of this plan elsewhere (or of an output since deleted) says
    # nothing about this run: only a merge of this run may write it again.
    (record / "summary.json").unlink(missing_ok=True)
    write_json(plan.directory / "merge.json", {
        "output": str(settings.output), "output_as_given": settings.output_as_given,
        "products": str(settings.products), "store": settings.store, "keep_intermediates": settings.keep_intermediates,
        "parameters": settings.parameters, "runner": settings.runner})
    fresh = not record.exists()
    (record / "logs").mkdir(parents=True, exist_ok=True)
    try:
        if settings.slurm:
            return _run_slurm(plan, settings, result)
        return _run_dask(plan, settings, result)
    except HippoError:
        if fresh and not result.jobs:  # refused before anything ran (no Slurm here): leave no trace
            shutil.rmtree(record, ignore_errors=True)
        raise


def _record_submission(plan, submission, replace_last=False):
    """Append (or complete) a submission in ``jobs.json``: which shards, which jobs, when."""
    history = read_json(plan.directory / "jobs.json", [])
    if replace_last:
        history[-1] = submission
    else:
        history.append(submission)
    write_json(plan.directory / "jobs.json", history)


def _run_slurm(plan, settings, result):
    queued = scheduler.queued_jobs(plan)
    still_running = [job for job in queued if job.task is not None or not job.never_runs]
    if still_running:
        result.jobs = sorted({job.job_id for job in still_running})
        result.state = "running"
        if not settings.wait:
            return result
        scheduler.wait_for_jobs(plan, settings.timeout)
        return _final(plan, settings, result)
    for job in queued:  # a merge left waiting on shards that failed before
        scheduler.scancel(job.job_id)

    todo = [i for i in range(plan.shard_count) if not plan.is_done(i)]
    submission = {"runner": "slurm", "shards": todo, "submitted": utc_now(), "array_job": None}
    number = len(read_json(plan.directory / "jobs.json", [])) + 1
    if todo:
        for index in todo:
            plan.forget(index)
        script = plan.directory / f"array-{number}.sbatch"
        atomic_write_text(script, scheduler.render_array_script(plan, todo, settings.options))
        submission["array_job"] = scheduler.sbatch(script)
        result.jobs.append(submission["array_job"])
    # Recorded before the merge is submitted, so a failing sbatch there cannot hide running tasks.
    _record_submission(plan, submission)
    merge_script = plan.directory / f"merge-{number}.sbatch"
    atomic_write_text(merge_script, scheduler.render_merge_script(plan, settings.options, result.products / "logs"))
    submission["merge_job"] = scheduler.sbatch(merge_script, dependency=submission["array_job"])
    result.jobs.append(submission["merge_job"])
    _record_submission(plan, submission, replace_last=True)
    if settings.store:
        _store_submission(plan, settings, submission)
    if not settings.wait:
        return result
    scheduler.wait_for_jobs(plan, settings.timeout)
    return _final(plan, settings, result)


def _store_submission(plan, settings, submission):
    """Job ids and log names of a submission go into ``batch_jobs`` (the merge adds the outcome)."""
    from hippo.store import Store

    with Store.open(settings.store) as store:
        with store.run(f"batch {plan.kind} submit", settings.parameters, inputs=[plan.directory / "plan.json"]) as run:
            array_job, merge_job = submission["array_job"], submission["merge_job"]
            rows = [{"batch": plan.name, "job_id": f"{array_job}_{index}", "shard": index, "state": "submitted",
                     "log": str(plan.log_directory / f"shard-{index:05d}.{array_job}.log"),
                     "output": str(plan.shard_output(index))} for index in submission["shards"]]
            rows.append({"batch": plan.name, "job_id": merge_job, "shard": -1, "state": "submitted",
                         "log": str(record_directory(settings.products, plan) / "logs" / f"merge.{merge_job}.log"),
                         "output": str(settings.output)})
            store.insert("batch_jobs", rows, run_id=run.id)


def _run_dask(plan, settings, result):
    from hippo.batch.dask_cluster import run_shards

    todo = [i for i in range(plan.shard_count) if not plan.is_done(i)]
    if todo:
        for index in todo:
            plan.forget(index)
        _record_submission(plan, {"runner": settings.runner, "shards": todo, "submitted": utc_now()})
        run_shards(plan, todo, settings.dask, settings.workers, settings.options, settings.interface, settings.quiet)
    if all(plan.is_done(i) for i in range(plan.shard_count)):
        merge_batch(plan.directory)
    return _final(plan, settings, result)


def _final(plan, settings, result):
    """The state once nothing of the batch is running: merged, or which shards failed and why."""
    summary = read_json(result.products / "summary.json")
    if summary:
        result.state, result.summary = "merged", summary
        return result
    result.state = "failed"
    for index in range(plan.shard_count):
        if plan.is_done(index):
            continue
        logs = sorted(plan.log_directory.glob(f"shard-{index:05d}.*.log"), key=lambda p: p.stat().st_mtime)
        where = f"; log {logs[-1]}" if logs else ""
        status = plan.exit_status(index)
        reason = (f"did not finish (killed, timed out or lost){where}" if status is None
                  else f"'hippo {plan.kind}' exited {status} without writing its output{where}")
        result.failures.append((index, reason))
    if not result.failures:
        merge_logs = sorted((result.products / "logs").glob("merge.*.log"))
        result.failures.append((None, "every shard is done but the merge failed"
                                + (f"; log {merge_logs[-1]}" if merge_logs else "")))
    return result
