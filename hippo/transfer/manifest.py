"""What a backup holds: scanning a tree (symlinks recorded, never followed), and the manifests
and journals on the object store that say which file is in which object."""

import datetime
import fnmatch
import gzip
import io
import json
import os
import stat
import struct
import time
import uuid
import zipfile
import zlib
from pathlib import Path

from hippo.errors import InputError

MANIFESTS = "manifests/"
JOURNAL = "journal/"
DATA = "data/"
# verify --deep leaves a marker here for each object whose bytes failed their checksums: the
# next backup sends the files it holds again (a quick look at the store cannot see such damage).
DAMAGED = "damaged/"
SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
# What zipfile raises on a damaged archive (bad CRC, garbled directory, truncation).
ZIP_DAMAGE = (zipfile.BadZipFile, NotImplementedError, KeyError, ValueError, EOFError, struct.error)


def scan(root, exclude=()):
    """Entries of the tree under ``root`` without following symlinks, sorted by path.

    Returns ``(entries, skipped, unlisted)``: entries are dicts with ``path`` (POSIX, relative),
    ``type`` (``file``, ``link`` or ``dir``), ``size`` (bytes), ``mtime_ns``, ``mode`` and, for
    links, ``target`` (dangling links too). ``exclude`` holds glob patterns matched against the
    relative path and the base name; an excluded directory is not descended. ``skipped`` lists
    ``(path, reason)`` for sockets, fifos and devices, which cannot be backed up, and for what
    could not be read. ``unlisted`` names the directories whose contents could not be listed
    (``""`` for ``root`` itself): what they hold is unknown, not gone.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "not a directory")
    entries, skipped, unlisted = [], [], []

    def excluded(relative, name):
        return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in exclude)

    def walk(directory, relative_dir):
        try:
            listing = list(os.scandir(directory))
        except OSError as exc:
            skipped.append((relative_dir or ".", exc.strerror or str(exc)))
            unlisted.append(relative_dir)
            return
        for item in listing:
            relative = f"{relative_dir}/{item.name}" if relative_dir else item.name
            if exclude and excluded(relative, item.name):
                continue
            if not item.name.isascii() and not _is_utf8(item.name):
                # Manifests and zips hold UTF-8 names; Python decoded these bytes with escapes.
                skipped.append((os.fsencode(relative).decode("utf-8", "backslashreplace"),
                                "name is not valid UTF-8; rename it to back it up"))
                continue
            try:
                info = item.stat(follow_symlinks=False)
            except OSError as exc:  # e.g. a path longer than the system takes, gone since listed
                skipped.append((relative, exc.strerror or str(exc)))
                continue
            entry = {"path": relative, "size": info.st_size, "mtime_ns": info.st_mtime_ns,
                     "mode": stat.S_IMODE(info.st_mode)}
            if stat.S_ISLNK(info.st_mode):
                entry.update(type="link", target=os.readlink(item.path), size=0)
            elif stat.S_ISDIR(info.st_mode):
                entry.update(type="dir", size=0)
                walk(item.path, relative)
            elif stat.S_ISREG(info.st_mode):
                entry["type"] = "file"
            else:
                skipped.append((relative, "not a regular file, directory or symlink"))
                continue
            entries.append(entry)

    walk(root, "")
    # A live SQLite database is copied from a snapshot that already holds its WAL/journal
    # content; restoring the side files next to it would pair a stale log with a new database.
    # Writes that still sit in the WAL change only that side file, so the database's entry also
    # records the WAL's (or rollback journal's) mtime: a change there means a new snapshot is due.
    # Not -shm's: every reader (the snapshot itself) touches the shared-memory index.
    files = {e["path"]: e for e in entries if e["type"] == "file"}
    def sqlite_side_file(path):
        base = path.rsplit("-", 1)[0]
        return path.endswith(SQLITE_SIDE_FILES) and base in files and is_sqlite(root / base)

    for side in entries:
        # An empty log holds nothing (our own read-only snapshot leaves one behind).
        if side["size"] and side["path"].endswith(("-wal", "-journal")) and sqlite_side_file(side["path"]):
            database = files[side["path"].rsplit("-", 1)[0]]
            database["log_mtime_ns"] = max(database.get("log_mtime_ns", 0), side["mtime_ns"])
    entries = [e for e in entries if not sqlite_side_file(e["path"])]
    entries.sort(key=lambda e: e["path"])
    return entries, skipped, unlisted


def _is_utf8(name):
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def new_run_id(started_ns, after=None):
    """A unique name for one backup run that sorts by its start time ``started_ns`` (to the
    microsecond) and after manifest ``after``, the newest one the run found. "Latest" must be the
    last backup written even when this machine's clock is behind the previous writer's (another
    host, NTP stepping back): a name from the clock alone would make restore bring back the older tree."""
    if after is not None:
        previous = run_started(after) - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        started_ns = max(started_ns, (previous // datetime.timedelta(microseconds=1) + 1) * 1000)
    return (time.strftime("%Y%m%dT%H%M%S", time.gmtime(started_ns // 10**9))
            + f".{started_ns // 1000 % 10**6:06d}Z-" + uuid.uuid4().hex[:8])


def encode(header, entries):
    """Gzipped JSON lines: the header, then one entry per line (one encoder for all: fast)."""
    line = json.JSONEncoder(sort_keys=True, separators=(", ", ": ")).encode
    text = "\n".join([line(header), *map(line, entries)]) + "\n"
    return gzip.compress(text.encode(), compresslevel=1)


class DamagedManifest(InputError):
    """A manifest that cannot be read (truncated, garbled): the message names its key and why."""

    def __init__(self, key, exc):
        super().__init__(key, f"damaged manifest ({str(exc) or type(exc).__name__})")


# What damaged bytes raise: gzip (BadGzipFile is an OSError, truncation an EOFError), zlib,
# UTF-8 and JSON (ValueErrors).
_MANIFEST_DAMAGE = (OSError, EOFError, zlib.error, ValueError)


def decode(data, key):
    """Header and entries of manifest ``key`` from its bytes; :class:`DamagedManifest` if damaged."""
    try:
        lines = gzip.decompress(data).decode().splitlines()
        header = json.loads(lines[0]) if lines else None
        entries = [json.loads(line) for line in lines[1:] if line]
    except _MANIFEST_DAMAGE as exc:
        raise DamagedManifest(key, exc) from None
    if not isinstance(header, dict) or not all(isinstance(e, dict) and "path" in e for e in entries):
        raise DamagedManifest(key, "not a backup manifest")
    return header, entries


def manifest_keys(backend):
    """Keys of every manifest at the destination, oldest first (run ids sort by start time)."""
    return sorted(o.key for o in backend.list(MANIFESTS) if o.key.endswith(".jsonl.gz"))


def run_started(key):
    """UTC start time (a datetime) of the run that wrote manifest ``key``: when it scanned the tree."""
    stamp = key[len(MANIFESTS):].split("Z-")[0]
    return datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f").replace(tzinfo=datetime.timezone.utc)


def read_header(backend, key):
    """The header line of manifest ``key`` (only the start of the file is decompressed);
    :class:`DamagedManifest` if it cannot be read."""
    data = backend.get(key)
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            header = json.loads(stream.readline())
    except _MANIFEST_DAMAGE as exc:
        raise DamagedManifest(key, exc) from None
    if not isinstance(header, dict):
        raise DamagedManifest(key, "not a backup manifest")
    return header


def choose_manifest(backend, as_of=None, run=None):
    """Key of the manifest to restore: the one of run ``run`` (a run id, a unique prefix of one,
    or a manifest key), else the last backup that started at or before ``as_of`` (an aware
    datetime), else the latest."""
    keys = manifest_keys(backend)
    if not keys:
        raise InputError(backend.url, "no backup found here (no manifest)")
    if run is not None:
        name = str(run).removeprefix(MANIFESTS).removesuffix(".jsonl.gz")
        matches = [k for k in keys if k[len(MANIFESTS):].startswith(name)]
        if len(matches) != 1:
            raise InputError(run, "no such backup here (see --list)" if not matches
                             else f"matches {len(matches)} backups; give more of the run id")
        return matches[0]
    if as_of is not None:
        earlier = [k for k in keys if run_started(k) <= as_of]
        if not earlier:
            raise InputError(as_of.isoformat(), f"no backup here started that early (the first started "
                             f"{run_started(keys[0]).isoformat()})")
        return earlier[-1]
    return keys[-1]


class BackupState:
    """What a destination holds: a manifest plus the journals of runs that stopped before
    writing theirs.

    By default the newest readable manifest and every journal are read (what a new backup builds
    on; ``journals=False``: the manifest alone, the latest complete backup); with ``manifest``
    that manifest alone (an older backup, for restore), :class:`DamagedManifest` if it cannot be
    read. ``entries`` maps path to manifest entry, ``objects`` maps object key to ``{"size",
    "etag"}``, ``absorbed`` names the journal runs folded in (the next manifest records them so
    their journals can be removed). ``manifest_key`` is the manifest read (None: none could be),
    ``latest_key`` the newest at the destination, and ``damaged`` holds the
    :class:`DamagedManifest` of each newer one that was passed over.
    """

    def __init__(self, backend, manifest=None, journals=True):
        self.backend = backend
        self.header = None
        self.entries = {}
        self.objects = {}
        self.absorbed = set()
        self.journal_keys = []
        self.damaged = []
        self.manifest_key = None
        manifests = [manifest] if manifest else manifest_keys(backend)
        self.latest_key = manifests[-1] if manifests else None
        for key in reversed(manifests):
            try:
                self.header, entries = decode(backend.get(key), key)
            except DamagedManifest as exc:
                if manifest:
                    raise
                self.damaged.append(exc)
                continue
            self.manifest_key = key
            self.entries = {e["path"]: e for e in entries}
            self.objects = dict(self.header.get("objects", {}))
            self.absorbed = set(self.header.get("absorbed", ()))
            break
        if manifest or not journals:
            return
        # Journals of runs killed before their manifest: each names objects already safely stored.
        for info in sorted(backend.list(JOURNAL), key=lambda o: o.key):
            run_id = info.key[len(JOURNAL):].split("/")[0]
            self.journal_keys.append(info.key)
            if run_id in self.absorbed:
                continue
            record = json.loads(backend.get(info.key))
            self.objects[record["key"]] = record["object"]
            for entry in record["entries"]:
                self.entries[entry["path"]] = entry
        self.absorbed |= {k[len(JOURNAL):].split("/")[0] for k in self.journal_keys}


def journal_key(run_id, object_key):
    return f"{JOURNAL}{run_id}/{object_key.replace('/', '_')}.json"


def journal_record(object_key, object_info, entries):
    return json.dumps({"key": object_key, "object": object_info, "entries": entries}).encode()


def damaged_key(object_key):
    return f"{DAMAGED}{object_key.replace('/', '_')}.json"


def damaged_record(object_key, problems):
    return json.dumps({"key": object_key, "problems": problems}).encode()


def is_sqlite(path, head=None):
    """True for a SQLite database file: by its header, or an empty ``.db`` file (a database whose
    first pages are still all in its WAL). A ``.db`` of anything else is not one: its neighbours
    named ``-wal`` or ``-journal`` are files like any other."""
    if head is None:
        try:
            with open(path, "rb") as stream:
                head = stream.read(16)
        except OSError:
            return False  # unreadable: the backup reports it when it reads the file itself
    return head[:16] == SQLITE_HEADER or (not head and str(path).endswith(".db"))
