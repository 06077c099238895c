"""Batches that meet trouble: failed and off-survey rows, a merge that dies, names that share a folder,
inputs repaired between runs, unreadable and missing files, another output or store, paths with spaces.
Each ends as a local run of the same input would, or is refused before anything runs."""

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from astropy.table import Table

from hippo.batch import batch_cutout
from hippo.batch.plan import plan_classify
from hippo.batch.slurm import SlurmOptions, render_array_script, render_merge_script
from hippo.store import Store

pytestmark = pytest.mark.timeout(400)
WAIT = 240  # seconds a Slurm batch may take on a busy machine before the test gives up


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def cutout_command(field, catalogue, output, *options):
    return ("batch", "cutout", "--catalogue", catalogue, "--survey", field["survey"], "--size", "2arcmin",
            "-o", output, "--array-size", "2", *options)


def test_failed_and_off_survey_rows_in_separate_shards_merge_as_in_a_local_run(field, hippo_cli):
    directory = field["dir"]
    rows = [tuple(row) for row in Table.read(field["catalogue"])[:4]]
    rows.insert(1, ("bad_dec", 10.0, 95.0))  # catalogue row 2
    # The second shard cuts nothing: its index has no paths, the first's has no messages.
    rows += [(f"off{i}", 250.0, -70.0 + i) for i in range(4)]
    rows.append(("worse_dec", 10.0, -95.0))  # catalogue row 10
    Table(rows=rows, names=("name", "ra", "dec")).write(directory / "mixed.csv")

    batch = hippo_cli(*cutout_command(field, "mixed.csv", "batch", "--dask", "local", "--workers", "1", "--wait"),
                      cwd=directory)
    local = hippo_cli("cutout", "--catalogue", "mixed.csv", "--survey", field["survey"], "--size", "2arcmin",
                      "-o", "mixed", cwd=directory)
    assert batch.returncode == local.returncode == 3, batch.stderr
    # Row for row the local index: statuses, messages and the catalogue's row numbers.
    batch_index = (directory / "batch" / "cutouts.csv").read_text()
    assert batch_index.replace(",batch/", ",mixed/") == (directory / "mixed" / "cutouts.csv").read_text()
    assert "no_coverage" in batch_index
    # Each failed row named on its own line, as a local run does.
    assert error_lines(batch.stderr) == error_lines(local.stderr) == [
        "error: bad_dec: row 2: Dec outside -90..+90 deg",
        "error: worse_dec: row 10: Dec outside -90..+90 deg"]


class MergeKilled(Exception):
    pass


def test_a_merge_that_died_runs_again_and_every_indexed_file_is_there(field, same_cutouts, monkeypatch):
    directory = field["dir"]
    monkeypatch.chdir(directory)
    arguments = dict(size="2arcmin", dask="local", workers=1, array_size=2, quiet=True)

    def die(*args, **kwargs):
        raise MergeKilled

    with monkeypatch.context() as patched:  # the merge dies as it writes the index
        patched.setattr("hippo.batch.merge.write_table", die)
        with pytest.raises(MergeKilled):
            batch_cutout(field["catalogue"], [field["survey"]], "batch", **arguments)
    assert list((directory / "batch").rglob("*.fits")) and not (directory / "batch" / "cutouts.csv").exists()
    shutil.rmtree(directory / "batch")  # "half-written: start clean"

    again = batch_cutout(field["catalogue"], [field["survey"]], "batch", **arguments)
    assert again.state == "merged" and again.exit_status == 0
    index = Table.read(directory / "batch" / "cutouts.csv")
    assert len(index) == 12 and all((directory / path).is_file() for path in index["path"])
    same_cutouts(field, "batch")


def test_names_that_clean_to_one_folder_are_refused_before_anything_runs(field, hippo_cli):
    directory = field["dir"]
    catalogue = Table.read(field["catalogue"])
    catalogue["name"] = catalogue["name"].astype(object)
    catalogue["name"][0], catalogue["name"][-1] = "NGC 315", "NGC_315"  # in different shards
    catalogue.write(directory / "collide.csv")

    result = hippo_cli(*cutout_command(field, "collide.csv", "batch", "--dask", "local", "--wait"), cwd=directory)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: collide.csv: source names repeat or clean to one folder name: 'NGC 315' and 'NGC_315' both go to "
        "NGC_315/; a batch needs unique names: name a column of unique ids with --id-col")
    assert not (directory / "batch").exists() and not list(directory.rglob("plan.json"))


def test_ids_with_leading_zeros_name_their_folders_in_a_batch_as_locally(field, hippo_cli):
    directory = field["dir"]
    catalogue = Table.read(field["catalogue"])[:4]
    lines = ["id,ra,dec"] + [f"{number:04d},{row['ra']},{row['dec']}" for number, row in enumerate(catalogue)]
    (directory / "ids.csv").write_text("\n".join(lines) + "\n")

    batch = hippo_cli(*cutout_command(field, "ids.csv", "batch", "--dask", "local", "--workers", "1", "--wait"),
                      cwd=directory)
    assert batch.returncode == 0, batch.stderr
    assert sorted(path.name for path in (directory / "batch").iterdir() if path.is_dir()) == [
        "0000", "0001", "0002", "0003"]
    assert [line.split(",")[0] for line in (directory / "batch/cutouts.csv").read_text().splitlines()[1:]] == [
        "0000", "0001", "0002", "0003"]


