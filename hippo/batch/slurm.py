"""Slurm for a batch: sbatch scripts a user can read, submission, and the queue read with squeue.

Accounting (sacct) is often off or slow, so nothing here asks it: a job in ``squeue`` is pending
or running; a shard not in the queue is judged by its own exit and output files (see plan.py).
"""

import getpass
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

from hippo.errors import HippoError, UsageError

_INPUTS = "\0inputs\0"
_OUTPUT = "\0output\0"
_TASK_ID = "\0task\0"


@dataclass
class SlurmOptions:
    """Resources asked of Slurm for each task (and for the merge job); None leaves the cluster's default."""

    partition: str = None
    time: str = None
    memory: str = None
    cpus_per_task: int = 1
    account: str = None
    max_running: int = None

    def sbatch_lines(self):
        lines = []
        if self.partition:
            lines.append(f"--partition={self.partition}")
        if self.account:
            lines.append(f"--account={self.account}")
        if self.time:
            lines.append(f"--time={self.time}")
        if self.memory:
            lines.append(f"--mem={self.memory}")
        lines.append(f"--cpus-per-task={int(self.cpus_per_task)}")
        return lines


@dataclass
class QueuedJob:
    job_id: str
    task: int  # array task index, None for the merge job
    state: str
    reason: str

    @property
    def never_runs(self):
        """A job waiting on a dependency that can no longer be met (a shard failed)."""
        return self.state == "PENDING" and self.reason == "DependencyNeverSatisfied"


def require_slurm():
    missing = [c for c in ("sbatch", "squeue", "scancel") if shutil.which(c) is None]
    if missing:
        raise UsageError(f"--slurm: Slurm client commands not found ({', '.join(missing)}); "
                         "run on a cluster login node, or use --dask")


def _array_spec(shards, max_running):
    """``0-3,7`` from shard indices, with ``%N`` to cap how many run at once."""
    ranges = []
    for index in sorted(shards):
        if ranges and index == ranges[-1][1] + 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    spec = ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in ranges)
    return spec + (f"%{int(max_running)}" if max_running else "")


def _script(header_lines, comment, body):
    # sbatch splits a directive into words as a shell would: a path with a space needs quotes.
    directives = [f"#SBATCH {option}={shlex.quote(value)}"
                  for option, _, value in (line.partition("=") for line in header_lines)]
    lines = ["#!/bin/bash"] + directives + [""] + [f"# {line}" if line else "#" for line in comment] + ["set -u"] + body
    return "\n".join(lines) + "\n"


def _bash_command(argv):
    quoted = []
    for arg in argv:
        if arg == _INPUTS:
            quoted.append('"${inputs[@]}"')
        elif arg == _OUTPUT:
            quoted.append('"$output"')
        elif arg == _TASK_ID:
            quoted.append('"$SLURM_ARRAY_TASK_ID"')
        else:
            quoted.append(shlex.quote(str(arg)))
    return " ".join(quoted)


def render_array_script(plan, shards, options):
    """The sbatch script of one job array: one task per shard, each writing only its own files."""
    directory = plan.directory
    command = plan.shard_command([_INPUTS] if plan.kind == "classify" else _INPUTS, _OUTPUT)
    read_inputs = ('mapfile -t inputs < "$dir/shard-$shard.inputs"' if plan.kind == "classify"
                   else 'inputs=("$dir/shard-$shard.ecsv")')
    output_name = plan.shard_output(0).name.replace("shard-00000", "shard-$shard")
    header = [f"--job-name=hippo-{plan.name}", f"--array={_array_spec(shards, options.max_running)}",
              *options.sbatch_lines(), f"--output={plan.log_directory}/shard-%5a.%A.log"]
    comment = [f"HIPPO batch {plan.kind} {plan.batch_id}: {plan.input_count} inputs in {plan.shard_count} shards; "
               f"this array runs shards {_array_spec(shards, None)}.",
               f"Each task runs the real 'hippo {plan.kind}' on its shard and writes only its own files in",
               f"{directory} (shard-NNNNN.*); the .exit file, written after the command ends, marks it finished.",
               "Re-running the same 'hippo batch' command resubmits only shards that are missing or failed.", ""]
    body = [f"dir={shlex.quote(str(directory))}",
            'shard=$(printf %05d "$SLURM_ARRAY_TASK_ID")',
            f'output="$dir/{output_name}"',
            'exit_file="$dir/shard-$shard.exit"',
            "# A new attempt starts clean: nothing of an earlier, killed attempt is taken for its result.",
            'rm -rf "$output" "$exit_file"',
            read_inputs,
            _bash_command(command),
            "status=$?"]
    if plan.kind == "classify":
        error_rows = _bash_command(plan.error_rows_command(_TASK_ID))
        body += ["# 'hippo classify' writes no table when none of the files is usable (exit 2); their error",
                 "# rows are then the shard's result (a model that does not load still fails it).",
                 f'if [ "$status" -eq 2 ] && [ ! -e "$output" ]; then {error_rows}; fi']
    body += ['echo "$status" > "$exit_file.part" && mv -f "$exit_file.part" "$exit_file"',
             "# The shard is done when its output exists (written whole, then renamed): exit 3 means some",
             "# inputs failed and are reported as rows, as in a local run, so afterok may go ahead.",
             'if [ -e "$output" ]; then exit 0; else exit "$status"; fi']
    return _script(header, comment, body)


