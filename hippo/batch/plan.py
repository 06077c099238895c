"""The shard plan of a batch: which inputs each task gets, stable and content-addressed, kept in scratch.

A plan is named by a hash of everything that decides the batch's results (the command, its inputs
as they are now, its options and the files they name, the number of shards, where the results go),
so re-running the same command finds the same plan and the shards already done, while a repaired
input, another output or another store is another batch. Each shard leaves three files beside the
plan, written by the task itself: its inputs, its output (written atomically by the real ``hippo``
command) and an exit file written only after the command ended. Those files, not the scheduler's
memory, say what is done: Slurm accounting is not needed, and a shard killed at any moment is
simply run again.
"""

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hippo.errors import EXIT_USAGE, InputError, UsageError
from hippo.io.fitsfiles import find_fits_files
from hippo.io import atomic_write_text, read_positions, read_table, write_table
from hippo.io.columns import find_position_columns
from hippo.io.tables import keep_leading_zeros
from hippo.provenance import sha256_file

KINDS = ("classify", "cutout")
# Slurm's default MaxArraySize is 1001 (indices 0-1000): stay within it unless asked otherwise.
DEFAULT_MAX_SHARDS = 1000
DEFAULT_SHARD_INPUTS = 128
# ``hippo classify`` runs the network on consecutive runs of 64 files (its --batch-size). Shards
# that start on those boundaries put the very same images through each network pass as a local
# run does, so the probabilities come out bit for bit the same (a pass's floating-point sums
# depend on which images share it).
CLASSIFY_BATCH = 64
# A shard's file names go on one command line; Linux allows 2 MiB for arguments and environment.
MAX_COMMAND_LINE_BYTES = 1 << 20