def test_a_repaired_input_or_results_sent_elsewhere_make_another_batch(shared_data, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for image in sorted((shared_data / "first_mirabest").glob("*.fits.fz"))[:3]:
        shutil.copyfile(image, images / image.name)
    scratch = tmp_path / "scratch"
    plan = plan_classify([images], scratch, output=tmp_path / "a.csv")
    assert plan_classify([images], scratch, output=tmp_path / "a.csv").batch_id == plan.batch_id
    assert plan_classify([images], scratch, output=tmp_path / "b.csv").batch_id != plan.batch_id
    assert plan_classify([images], scratch, output=tmp_path / "a.csv", store="/s/hippo.db").batch_id != plan.batch_id
    replaced = sorted(images.iterdir())[0]
    replaced.write_bytes(replaced.read_bytes()[:-2880])  # same name, other bytes
    assert plan_classify([images], scratch, output=tmp_path / "a.csv").batch_id != plan.batch_id


def test_unreadable_and_missing_inputs_are_error_rows_and_repaired_files_run_again(shared_data, shipped_model,
                                                                                   hippo_cli, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    good = sorted((shared_data / "first_mirabest").glob("*.fits.fz"))[:2]
    for image in good:
        (images / image.name).symlink_to(image)
    for name in ("z_broken1.fits", "z_broken2.fits"):  # sorted last: the second shard has nothing usable
        (images / name).write_text("truncated")
    command = ("batch", "classify", "images", "nope.fits", "-o", "batch.csv", "--dask", "local", "--workers", "1",
               "--array-size", "2", "--wait", "--store", "hippo.db")

    batch = hippo_cli(*command, cwd=tmp_path)
    local = hippo_cli("classify", "images", "nope.fits", "-o", "local.csv", cwd=tmp_path)
    assert batch.returncode == local.returncode == 3, batch.stderr
    assert (tmp_path / "batch.csv").read_text() == (tmp_path / "local.csv").read_text()
    assert error_lines(batch.stderr) == error_lines(local.stderr)
    assert [line.split(": ")[1] for line in error_lines(batch.stderr)] == [
        "nope.fits", "images/z_broken1.fits", "images/z_broken2.fits"]
    # Each row names its input as given, not as the shard read it; error rows their source as any row.
    merged = Table.read(tmp_path / "batch.csv", format="ascii.csv")
    assert list(merged["input"]) == ["nope.fits", *(f"images/{image.name}" for image in good),
                                     "images/z_broken1.fits", "images/z_broken2.fits"]
    assert list(merged["source"]) == ["nope", *(image.name.removesuffix(".fits.fz") for image in good),
                                      "z_broken1", "z_broken2"]
    with Store.open(tmp_path / "hippo.db") as store:  # files absolute in the store: it outlives the directory
        assert list(store.table("classifications")["input"]) == ["nope.fits", *(str(tmp_path / given)
                                                                               for given in merged["input"][1:])]

    for name in ("z_broken1.fits", "z_broken2.fits"):
        shutil.copyfile(good[0], images / name)
    repaired = hippo_cli(*command, cwd=tmp_path)
    assert repaired.returncode == 3, repaired.stderr
    assert error_lines(repaired.stderr) == ["error: nope.fits: no such file or directory"]
    assert "z_broken1," in (tmp_path / "batch.csv").read_text()
    with Store.open(tmp_path / "hippo.db") as store:
        latest = store.query("SELECT flag FROM classifications WHERE source='z_broken2' ORDER BY id DESC LIMIT 1")
    assert list(latest["flag"]) != ["error"] and len(latest) == 1


def test_a_file_that_is_not_a_store_is_refused_before_any_shard_runs(shared_data, hippo_cli, tmp_path):
    (tmp_path / "bad.db").write_text("junk")
    image = next((shared_data / "first_mirabest").glob("*.fits.fz"))
    result = hippo_cli("batch", "classify", image, "-o", "l.csv", "--dask", "local", "--workers", "1",
                       "--store", "bad.db", cwd=tmp_path)
    assert result.returncode == 2
    assert error_lines(result.stderr) == ["error: bad.db: is not a HIPPO store (not an SQLite database)"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.db"]  # no output, scratch or record


def test_a_finished_batch_run_again_with_a_store_fills_it_with_absolute_paths(field, hippo_cli):
    directory = field["dir"]
    (directory / "db").mkdir()
    command = cutout_command(field, field["catalogue"], "batch", "--dask", "local", "--workers", "1", "--wait")
    assert hippo_cli(*command, cwd=directory).returncode == 0
    again = hippo_cli(*command, "--store", "db/hippo.db", cwd=directory)
    assert again.returncode == 0, again.stderr
    with Store.open(directory / "db" / "hippo.db", must_exist=True) as store:
        stored = sorted(store.query("SELECT path FROM cutouts")["path"])
    # Absolute, so the inspection page finds them whichever directory it starts in.
    index = Table.read(directory / "batch" / "cutouts.csv")
    assert stored == sorted(str(directory / path) for path in index["path"]) and len(stored) == 12
    assert all(Path(path).is_file() for path in stored)


def test_sbatch_directives_hold_paths_with_spaces(shared_data, tmp_path):
    home = tmp_path / "my results"
    images = sorted(str(p) for p in (shared_data / "first_mirabest").glob("*.fits.fz"))[:2]
    plan = plan_classify(images, home / "scratch")
    scripts = [render_array_script(plan, [0], SlurmOptions()), render_merge_script(plan, SlurmOptions(), home / "logs")]
    outputs = [shlex.split(line.removeprefix("#SBATCH "))[0] for script in scripts for line in script.splitlines()
               if line.startswith("#SBATCH --output")]
    assert outputs == [f"--output={plan.log_directory}/shard-%5a.%A.log", f"--output={home}/logs/merge.%j.log"]
    for script in scripts:
        assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


@pytest.mark.timeout(600)
def test_two_outputs_of_one_catalogue_on_slurm_in_a_folder_with_a_space_are_two_batches(slurm, field, hippo_cli):
    home = field["dir"] / "my results"
    home.mkdir()

    def batch(name, *options):
        return hippo_cli(*cutout_command(field, field["catalogue"], f"out{name}", "--slurm", "--mem", "500M",
                                         "--store", f"{name}.db", *options), cwd=home, env=slurm.env)

    for name in ("A", "B"):  # both queued before either runs
        submitted = batch(name)
        assert submitted.returncode == 0 and "submitted" in submitted.stderr, submitted.stderr
    for name in ("A", "B"):
        done = batch(name, "--wait", "--timeout", str(WAIT))
        assert done.returncode == 0, done.stderr
        index = Table.read(home / f"out{name}" / "cutouts.csv")
        assert list(index["name"]) == list(field["local_index"]["name"])
        assert all((home / path).is_file() for path in index["path"])
        with Store.open(home / f"{name}.db", must_exist=True) as store:
            assert store.count("cutouts") == 12
    outputs = sorted(json.loads((record / "summary.json").read_text())["output"]
                     for record in home.glob("hippo-batch-cutout-*"))
    assert outputs == [str(home / "outA"), str(home / "outB")]


def test_overlays_that_cannot_be_drawn_give_a_batch_the_local_runs_exit_status_and_lines(hippo_cli, tmp_path):
    pytest.importorskip("hippo.overlays")
    import numpy as np
    from astropy.io import fits
    from astropy.wcs import WCS

    def survey(name, data):  # 120 x 120 pixels of 2" around (150, 2)
        wcs = WCS(naxis=2)
        wcs.wcs.ctype, wcs.wcs.crval = ["RA---TAN", "DEC--TAN"], [150.0, 2.0]
        wcs.wcs.crpix, wcs.wcs.cdelt = [60.5, 60.5], [-2.0 / 3600, 2.0 / 3600]
        header = wcs.to_header()
        header["BUNIT"] = "JY/BEAM" if name == "radio" else "counts"
        fits.PrimaryHDU(data.astype(np.float32), header).writeto(tmp_path / f"{name}.fits")

    noise = np.random.default_rng(3).normal(size=(120, 120))
    radio = noise.copy()
    radio[:, :60] = 0.0  # east half blank: no contours can be drawn there
    survey("optical", noise)
    survey("radio", radio)
    # E (east, blank radio) and W in separate shards: one overlay drawn, one not.
    (tmp_path / "sources.csv").write_text("name,ra,dec\nE,150.0167,2.0\nW,149.9833,2.0\n")
    options = ("--catalogue", "sources.csv", "--survey", "optical.fits", "--survey", "radio.fits", "--size", "1arcmin",
               "--overlay")

    batch = hippo_cli("batch", "cutout", *options, "-o", "batch", "--array-size", "2", "--dask", "local",
                      "--workers", "1", "--wait", cwd=tmp_path)
    local = hippo_cli("cutout", *options, "-o", "local", cwd=tmp_path)
    assert batch.returncode == local.returncode == 3, batch.stderr
    # The same lines and index, each naming its own output's cutouts.
    (line,) = error_lines(local.stderr)
    assert line.startswith("error: E: overlay not written: local/E/radio.fits: cannot draw contours")
    assert [line.replace("batch/", "local/") for line in error_lines(batch.stderr)] == error_lines(local.stderr)
    assert "1 overlay not written" in batch.stderr
    batch_index = (tmp_path / "batch" / "cutouts.csv").read_text()
    assert batch_index.replace("batch/", "local/") == (tmp_path / "local" / "cutouts.csv").read_text()
    assert (tmp_path / "batch/W/overlay.png").is_file() and not (tmp_path / "batch/E/overlay.png").exists()
