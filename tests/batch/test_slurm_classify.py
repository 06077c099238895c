"""Batch classification on a real Slurm: a task that fails for real, then a re-run that completes the set."""

import json
import shutil

import pytest

from hippo.store import Store

pytestmark = pytest.mark.timeout(500)
WAIT = 300


def test_failed_task_is_reported_and_the_rerun_resubmits_only_it(slurm, shared_data, shipped_model, hippo_cli,
                                                                 tmp_path):
    # 66 images: shard 0 holds one whole network pass of 64 (as a local run has it), shard 1 the rest.
    images = sorted((shared_data / "first_mirabest").glob("*.fits.fz"))[:66]
    inputs = tmp_path / "images"
    inputs.mkdir()
    for image in images:
        (inputs / image.name).symlink_to(image)
    # The last two images arrived truncated (broken downloads): their shard has nothing usable and fails.
    for image in images[64:]:
        (inputs / image.name).unlink()
        (inputs / image.name).write_bytes(image.read_bytes()[:5000])
    command = ("batch", "classify", inputs, "-o", "labels.csv", "--slurm", "--array-size", "2", "--mem", "1G",
               "--store", "hippo.db", "--wait", "--timeout", str(WAIT))

    failed = hippo_cli(*command, cwd=tmp_path, env=slurm.env)
    assert failed.returncode == 3, failed.stderr
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and " shard 1: 'hippo classify' exited 2 " in errors[0]
    assert "re-run the same command" in failed.stderr
    assert not (tmp_path / "labels.csv").exists()

    for image in images[64:]:
        shutil.copyfile(image, inputs / image.name)
    rerun = hippo_cli(*command, cwd=tmp_path, env=slurm.env)
    assert rerun.returncode == 0, rerun.stderr
    local = hippo_cli("classify", inputs, "-o", "local.csv", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    # The same bytes as one local run over the same inputs: rows, order, labels, probabilities to the bit.
    assert (tmp_path / "labels.csv").read_text() == (tmp_path / "local.csv").read_text()
    assert len((tmp_path / "labels.csv").read_text().splitlines()) == 1 + 66

    (record,) = tmp_path.glob("hippo-batch-classify-*")
    history = json.loads((record / "jobs.json").read_text())
    assert [submission["shards"] for submission in history] == [[0, 1], [1]]
    with Store.open(tmp_path / "hippo.db") as store:
        rows = store.query("SELECT source, input FROM classifications ORDER BY id")
        outcome = store.query("SELECT shard, state, job_id FROM batch_jobs WHERE state != 'submitted' ORDER BY shard")
    assert list(rows["source"]) == [image.name.removesuffix(".fits.fz") for image in images]
    assert list(rows["input"]) == [str(inputs / image.name) for image in images]
    assert list(outcome["state"]) == ["merged", "done", "done"]
    assert outcome["job_id"][2] == f"{history[1]['array_job']}_1"
