"""The shard plan and the sbatch scripts, without a scheduler: stable ids, exact coverage, readable scripts."""

import subprocess

import pytest

from hippo.batch import batch_classify, batch_cutout
from hippo.batch.plan import BatchPlan, plan_classify, plan_cutout, shard_bounds
from hippo.batch.slurm import SlurmOptions, render_array_script, render_merge_script
from hippo.errors import InputError, UsageError


@pytest.fixture
def first_files(shared_data):
    return sorted(str(p) for p in (shared_data / "first_mirabest").glob("*.fits.fz"))[:7]


def test_shards_cover_every_input_once_in_order_and_balanced():
    for count in (1, 5, 7, 100, 1001):
        for shards in (1, 2, 3, 7):
            bounds = shard_bounds(count, min(shards, count))
            covered = [i for start, stop in bounds for i in range(start, stop)]
            assert covered == list(range(count))
            sizes = [stop - start for start, stop in bounds]
            assert max(sizes) - min(sizes) <= 1
            # Aligned to classify's network passes of 64 where there are passes enough.
            aligned = shard_bounds(count, min(shards, count), block=64)
            assert [i for start, stop in aligned for i in range(start, stop)] == list(range(count))
            if -(-count // 64) >= min(shards, count):
                assert all(start % 64 == 0 for start, _ in aligned)


def test_plan_is_content_addressed_and_reused(first_files, tmp_path):
    plan = plan_classify(first_files, tmp_path, array_size=3)
    again = plan_classify(list(first_files), tmp_path, array_size=3)
    assert again.batch_id == plan.batch_id and again.directory == plan.directory
    listed = [line for i in range(3) for line in plan.shard_inputs(i).read_text().splitlines()]
    assert [p.rsplit("/", 1)[1] for p in listed] == [p.rsplit("/", 1)[1] for p in first_files]
    assert [len(plan.shard_inputs(i).read_text().splitlines()) for i in range(3)] == [2, 2, 3]
    # A different shard count, a different model or a different input set is a different batch.
    assert plan_classify(first_files, tmp_path, array_size=2).batch_id != plan.batch_id
    assert plan_classify(first_files, tmp_path, 3, ["--model", "/m"]).batch_id != plan.batch_id
    assert plan_classify(first_files[:-1], tmp_path, array_size=3).batch_id != plan.batch_id
    # A directory is its FITS files, sorted: the same plan as naming them.
    directory_plan = plan_classify([first_files[0].rsplit("/", 1)[0]], tmp_path / "d", array_size=3)
    assert directory_plan.input_count == 1159
    loaded = BatchPlan.load(plan.directory)
    assert (loaded.kind, loaded.shard_count, loaded.input_count) == ("classify", 3, 7)


def test_cutout_plan_shards_catalogue_rows_with_all_columns(tmp_path):
    catalogue = tmp_path / "positions.csv"
    catalogue.write_text("name,ra,dec,z\n" + "".join(f"s{i},{150 + i / 10},{2 + i / 10},0.{i}\n" for i in range(5)))
    plan = plan_cutout(catalogue, tmp_path / "scratch", array_size=2)
    from hippo.io import read_table
    shards = [read_table(plan.shard_inputs(i)) for i in range(2)]
    assert [list(t["name"]) for t in shards] == [["s0", "s1"], ["s2", "s3", "s4"]]
    assert shards[1].colnames == ["name", "ra", "dec", "z"]
    catalogue.write_text(catalogue.read_text().replace("s4", "s9"))
    assert plan_cutout(catalogue, tmp_path / "scratch", array_size=2).batch_id != plan.batch_id


def test_sbatch_scripts_say_what_they_ask_and_parse(first_files, tmp_path):
    plan = plan_classify(first_files, tmp_path, array_size=7)
    options = SlurmOptions(partition="Main", time="00:30:00", memory="2G", cpus_per_task=2, account="radio",
                           max_running=2)
    script = render_array_script(plan, [0, 1, 2, 5], options)
    directives = [line.split(None, 1)[1] for line in script.splitlines() if line.startswith("#SBATCH")]
    assert directives == [f"--job-name=hippo-{plan.name}", "--array=0-2,5%2", "--partition=Main", "--account=radio",
                          "--time=00:30:00", "--mem=2G", "--cpus-per-task=2",
                          f"--output={plan.log_directory}/shard-%5a.%A.log"]
    assert '-m hippo classify --quiet "${inputs[@]}" -o "$output"' in script
    merge = render_merge_script(plan, SlurmOptions(), tmp_path / "logs")
    assert f"--job-name=hippo-{plan.name}-merge" in merge and f"batch merge {plan.directory}" in merge
    for text in (script, merge):
        assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def test_bad_batch_calls_fail_in_one_line_before_submitting(hippo_cli, first_files, tmp_path):
    missing = tmp_path / "nope.fits"
    result = hippo_cli("batch", "classify", str(missing), "--dask", "-o", tmp_path / "o.csv")
    assert result.returncode == 2 and result.stderr.strip() == f"error: {missing}: no such file or directory"
    with pytest.raises(UsageError, match="--slurm"):
        batch_classify(first_files, tmp_path / "o.csv")
    with pytest.raises(UsageError, match="--array-size 0"):
        batch_classify(first_files, tmp_path / "o.csv", dask="local", array_size=0)
    with pytest.raises(InputError, match="source names repeat"):
        catalogue = tmp_path / "twice.csv"
        catalogue.write_text("name,ra,dec\na,150.0,2.0\nb,150.1,2.1\na,150.2,2.2\n")
        batch_cutout(catalogue, ["FIRST"], tmp_path / "cutouts", dask="local")
    assert not list(tmp_path.rglob("plan.json"))


def test_shards_too_long_for_one_command_line_are_refused(first_files, tmp_path, monkeypatch):
    from hippo.batch import plan

    monkeypatch.setattr(plan, "MAX_COMMAND_LINE_BYTES", 2 * len(first_files[0]) + 10)
    with pytest.raises(UsageError, match="use --array-size 4 or more"):
        plan_classify(first_files, tmp_path, array_size=2)
    assert plan_classify(first_files, tmp_path, array_size=4).shard_count == 4


def test_no_slurm_controller_is_said_in_words_a_user_can_act_on(tmp_path):
    import subprocess

    from hippo.batch.slurm import _slurm_reason

    # What Debian's squeue 22.05 prints on a machine without slurm.conf (seen on these VMs).
    said = ("squeue: error: resolve_ctls_from_dns_srv: res_nsearch error: Unknown host\n"
            "squeue: fatal: Could not establish a configuration source\n")
    reason = _slurm_reason(subprocess.CompletedProcess(["squeue"], 1, "", said))
    assert reason.startswith("no Slurm controller is reachable from this machine")
    assert "--dask local" in reason and "Unknown host" in reason
    other = _slurm_reason(subprocess.CompletedProcess(["sbatch"], 1, "", "sbatch: error: invalid partition\n"))
    assert other == "sbatch: error: invalid partition"
