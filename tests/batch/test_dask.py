"""Batch runs on dask (a local cluster): the same shards and merge as on Slurm, no scheduler needed."""

import json

import pytest

from hippo.batch import batch_cutout

pytestmark = pytest.mark.timeout(300)


def test_dask_local_cluster_equals_a_local_run_and_keeps_intermediates_when_asked(field, same_cutouts, monkeypatch):
    directory = field["dir"]
    monkeypatch.chdir(directory)
    result = batch_cutout(field["catalogue"], [field["survey"]], "batch", size="2arcmin", dask="local", workers=2,
                          array_size=3, scratch=directory / "scratch", products=directory / "products",
                          keep_intermediates=True, store="hippo.db", quiet=True)
    assert result.state == "merged" and result.exit_status == 0
    same_cutouts(field, "batch")
    summary = json.loads((result.products / "summary.json").read_text())
    assert summary["intermediates"] == f"kept in {result.scratch}"
    assert result.products.parent == directory / "products"
    assert sorted(p.name for p in result.scratch.glob("shard-*.exit")) == [f"shard-{i:05d}.exit" for i in range(3)]
    assert len(list((result.products / "logs").glob("shard-*.dask-*.log"))) == 3


def test_dask_classify_names_failed_files_as_a_local_run_does(shared_data, hippo_cli, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for image in sorted((shared_data / "first_mirabest").glob("*.fits.fz"))[:5]:
        (images / image.name).symlink_to(image)
    (images / "garbage.fits").write_text("not FITS")
    batch = hippo_cli("batch", "classify", "images", "-o", "batch.csv", "--dask", "local", "--workers", "1",
                      "--array-size", "2", "--wait", "--store", "batch.db", cwd=tmp_path)
    local = hippo_cli("classify", "images", "-o", "local.csv", "--store", "local.db", cwd=tmp_path)
    assert batch.returncode == local.returncode == 3, batch.stderr
    # Row for row what a local run writes, the failed file named as given ("images/garbage.fits").
    assert (tmp_path / "batch.csv").read_text() == (tmp_path / "local.csv").read_text()
    assert "images/garbage.fits" in (tmp_path / "batch.csv").read_text()
    local_errors = [line for line in local.stderr.splitlines() if line.startswith("error:")]
    assert local_errors and local_errors == [line for line in batch.stderr.splitlines() if line.startswith("error:")]

    # and the same store rows: classifications, and the classified sources with their positions
    from hippo.store import Store

    def store_rows(name, table, columns):
        with Store.open(tmp_path / name, must_exist=True) as store:
            return sorted(tuple(row[c] for c in columns) for row in store.table(table))

    for table, columns in (("classifications", ("source", "label", "flag", "input")), ("sources", ("source", "ra", "dec"))):
        assert store_rows("batch.db", table, columns) == store_rows("local.db", table, columns)
    assert len(store_rows("local.db", "sources", ("source",))) == 5


def test_the_local_cluster_lets_in_only_holders_of_its_key(shared_data, shipped_model, tmp_path, monkeypatch):
    """Another user on the host can reach 127.0.0.1: without the batch's key they cannot run anything."""
    from distributed import Client
    from distributed.security import Security

    from hippo.batch import batch_classify, dask_cluster

    refused, addresses = {}, []
    original = dask_cluster.make_cluster

    def make_cluster_and_knock(*args, **kwargs):
        cluster = original(*args, **kwargs)
        addresses.extend([cluster.scheduler_address, *cluster.scheduler_info["workers"]])
        for address in addresses:
            port = address.rsplit(":", 1)[1]
            # Plain TCP, and TLS with a key of one's own: the two things a neighbour can try.
            for attempt, security in ((f"tcp://127.0.0.1:{port}", None), (address, Security.temporary())):
                try:
                    with Client(attempt, security=security, timeout="3s") as intruder:
                        refused[attempt] = intruder.submit(sum, [1, 2]).result(timeout=3)
                except Exception as exc:  # the kind of failure depends on where the handshake breaks
                    refused[attempt] = type(exc).__name__
        return cluster

    monkeypatch.setattr(dask_cluster, "make_cluster", make_cluster_and_knock)
    image = next((shared_data / "first_mirabest").glob("*.fits.fz"))
    result = batch_classify([image], tmp_path / "labels.csv", dask="local", workers=1, scratch=tmp_path / "scratch",
                            quiet=True)
    assert result.state == "merged" and result.exit_status == 0 and len(result.table) == 1
    assert len(addresses) == 2 and all(address.startswith("tls://127.0.0.1:") for address in addresses)
    # Every attempt raised (the name of the error, whatever it is), none ran the task.
    assert len(refused) == 4 and all(isinstance(outcome, str) for outcome in refused.values()), refused
