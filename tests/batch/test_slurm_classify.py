"""Batch classification on a real Slurm: a shard of nothing but broken files, then a re-run once they are repaired."""

import json
import shutil

import pytest

from hippo.store import Store

pytestmark = pytest.mark.timeout(500)
WAIT = 300


def test_unreadable_shard_is_merged_as_error_rows_and_repaired_files_run_again(slurm, shared_data, shipped_model,
                                                                              hippo_cli, tmp_path):
    # 66 images: shard 0 holds one whole network pass of 64 (as a local run has it), shard 1 the rest.
    images = sorted((shared_data / "first_mirabest").glob("*.fits.fz"))[:66]
    inputs = tmp_path / "images"
    inputs.mkdir()
    for image in images:
        (inputs / image.name).symlink_to(image)
    # The last two images arrived truncated (broken downloads): their shard has nothing usable.
    for image in images[64:]:
        (inputs / image.name).unlink()
        (inputs / image.name).write_bytes(image.read_bytes()[:5000])
    command = ("batch", "classify", inputs, "-o", "labels.csv", "--slurm", "--array-size", "2", "--mem", "1G",
               "--store", "hippo.db", "--wait", "--timeout", str(WAIT))

    broken = hippo_cli(*command, cwd=tmp_path, env=slurm.env)
    local = hippo_cli("classify", inputs, "-o", "local.csv", cwd=tmp_path)
    # As a local run: exit 3, the same table, and one line for each broken file.
    assert broken.returncode == local.returncode == 3, broken.stderr
    assert (tmp_path / "labels.csv").read_text() == (tmp_path / "local.csv").read_text()
    errors = [line for line in broken.stderr.splitlines() if line.startswith("error:")]
    assert [line.split(": ")[1] for line in errors] == [str(inputs / image.name) for image in images[64:]]
    assert errors == [line for line in local.stderr.splitlines() if line.startswith("error:")]

    for image in images[64:]:
        shutil.copyfile(image, inputs / image.name)
    # The same command over the repaired files is another batch: it runs again, and fills the store again.
    rerun = hippo_cli(*command, cwd=tmp_path, env=slurm.env)
    assert rerun.returncode == 0, rerun.stderr
    local = hippo_cli("classify", inputs, "-o", "local.csv", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    # The same bytes as one local run over the same inputs: rows, order, labels, probabilities to the bit.
    assert (tmp_path / "labels.csv").read_text() == (tmp_path / "local.csv").read_text()
    assert len((tmp_path / "labels.csv").read_text().splitlines()) == 1 + 66

    records = {json.loads((record / "summary.json").read_text())["exit_status"]: record
               for record in tmp_path.glob("hippo-batch-classify-*")}
    assert sorted(records) == [0, 3]
    assert [s["shards"] for s in json.loads((records[0] / "jobs.json").read_text())] == [[0, 1]]
    with Store.open(tmp_path / "hippo.db") as store:
        runs = store.query("SELECT run_id FROM batch_jobs WHERE state='merged' ORDER BY run_id")
        assert len(runs) == 2
        latest = store.query("SELECT source, flag, input FROM classifications WHERE run_id=? ORDER BY id",
                             (int(runs["run_id"][1]),))
        outcome = store.query("SELECT shard, state FROM batch_jobs WHERE state != 'submitted' AND run_id=? "
                              "ORDER BY shard", (int(runs["run_id"][0]),))
    assert list(latest["source"]) == [image.name.removesuffix(".fits.fz") for image in images]
    assert "error" not in list(latest["flag"])
    assert list(latest["input"]) == [str(inputs / image.name) for image in images]
    # The first batch's broken shard finished (exit 2 recorded) rather than failing the batch.
    assert list(outcome["state"]) == ["merged", "done", "partial"]
