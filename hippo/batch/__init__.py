"""Batch runs of ``hippo classify`` and ``hippo cutout`` over whole surveys: Slurm job arrays or dask.

The input is split into shards by a stable, content-addressed plan kept in a scratch directory;
each task runs the real ``hippo`` command on its shard and writes only its own files (never the
store, never a shared file), and a merge step that runs after every task succeeded writes the
final products, their record (logs, parameters, software versions) and the store, then removes
the intermediates. Re-running the same call resubmits only the shards that are missing or failed.
"""

from pathlib import Path

from hippo.batch.plan import plan_classify, plan_cutout
from hippo.batch.runner import BatchResult, BatchSettings, check_runner, default_scratch, run_batch
from hippo.io.atomic import check_writable
from hippo.batch.slurm import SlurmOptions
from hippo.io.fitsfiles import as_path_list
from hippo.io.tables import table_format

__all__ = ["BatchResult", "batch_classify", "batch_cutout"]


def _settings(output, products, store, keep_intermediates, wait, timeout, slurm, dask, workers, interface,
              partition, time, memory, cpus_per_task, account, max_running, parameters, quiet, folder=False):
    check_runner(slurm, dask)
    # What the merge writes is checked now: found at the merge, after every shard ran, it was too late.
    check_writable(output, folder=folder)
    check_writable(products, folder=True)
    if store:
        from hippo.batch.merge import close_stale_submissions
        from hippo.store import Store

        with Store.open(store) as database:  # a file that is not a store is refused here, not by the merge
            close_stale_submissions(database)  # earlier batches whose jobs left the queue unmerged
    return BatchSettings(
        output=Path(output).resolve(), output_as_given=str(output), products=Path(products).resolve(),
        store=str(Path(store).resolve()) if store else None, keep_intermediates=keep_intermediates, wait=wait,
        timeout=timeout, slurm=bool(slurm), dask=("local" if dask is True else dask) or None, workers=int(workers),
        interface=interface,
        options=SlurmOptions(partition=partition, time=time, memory=memory, cpus_per_task=cpus_per_task,
                             account=account, max_running=max_running),
        parameters=parameters, quiet=quiet)


def batch_classify(inputs, output, *, model=None, slurm=False, dask=None, array_size=None, partition=None,
                   time=None, memory=None, cpus_per_task=1, account=None, max_running=None, wait=False,
                   timeout=None, scratch=None, products=None, keep_intermediates=False, store=None, workers=2,
                   interface=None, quiet=False):
    """Classify many FITS images as a Slurm job array or on dask; the result equals ``hippo.classify``.

    Parameters
    ----------
    inputs : list of str or Path
        FITS files, or directories of them (their FITS files, sorted by name). One that does not
        exist gets an error row, as in a local run.
    output : str or Path
        The merged table (by extension: .csv, .ecsv, .fits, ...), one row per input as ``classify``.
    model : str, optional
        Model directory passed to every task (default: the shipped model).
    slurm : bool
        Submit an ``sbatch`` job array (one task per shard) and a merge job (``afterok``).
    dask : {None, "local", "slurm"} or True
        Run the shards on a local dask cluster, or on a dask-jobqueue SLURMCluster.
    array_size : int, optional
        Number of shards (array tasks); default: about 128 inputs a shard, at most 1000 shards.
    partition, time, memory, cpus_per_task, account : str or int
        Slurm resources of each task (``--partition``, ``--time``, ``--mem``, ``--cpus-per-task``,
        ``--account``); None leaves the cluster's default (dask on Slurm asks 2GB and 1 hour then).
    max_running : int, optional
        At most this many array tasks at once (``--array=...%N``).
    wait : bool
        Block until the batch is merged or failed; otherwise return once the jobs are submitted.
    timeout : float, optional
        Seconds to wait at most (with ``wait``).
    scratch : str or Path, optional
        Intermediates (plan, shard files, task logs): ``$HIPPO_SCRATCH``, ``$SCRATCH/hippo``, or
        ``<products>/.hippo-scratch``. Must be visible from every compute node.
    products : str or Path, optional
        Where the batch's record goes (``hippo-batch-classify-<id>/``: logs, plan, scripts,
        provenance.json, summary.json); default: the directory of ``output``.
    keep_intermediates : bool
        Keep the scratch directory after a successful merge (it is removed by default).
    store : str or Path, optional
        The merge fills the store's ``classifications`` and ``batch_jobs``, and records the run.
    workers : int
        Dask workers (local processes, or Slurm jobs with ``dask="slurm"``).
    interface : str, optional
        Network interface the dask scheduler and workers talk over (``dask="slurm"``), e.g. ``ib0``.

    Returns
    -------
    BatchResult
        ``state`` (submitted, running, merged, failed), job ids, failures, summary and ``table``.
    """
    inputs = as_path_list(inputs)
    output = Path(output)
    table_format(output)  # a name of no table format is refused now, not by the merge
    products = Path(products) if products else output.resolve().parent
    tool_arguments = ["--model", str(Path(model).resolve())] if model else []
    if model is None:  # recorded as the model the tasks will load, not as "the default"
        from hippo.morphology.classifier import default_model_dir

        model_used = default_model_dir()
    else:
        model_used = Path(model).resolve()
    parameters = {"inputs": [str(i) for i in inputs], "output": str(output), "model": str(model_used),
                  "array_size": array_size, "runner": "slurm" if slurm else f"dask-{dask}"}
    settings = _settings(output, products, store, keep_intermediates, wait, timeout, slurm, dask, workers, interface,
                         partition, time, memory, cpus_per_task, account, max_running, parameters, quiet)
    plan = plan_classify(inputs, scratch or default_scratch(products), array_size, tool_arguments,
                         output=settings.output, store=settings.store)
    return run_batch(plan, settings)


