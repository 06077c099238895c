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