@dataclass
class BatchPlan:
    """One batch: ``kind`` (classify or cutout), its id, its scratch directory and its shards.

    ``description`` holds what the merge needs of the inputs besides the shards. Classify:
    ``inputs`` as given, ``missing`` ([input, reason] of those that are no FITS file: the merge
    gives them their error rows) and ``renamed`` (absolute path -> path as given, where the two
    differ; see :meth:`as_given`). Cutout: ``catalogue`` (absolute) and ``rejected`` ([row number,
    name, reason] of the rows without a usable position, which go to no shard).
    """

    kind: str
    batch_id: str
    directory: Path
    shard_count: int
    tool_arguments: list = field(default_factory=list)
    input_count: int = 0
    description: dict = field(default_factory=dict)

    @property
    def name(self):
        """``classify-<id>``: the Slurm job name and the batch's name in the store."""
        return f"{self.kind}-{self.batch_id}"

    def shard_stem(self, index):
        return self.directory / f"shard-{index:05d}"

    def shard_inputs(self, index):
        """The file listing the shard's inputs: FITS paths, one a line (classify) or catalogue rows (cutout)."""
        return self.shard_stem(index).with_suffix(".inputs" if self.kind == "classify" else ".ecsv")

    def shard_output(self, index):
        """What the shard's command writes: a table (classify) or a cutout directory (cutout)."""
        stem = self.shard_stem(index)
        return stem.with_name(stem.name + (".out.ecsv" if self.kind == "classify" else ".out"))

    def exit_file(self, index):
        return self.shard_stem(index).with_suffix(".exit")

    @property
    def log_directory(self):
        return self.directory / "logs"

    def shard_command(self, inputs, output):
        """argv of the real ``hippo`` command for one shard (the same in sbatch scripts and dask)."""
        head = [sys.executable, "-m", "hippo", self.kind, "--quiet"]
        if self.kind == "classify":
            return head + list(inputs) + ["-o", str(output)] + self.tool_arguments
        return head + ["--catalogue", str(inputs), "-o", str(output)] + self.tool_arguments

    def error_rows_command(self, index):
        """argv writing a classify shard's output when ``hippo classify`` found nothing usable (see
        :func:`write_error_rows`); ``index`` may be a shell word (the array task's index)."""
        return [sys.executable, "-m", "hippo", "batch", "shard-errors", str(self.directory), str(index)]

    def exit_status(self, index):
        """The shard command's exit status, or None if it has not finished (or was killed)."""
        try:
            return int(self.exit_file(index).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def is_done(self, index):
        """Finished and its output written (the output is renamed into place only when whole)."""
        return self.exit_status(index) is not None and self.shard_output(index).exists()

    def forget(self, index):
        """Remove what an earlier, failed or killed attempt left, before the shard runs again.

        (A killed ``hippo cutout`` leaves some cutouts behind, which a new attempt would keep
        instead of cutting: the index would then differ from a local run's.)
        """
        self.exit_file(index).unlink(missing_ok=True)
        output = self.shard_output(index)
        if output.is_dir():
            shutil.rmtree(output)
        else:
            output.unlink(missing_ok=True)

    def as_given(self, path):
        """An input as the user named it. The tasks read, and name in their rows, absolute paths (a
        node may start in another directory); a local run names each input as given."""
        return self.description.get("renamed", {}).get(str(path), str(path))

    def to_json(self):
        return {"kind": self.kind, "batch_id": self.batch_id, "shard_count": self.shard_count,
                "tool_arguments": self.tool_arguments, "input_count": self.input_count,
                "description": self.description}

    @classmethod
    def load(cls, directory):
        directory = Path(directory)
        try:
            data = json.loads((directory / "plan.json").read_text())
        except (OSError, ValueError) as exc:
            raise InputError(directory, f"not a HIPPO batch plan directory ({exc})") from None
        return cls(data["kind"], data["batch_id"], directory, data["shard_count"], data["tool_arguments"],
                   data.get("input_count", 0), data.get("description", {}))


def expand_fits_inputs(inputs):
    """FITS files as ``hippo classify`` finds them (directories searched recursively, sorted):
    ``(absolute paths, paths as the user named them, [(input, reason) for inputs that are neither])``.

    With no FITS file at all there is nothing to run: an input error here, before anything is submitted.
    """
    if not inputs:
        raise UsageError("no inputs given")
    files, missing = find_fits_files(inputs)
    if not files:
        raise InputError(*missing[0])
    return [str(path.absolute()) for path in files], [str(path) for path in files], missing


def shard_bounds(count, shards, block=1):
    """Contiguous, balanced [start, stop) ranges covering ``count`` items exactly once.

    With ``block``, every shard but the last holds whole blocks, if there are blocks enough.
    """
    blocks = math.ceil(count / block)
    if block > 1 and blocks >= shards:
        return [(min(count, block * (blocks * i // shards)), min(count, block * (blocks * (i + 1) // shards)))
                for i in range(shards)]
    return [(count * i // shards, count * (i + 1) // shards) for i in range(shards)]


def choose_shard_count(count, array_size):
    if array_size is not None:
        if int(array_size) < 1:
            raise UsageError(f"--array-size {array_size}: must be at least 1")
        return min(int(array_size), count)
    return max(1, min(count, DEFAULT_MAX_SHARDS, math.ceil(count / DEFAULT_SHARD_INPUTS)))


def _plan_id(identity):
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _file_state(path):
    """Size and modification time of a file, or of every file under a directory: what tells a
    repaired or replaced input from the one an earlier plan ran on."""
    path = Path(path)
    if path.is_dir():
        return [[str(p.relative_to(path)), *_file_state(p)] for p in sorted(path.rglob("*")) if p.is_file()]
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _identity(kind, shards, tool_arguments, output, store, **inputs):
    """What decides a batch's results; files named in the options (model, local surveys) count as they are now."""
    argument_files = {argument: _file_state(argument) for argument in tool_arguments
                      if Path(argument).is_absolute() and Path(argument).exists()}
    return {"kind": kind, "shards": shards, "arguments": list(tool_arguments), "argument_files": argument_files,
            "output": None if output is None else str(Path(output).resolve()), "store": store, **inputs}


def _ensure_plan(plan, write_shard):
    """Write the plan and its shard inputs unless this plan is already in scratch (same id, same content)."""
    if (plan.directory / "plan.json").exists():
        return BatchPlan.load(plan.directory)
    try:
        plan.log_directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(plan.directory.parent,
                         f"cannot write here ({exc.strerror or exc}); give another --scratch") from None
    for index in range(plan.shard_count):
        write_shard(index)
    # Written last: a plan.json present means every shard's inputs are there.
    atomic_write_text(plan.directory / "plan.json", json.dumps(plan.to_json(), indent=1))
    return plan


def plan_classify(inputs, scratch, array_size=None, tool_arguments=(), output=None, store=None):
    """Plan ``hippo classify`` over FITS files (or directories of them) in shards.

    ``output`` and ``store`` (where the merge writes) are part of the batch's identity.
    """
    files, as_given, missing = expand_fits_inputs(inputs)
    shards = choose_shard_count(len(files), array_size)
    identity = _identity("classify", shards, tool_arguments, output, store,
                         inputs=[[f, *_file_state(f)] for f in files], missing=[str(item) for item, _ in missing])
    batch_id = _plan_id(identity)
    plan = BatchPlan("classify", batch_id, Path(scratch).resolve() / f"classify-{batch_id}", shards,
                     list(tool_arguments), len(files) + len(missing),
                     {"inputs": [str(i) for i in inputs],
                      "renamed": {absolute: given for absolute, given in zip(files, as_given) if absolute != given},
                      "missing": [[str(item), reason] for item, reason in missing]})
    bounds = shard_bounds(len(files), shards, CLASSIFY_BATCH)
    longest = max(sum(len(f) + 1 for f in files[start:stop]) for start, stop in bounds)
    if longest > MAX_COMMAND_LINE_BYTES:
        needed = math.ceil(shards * longest / MAX_COMMAND_LINE_BYTES)
        raise UsageError(f"--array-size {shards}: a shard's {math.ceil(len(files) / shards)} file names would not fit "
                         f"on one command line; use --array-size {needed} or more")

    def write_shard(index):
        start, stop = bounds[index]
        atomic_write_text(plan.shard_inputs(index), "".join(f"{f}\n" for f in files[start:stop]))

    return _ensure_plan(plan, write_shard)


def plan_cutout(catalogue, scratch, array_size=None, tool_arguments=(), columns=(None, None, None), output=None,
                store=None):
    """Plan ``hippo cutout --catalogue`` in shards of the catalogue's rows (all columns kept).

    ``columns`` are the RA, Dec and id columns as given to ``hippo cutout``; ``output`` and
    ``store`` are part of the batch's identity. Rows without a usable position go to no shard:
    the merge gives them their error rows, numbered as in the catalogue (a shard would number
    them within itself, and a shard of nothing but such rows would have no index at all).
    """
    catalogue = Path(catalogue)
    table = read_table(catalogue)
    if len(table) == 0:
        raise InputError(catalogue, "catalogue has no rows")
    id_name = find_position_columns(table, *columns, str(catalogue))[2]
    if id_name is not None:  # the shards keep ids 0007 as written, as read_positions names them
        table = keep_leading_zeros(table, catalogue, id_name)
    positions = read_positions(table, *columns, source=str(catalogue))  # the table read once
    _check_folder_names(catalogue, [str(name) for name in positions.table["name"]])
    rejected_rows = {number - 1 for number, _, _ in positions.rejected}
    usable = table[[i for i in range(len(table)) if i not in rejected_rows]]
    shards = choose_shard_count(len(usable), array_size)
    identity = _identity("cutout", shards, tool_arguments, output, store,
                         catalogue=str(catalogue.resolve()), sha256=sha256_file(catalogue))
    batch_id = _plan_id(identity)
    plan = BatchPlan("cutout", batch_id, Path(scratch).resolve() / f"cutout-{batch_id}", shards,
                     list(tool_arguments), len(table),
                     {"catalogue": str(catalogue.resolve()),
                      "rejected": [[int(number), str(name), str(reason)]
                                   for number, name, reason in positions.rejected]})
    bounds = shard_bounds(len(usable), shards)

    def write_shard(index):
        start, stop = bounds[index]
        write_table(usable[start:stop], plan.shard_inputs(index))

    return _ensure_plan(plan, write_shard)


def _check_folder_names(catalogue, names):
    """Refuse names that would share a cutout folder: repeated ones, and ones that become the same
    once cleaned to folder names (``NGC 315``, ``NGC_315``). A local run tells them apart (_2, _3,
    ...) across the whole catalogue; shards cannot see each other's names, so one would overwrite
    the other."""
    from hippo.cutouts.driver import folder_name

    by_folder = {}
    for name in names:
        by_folder.setdefault(folder_name(name), []).append(name)
    shared = [(folder, given) for folder, given in by_folder.items() if len(given) > 1]
    if shared:
        folder, given = shared[0]
        more = f" ({len(shared) - 1} more folders like it)" if len(shared) > 1 else ""
        raise InputError(catalogue, f"source names repeat or clean to one folder name: {given[0]!r} and {given[1]!r} "
                                    f"both go to {folder}/{more}; a batch needs unique names: name a column of unique "
                                    "ids with --id-col")


def read_shard_inputs(plan, index):
    """What goes on the shard command's line: the FITS paths (classify) or the catalogue (cutout)."""
    if plan.kind == "classify":
        return plan.shard_inputs(index).read_text().splitlines()
    return plan.shard_inputs(index)


def run_shard(plan_directory, index):
    """Run one shard here (a dask worker, or in-process): the command, its log, then its exit file.

    Mirrors the sbatch task script line for line, so a batch started with dask can be finished
    with Slurm and the other way round. Returns the command's exit status.
    """
    plan = BatchPlan.load(plan_directory)
    command = plan.shard_command(read_shard_inputs(plan, index), plan.shard_output(index))
    plan.forget(index)
    log_path = plan.log_directory / f"shard-{index:05d}.dask-{os.getpid()}.log"
    with open(log_path, "ab") as log:
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
        if plan.kind == "classify" and status == EXIT_USAGE and not plan.shard_output(index).exists():
            subprocess.run(plan.error_rows_command(index), stdout=log, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
    atomic_write_text(plan.exit_file(index), f"{status}\n")
    return status


def write_error_rows(plan_directory, index):
    """The output of a classify shard none of whose files could be used: one error row per file.

    ``hippo classify`` exits 2 without a table when nothing it was given is usable, which is right
    for a local run but would leave a batch one shard short for ever. These rows are what a local
    run over the whole input has for those files; a model that does not load still fails here.
    """
    from hippo.morphology import load_classifier
    from hippo.morphology.classifier import rows_to_table
    from hippo.provenance import add_provenance

    plan = BatchPlan.load(plan_directory)
    arguments = plan.tool_arguments
    classifier = load_classifier(arguments[arguments.index("--model") + 1] if "--model" in arguments else None)
    table = rows_to_table(list(classifier.classify_files(read_shard_inputs(plan, index))))
    table.meta["model"] = classifier.name
    add_provenance(table, "classify", {"model": classifier.name, "inputs": len(table)})
    write_table(table, plan.shard_output(index))