def batch_cutout(catalogue, survey, output, *, size=None, pixel_scale=None, reproject_to=None, overlay=False,
                 ra_col=None, dec_col=None, id_col=None, slurm=False, dask=None, array_size=None, partition=None,
                 time=None, memory=None, cpus_per_task=1, account=None, max_running=None, wait=False,
                 timeout=None, scratch=None, products=None, keep_intermediates=False, store=None, workers=2,
                 interface=None, quiet=False):
    """Cut many positions as a Slurm job array or on dask; the result equals ``hippo.cutout``.

    Each task runs ``hippo cutout --catalogue <its rows>`` into scratch; the merge puts the cutouts
    into ``output`` (``output/<name>/<survey>.fits``) and joins the indexes into ``output/cutouts.csv``.
    Names that would share a folder (repeated, or the same once cleaned: ``NGC 315``, ``NGC_315``)
    are refused before anything runs.

    Parameters
    ----------
    catalogue : str or Path
        Table of positions (all its columns go to the tasks, so names come out as in a local run).
    survey : list of str
        Surveys as for ``hippo cutout`` (names, FITS files, directories of FITS images).
    output : str or Path
        Cutout directory.
    size, pixel_scale, reproject_to, overlay, ra_col, dec_col, id_col
        As for ``hippo cutout``.
    The scheduling, scratch, products, store and waiting parameters are those of :func:`batch_classify`.

    Returns
    -------
    BatchResult
    """
    output = Path(output)
    surveys = [survey] if isinstance(survey, (str, Path)) else list(survey)
    tool_arguments = []
    for name in surveys:
        local = Path(name)
        tool_arguments += ["--survey", str(local.resolve()) if local.exists() else str(name)]
    for option, value in (("--size", size), ("--pixel-scale", pixel_scale), ("--reproject-to", reproject_to),
                          ("--ra-col", ra_col), ("--dec-col", dec_col), ("--id-col", id_col)):
        if value is not None:
            tool_arguments += [option, str(value)]
    if overlay:
        tool_arguments.append("--overlay")
    products = Path(products) if products else output.resolve().parent
    parameters = {"catalogue": str(catalogue), "survey": [str(s) for s in surveys], "output": str(output),
                  "size": size, "pixel_scale": pixel_scale, "reproject_to": reproject_to, "overlay": overlay,
                  "array_size": array_size, "runner": "slurm" if slurm else f"dask-{dask}"}
    settings = _settings(output, products, store, keep_intermediates, wait, timeout, slurm, dask, workers, interface,
                         partition, time, memory, cpus_per_task, account, max_running, parameters, quiet,
                         folder=True)
    plan = plan_cutout(catalogue, scratch or default_scratch(products), array_size, tool_arguments,
                       (ra_col, dec_col, id_col), output=settings.output, store=settings.store)
    return run_batch(plan, settings)
