"""Running a batch's shards on dask: a local cluster by default, or a dask-jobqueue SLURMCluster."""

import os
import sys
from pathlib import Path

from hippo.batch.plan import run_shard
from hippo.errors import UsageError
from hippo.progress import progress


def make_cluster(plan, cluster, workers, options, interface=None):
    """A dask cluster of ``workers`` single-threaded worker processes (``local`` or ``slurm``).

    Its scheduler and workers speak TLS with a key made for this cluster alone: a dask port takes
    code to run from whoever connects, and other users of a shared host (or cluster network) can
    reach it, 127.0.0.1 included. Only this process and the workers it starts hold the key.
    """
    try:
        from dask.distributed import LocalCluster
        from distributed.security import Security
    except ImportError:
        raise UsageError("--dask needs dask and distributed (pip install 'hippo-radio[batch]')") from None
    try:
        security = Security.temporary()
    except ImportError:
        raise UsageError("--dask needs cryptography for its TLS key (pip install 'hippo-radio[batch]')") from None
    if cluster == "local":
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            host="127.0.0.1", protocol="tls://", security=security)
    if cluster != "slurm":
        raise UsageError(f"--dask {cluster!r}: choose local or slurm")
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise UsageError("--dask slurm needs dask-jobqueue (pip install 'hippo-radio[batch]')") from None
    # One Slurm job per worker, each one process of cpus_per_task threads' worth of resources.
    slurm_cluster = SLURMCluster(
        queue=options.partition, account=options.account, cores=int(options.cpus_per_task), processes=1,
        memory=_dask_memory(options.memory or "2G"), walltime=options.time or "01:00:00", interface=interface,
        job_name=f"hippo-{plan.name}-dask", log_directory=str(plan.log_directory), python=sys.executable,
        security=_key_files(security, plan.directory))
    slurm_cluster.scale(jobs=workers)
    return slurm_cluster


def _key_files(security, directory):
    """``security`` with the workers' key and certificate in files that only we may read, in scratch,
    which every node sees: the worker jobs start from a script, not from this process's memory.

    (A key left in a kept scratch is of no use: each cluster has its own.)
    """
    for name in ("tls_ca_file", "tls_worker_cert", "tls_worker_key"):
        path = Path(directory) / f".dask-{name.removeprefix('tls_').replace('_', '-')}.pem"
        path.unlink(missing_ok=True)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as stream:
            stream.write(getattr(security, name))
        setattr(security, name, str(path))
    return security


def _dask_memory(memory):
    """Slurm's ``4G`` as dask's ``4GiB`` (Slurm counts in MiB multiples)."""
    text = str(memory).strip()
    return text + "iB" if text[-1:].upper() in "KMGT" and text[-1:].isalpha() else text


def run_shards(plan, shards, cluster="local", workers=2, options=None, interface=None, quiet=False):
    """Run ``shards`` on a dask cluster; returns {shard: exit status, or the error that stopped it}."""
    from dask.distributed import Client, as_completed

    results = {}
    with make_cluster(plan, cluster, workers, options, interface) as dask_cluster, Client(dask_cluster) as client:
        futures = {client.submit(run_shard, str(plan.directory), index, pure=False, key=f"{plan.name}-{index}"): index
                   for index in shards}
        for future in progress(as_completed(futures), total=len(futures), desc=f"hippo batch {plan.kind}",
                               quiet=quiet, unit="shard"):
            index = futures[future]
            try:
                results[index] = future.result()
            except Exception as exc:  # a lost worker or a failed task fails its shard, not the batch
                results[index] = f"{type(exc).__name__}: {exc}"
    return results