def render_merge_script(plan, options, log_directory):
    """The sbatch script of the merge job (it runs after every task succeeded: afterok).

    Its log goes straight to the products record, since the merge removes the scratch directory.
    """
    header = [f"--job-name=hippo-{plan.name}-merge", *options.sbatch_lines(),
              f"--output={log_directory}/merge.%j.log"]
    comment = [f"HIPPO batch {plan.kind} {plan.batch_id}: merge the {plan.shard_count} shard outputs into the "
               "final products and the store,", "then remove the intermediates (unless kept).", ""]
    body = [_bash_command([sys.executable, "-m", "hippo", "batch", "merge", str(plan.directory)])]
    return _script(header, comment, body)


# What Slurm's clients say when there is no controller to talk to (no slurm.conf, DNS SRV lookup
# failed, slurmctld down): the user needs to hear that, not the resolver's words.
_UNREACHABLE = ("resolve_ctls_from_dns_srv", "Could not establish a configuration source",
                "Unable to process configuration file", "Unable to contact slurm controller", "Connection refused")


def _slurm_reason(result):
    said = " ".join((result.stderr or result.stdout).split())
    if any(marker in said for marker in _UNREACHABLE):
        return (f"no Slurm controller is reachable from this machine (is this a cluster login node? "
                f"otherwise use --dask local); Slurm said: {said}")
    return said


def sbatch(script_path, dependency=None):
    """Submit a script; returns the job id."""
    command = ["sbatch", "--parsable"]
    if dependency:
        command.append(f"--dependency=afterok:{dependency}")
    result = subprocess.run(command + [str(script_path)], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise HippoError(f"sbatch {script_path}: {_slurm_reason(result)}")
    return result.stdout.strip().split(";")[0]


def queued_jobs(plan):
    """This batch's jobs in the queue (tasks one per line, and the merge job)."""
    names = f"hippo-{plan.name},hippo-{plan.name}-merge"
    result = subprocess.run(["squeue", "-h", "-r", "-u", getpass.getuser(), "-n", names, "-o", "%F|%K|%T|%r|%j"],
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise HippoError(f"squeue: {_slurm_reason(result)}")
    jobs = []
    for line in result.stdout.splitlines():
        array_id, task, state, reason, name = line.split("|", 4)
        merge = name.endswith("-merge")
        jobs.append(QueuedJob(array_id, None if merge else int(task), state, reason))
    return jobs


def queued_batches():
    """Names of this user's batches with a job in the queue (``classify-<id>``), or None where Slurm
    cannot be asked (no client commands, no controller)."""
    if shutil.which("squeue") is None:
        return None
    try:
        result = subprocess.run(["squeue", "-h", "-u", getpass.getuser(), "-o", "%j"], capture_output=True,
                                text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return {name.removeprefix("hippo-").removesuffix("-merge").removesuffix("-dask")
            for name in result.stdout.split() if name.startswith("hippo-")}


def scancel(job_id):
    subprocess.run(["scancel", str(job_id)], capture_output=True, text=True, timeout=120)


def wait_for_jobs(plan, timeout=None, poll_seconds=2.0):
    """Block until none of the batch's jobs can still run; a merge that can never start is cancelled.

    Returns the ids of the merge jobs cancelled that way.
    """
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    while True:
        jobs = queued_jobs(plan)
        if all(job.task is None for job in jobs) and all(job.never_runs for job in jobs):
            for job in jobs:
                scancel(job.job_id)
            return [job.job_id for job in jobs]
        if deadline is not None and time.monotonic() > deadline:
            raise HippoError(f"batch {plan.name}: still running after {timeout} s "
                             f"({len(jobs)} jobs in the queue); re-run the same command to check on it")
        time.sleep(poll_seconds)
