"""Batch runs on a real single-node Slurm: job array, afterok merge, a cancelled task run again alone."""

import contextlib
import json
import os
import subprocess
import time

import pytest
from astropy.table import Table

from hippo.batch import batch_cutout
from hippo.store import Store

pytestmark = pytest.mark.timeout(400)
WAIT = 240  # seconds a batch may take on a busy machine before the test gives up


def test_slurm_array_and_afterok_merge_equal_a_local_run(slurm, field, hippo_cli, same_cutouts):
    directory = field["dir"]
    command = ("batch", "cutout", "--catalogue", field["catalogue"], "--survey", field["survey"], "--size", "2arcmin",
               "-o", "batch", "--slurm", "--array-size", "3", "--mem", "500M", "--time", "00:10:00",
               "--store", "hippo.db", "--wait", "--timeout", str(WAIT))
    result = hippo_cli(*command, cwd=directory, env=slurm.env)
    assert result.returncode == 0, result.stderr
    batch_index = Table.read(directory / "batch" / "cutouts.csv")
    assert len(batch_index) == 12
    same_cutouts(field, "batch")

    # Products: the record with every task's log, the merge log, the scripts and provenance.
    (record,) = directory.glob("hippo-batch-cutout-*")
    summary = json.loads((record / "summary.json").read_text())
    assert (summary["state"], summary["rows"], summary["shards"]) == ("merged", 12, 3)
    assert sorted(p.name.split(".")[0] for p in (record / "logs").iterdir()) == [
        "merge", "shard-00000", "shard-00001", "shard-00002"]
    assert "#SBATCH --array=0-2" in (record / "array-1.sbatch").read_text()
    provenance = json.loads((record / "provenance.json").read_text())
    assert provenance["versions"]["hippo"] and provenance["parameters"]["size"] == "2arcmin"
    # Intermediates removed after the merge, and the summary says so.
    assert not any((directory / ".hippo-scratch").iterdir())
    assert "intermediates: removed from" in result.stderr

    # The store: the cutouts once, one batch_jobs row per shard with its array job id, and the merge.
    with Store.open(directory / "hippo.db") as store:
        assert store.count("cutouts") == 12 and store.count("sources") == 12
        jobs = store.query("SELECT job_id, shard, state FROM batch_jobs WHERE state != 'ended' ORDER BY shard")
        submissions = store.query("SELECT job_id FROM batch_jobs WHERE state='ended' ORDER BY shard")
    array_job = summary["jobs"][0]
    assert list(jobs["job_id"][1:]) == [f"{array_job}_{i}" for i in range(3)]
    assert list(jobs["state"]) == ["merged", "done", "done", "done"]
    # The submission's rows, submitted until the merge, now say their jobs have ended.
    assert list(submissions["job_id"][1:]) == [f"{array_job}_{i}" for i in range(3)]

    # Running the same command again finds the batch complete: nothing submitted, nothing duplicated.
    again = hippo_cli(*command, cwd=directory, env=slurm.env)
    assert again.returncode == 0 and "merged" in again.stderr and "jobs" not in again.stderr.splitlines()[0]
    assert not any((directory / ".hippo-scratch").iterdir())
    with Store.open(directory / "hippo.db") as store:
        assert store.count("cutouts") == 12


@contextlib.contextmanager
def node_held():
    """The node taken by a job that sleeps, so that jobs submitted inside the block stay pending."""
    blocker = subprocess.run(["sbatch", "--parsable", f"--cpus-per-task={os.cpu_count()}", "--mem=100M",
                              "--wrap", "sleep 300"], capture_output=True, text=True, check=True).stdout.strip()
    try:
        yield
    finally:
        subprocess.run(["scancel", blocker], check=True)


def test_cancelled_task_fails_the_batch_and_dask_on_slurm_finishes_only_it(slurm, field, same_cutouts, monkeypatch):
    directory = field["dir"]
    monkeypatch.chdir(directory)
    arguments = dict(size="2arcmin", slurm=True, array_size=3, memory="500M", store="hippo.db", timeout=WAIT)
    with node_held():  # the tasks stay pending: task 1 is cancelled before it can run
        submitted = batch_cutout(field["catalogue"], [field["survey"]], "batch", **arguments)
        assert submitted.state == "submitted"
        array_job = submitted.jobs[0]
        subprocess.run(["scancel", f"{array_job}_1"], check=True)

    failed = batch_cutout(field["catalogue"], [field["survey"]], "batch", wait=True, **arguments)
    assert failed.state == "failed" and failed.exit_status == 3
    assert [shard for shard, _ in failed.failures] == [1]
    assert "did not finish" in failed.failures[0][1]
    assert not (directory / "batch" / "cutouts.csv").exists()

    # The same batch finished on dask-jobqueue's SLURMCluster: the shard plan does not care who runs it.
    rerun = batch_cutout(field["catalogue"], [field["survey"]], "batch", wait=True,
                         **{**arguments, "slurm": False, "dask": "slurm", "interface": "lo", "memory": "1G"})
    assert rerun.state == "merged" and rerun.exit_status == 0
    same_cutouts(field, "batch")
    history = json.loads((rerun.products / "jobs.json").read_text())
    assert [(s["runner"], s["shards"]) for s in history] == [("slurm", [0, 1, 2]), ("dask-slurm", [1])]
    assert any(p.name.endswith(".err") for p in (rerun.products / "logs").iterdir())  # dask worker job logs
    with Store.open(directory / "hippo.db") as store:
        assert store.count("cutouts") == 12
        done = store.query("SELECT job_id FROM batch_jobs WHERE state='done' ORDER BY shard")
    assert list(done["job_id"]) == [f"{array_job}_0", "dask-slurm", f"{array_job}_2"]


def test_a_cancelled_submission_is_interrupted_in_the_store_at_the_next_batch_command(slurm, field, monkeypatch):
    directory = field["dir"]
    monkeypatch.chdir(directory)
    arguments = dict(size="2arcmin", slurm=True, array_size=2, memory="500M", store="hippo.db", quiet=True)
    # Nothing runs while the node is held: submit, then cancel every job of the batch (as scancel -u, or an admin).
    with node_held():
        first = batch_cutout(field["catalogue"], [field["survey"]], "batch", **arguments)
        subprocess.run(["scancel", *first.jobs], check=True)
        while subprocess.run(["squeue", "-h", "-j", ",".join(first.jobs)], capture_output=True,
                             text=True).stdout.strip():
            time.sleep(0.2)
        # Another batch with the same store (here: the same one again, submitted anew).
        second = batch_cutout(field["catalogue"], [field["survey"]], "batch", **arguments)
        subprocess.run(["scancel", *second.jobs], check=True)
    with Store.open(directory / "hippo.db") as store:
        rows = store.query("SELECT job_id, state FROM batch_jobs ORDER BY id")
    states = dict(zip(rows["job_id"], rows["state"]))
    assert len(states) == 6 and first.jobs[1] in states and second.jobs[1] in states
    assert {states[job] for job in states if job.split("_")[0] in first.jobs} == {"interrupted"}
    assert {states[job] for job in states if job.split("_")[0] in second.jobs} == {"submitted"}
