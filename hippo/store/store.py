"""The catalogue store: one SQLite file (WAL) holding results, products and every run's provenance."""

import contextlib
import io
import json
import logging
import os
import shutil
import socket
import sqlite3
import stat
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
from astropy.table import MaskedColumn, Table

from hippo.errors import InputError, UsageError
from hippo.provenance import environment_summary, software_versions, utc_now
from hippo.store.healpix import cone_ranges, healpix_index
from hippo.store.schema import INDEXES, TABLES

DEFAULT_STORE = "hippo.db"
log = logging.getLogger("hippo")


def default_store_path():
    """The store used when none is named: ``$HIPPO_STORE`` (a project's shared store), else ./hippo.db."""
    return os.environ.get("HIPPO_STORE") or DEFAULT_STORE


class Store:
    """A HIPPO catalogue store.

    Open with ``Store.open(path)`` (created on first use), or ``Store.open(path, readonly=True)`` to
    look without writing anything. Rows go in with :meth:`insert`,
    come out with :meth:`query`, :meth:`cone` and :meth:`export`; each producing call is wrapped
    in :meth:`run`, which records its provenance.

    >>> with Store.open("hippo.db") as store:                          # doctest: +SKIP
    ...     with store.run("classify", {"model": "default"}, inputs=["a.fits"]) as run:
    ...         store.insert("classifications", rows, run_id=run.id)
    """

    timeout = 30.0  # seconds a statement waits for another process's write lock

    def __init__(self, connection, path):
        self.connection = connection
        self.path = Path(path)
        self._unlocked_identity = None

    @classmethod
    def open(cls, path=None, must_exist=False, readonly=False):
        """Open (or create) the store at ``path``; ``must_exist`` for readers: a mistyped path (or an
        empty file) is an error, not a new empty store that answers every question with nothing.
        ``readonly`` (info, cone, export) never writes: no new file, no schema change, no side files."""
        path = Path(path or default_store_path())
        try:
            info = path.stat()
        except FileNotFoundError:
            info = None
        except OSError as exc:  # a symlink loop, a folder we may not enter: not "no such store"
            raise InputError(path, f"cannot open the store ({(exc.strerror or str(exc)).lower()})") from None
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise InputError(path, "is a directory, not a store file")
        size = None if info is None else info.st_size
        if (must_exist or readonly) and size is None:
            raise InputError(path, "no such store (hippo store init creates one)")
        # A 0-byte store whose pages are all still in its WAL is a store; without one it holds nothing
        # (a truncated store, say), and a reader must not turn it into an empty store.
        wal_size = _size(f"{path}-wal")
        if (must_exist or readonly) and size == 0 and not wal_size:
            raise InputError(path, "is not a HIPPO store (empty file)")
        # SQLite checks the header itself (and leaves a file that is not a database untouched). Never
        # open the file beside it: closing any descriptor of it drops the POSIX locks that this
        # process's other connections hold, so another process takes the WAL for unused and deletes
        # it under them ("disk I/O error", acknowledged writes lost). SQLite can only mistake a file
        # smaller than its smallest page (512 bytes) for an empty database and overwrite it.
        if size and size < 512:
            raise InputError(path, "is not a HIPPO store (not an SQLite database)")
        try:
            unlocked = False
            if readonly:
                connection, unlocked = cls._connect_readonly(path, wal_size)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(path, timeout=cls.timeout, isolation_level=None)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as exc:
            if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
                raise InputError(path, "is not a HIPPO store (not an SQLite database)") from None
            if _error_code(exc) == sqlite3.SQLITE_CANTOPEN and size is not None and not os.access(path, os.R_OK):
                raise InputError(path, "cannot open the store (permission denied)") from None
            full = "disk full, " if _disk_full(exc, path) else ""
            raise InputError(path, f"{full}cannot open the store ({exc})") from None
        store = cls(connection, path)
        # read without locks: a change seen later means a writer came, not that the store is damaged
        store._unlocked_identity = _file_identity(path) if unlocked else None
        if not readonly:
            store._ensure_schema()
            store._close_interrupted_runs()
        return store

    @classmethod
    def _connect_readonly(cls, path, wal_size):
        """A read-only connection, and whether it reads without SQLite's locks.

        Where this process may write the store (its file and folder), ``mode=ro`` reads it under
        SQLite's locks, so a command that starts writing meanwhile is seen consistently; it may
        create -wal and -shm as any writer does. Where it may not, ``mode=ro`` on a WAL database
        without its -wal file creates -wal and -shm with the store's own mode (0444 files that later
        block its writers) or fails (a read-only folder): with no -wal the main file is the whole
        database and is read as it is (``immutable``, no locks: see :meth:`damaged`).
        """
        def connect(mode):
            connection = sqlite3.connect(f"file:{quote(os.fspath(path))}?{mode}", uri=True, timeout=cls.timeout,
                                         isolation_level=None)
            try:  # reading opens it: errors show now
                hippo = connection.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='runs'").fetchone()
            except BaseException:
                connection.close()
                raise
            if not hippo:
                connection.close()
                raise InputError(path, "is not a HIPPO store (an SQLite database without HIPPO's tables)")
            return connection

        writable = os.access(path, os.W_OK) and os.access(path.absolute().parent, os.W_OK | os.X_OK)
        if wal_size is None and not writable:
            return connect("immutable=1"), True
        try:
            return connect("mode=ro"), False
        except sqlite3.OperationalError as exc:
            # an empty WAL whose -shm cannot be made (read-only folder): nothing in it to miss
            if not wal_size and _error_code(exc) in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
                return connect("immutable=1"), True
            raise

    def close(self):
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- schema -------------------------------------------------------------------------------

    def _ensure_schema(self):
        # Read first and write only what is missing: a BEGIN IMMEDIATE on every open made readers
        # (info, cone, export) wait for, and then fail behind, any writer's transaction.
        try:
            if not self._schema_changes():
                return
            with self.transaction():
                for statement in self._schema_changes():  # again: another process may have made them
                    self.connection.execute(statement)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise InputError(self.path, "is busy: another process has been writing to it for longer than "
                                            f"{self.timeout:g} s; try again when it has finished") from None
            raise InputError(self.path, f"is not a usable HIPPO store ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise InputError(self.path, f"is not a usable HIPPO store ({exc})") from None

    def _schema_changes(self):
        """The SQL statements that bring the file to the current schema (none when it is current)."""
        existing = {(kind, name) for kind, name in self.connection.execute("SELECT type, name FROM sqlite_master")}
        statements = []
        for table, columns in TABLES.items():
            positional = any(name == "ra" for name, _ in columns)
            full = columns + ([("healpix", "INTEGER")] if positional else [])
            if ("table", table) not in existing:
                body = ", ".join(["id INTEGER PRIMARY KEY"] + [f'"{n}" {t}' for n, t in full])
                statements.append(f'CREATE TABLE "{table}" ({body})')
            else:
                have = {row[1] for row in self.connection.execute(f'PRAGMA table_info("{table}")')}
                for name, sql_type in full:
                    if name not in have:
                        statements.append(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {sql_type.replace(" UNIQUE", "")}')
            if positional and ("index", f"{table}_healpix") not in existing:
                statements.append(f'CREATE INDEX IF NOT EXISTS "{table}_healpix" ON "{table}"(healpix)')
        for table, column in INDEXES:
            if ("index", f"{table}_{column}") not in existing:
                statements.append(f'CREATE INDEX IF NOT EXISTS "{table}_{column}" ON "{table}"("{column}")')
        return statements

    @contextlib.contextmanager
    def transaction(self):
        """One SQLite transaction (BEGIN IMMEDIATE: writers queue instead of failing mid-way).

        A write that meets a full disk is an InputError naming the store, not SQLite's bare message.
        """
        try:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
                self.connection.execute("COMMIT")
            except BaseException:
                if self.connection.in_transaction:  # SQLite ends some failed transactions itself
                    with contextlib.suppress(sqlite3.Error):
                        self.connection.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if _error_code(exc) in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY):
                raise InputError(self.path, f"disk full ({exc})" if _disk_full(exc, self.path)
                                 else f"cannot write to the store ({exc})") from None
            raise

    def tables(self):
        return [row[0] for row in self.connection.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]

    def columns(self, table):
        self._check_table(table)
        return [row[1] for row in self.connection.execute(f'PRAGMA table_info("{table}")')]

    def _check_table(self, table):
        if table not in self.tables():
            raise UsageError(f"{self.path}: no table {table!r} in the store (tables: {', '.join(self.tables())})")

    # -- writing ------------------------------------------------------------------------------

    def insert(self, table, rows, run_id=None, replace_on=None):
        """Insert rows (an astropy Table, or a list of dicts) into ``table``; returns the count.

        Columns the table does not have are ignored; ``healpix`` is computed from ``ra``/``dec``.
        ``replace_on`` names a UNIQUE column whose existing rows are replaced (upsert).
        """
        self._check_table(table)
        affinities = {row[1]: _affinity(row[2]) for row in self.connection.execute(f'PRAGMA table_info("{table}")')}
        columns = [c for c in affinities if c != "id"]
        records = _as_records(rows)
        if not records:
            return 0
        if run_id is not None and "run_id" in columns:
            for record in records:
                record.setdefault("run_id", run_id)
        positional = "healpix" in columns
        for record in records:
            _convert_record(record, table, affinities, positional)
        if positional:
            ra = np.array([_float_or_nan(r.get("ra")) for r in records])
            dec = np.array([_float_or_nan(r.get("dec")) for r in records])
            ok = np.isfinite(ra) & np.isfinite(dec)
            pixels = np.full(len(records), -1, dtype=np.int64)
            if ok.any():
                pixels[ok] = healpix_index(ra[ok], dec[ok])
            for record, pixel, good in zip(records, pixels, ok):
                record["healpix"] = int(pixel) if good else None
        used = [c for c in columns if any(c in r for r in records)]
        verb = "INSERT OR REPLACE" if replace_on else "INSERT"
        sql = f'{verb} INTO "{table}" ({", ".join(repr_name(c) for c in used)}) VALUES ({", ".join("?" * len(used))})'
        try:
            with self.transaction() as connection:
                connection.executemany(sql, ([_sql_value(r.get(c)) for c in used] for r in records))
        except InputError as exc:  # a full disk: none of these rows is in the store
            raise InputError(self.path, f"{exc.reason}, nothing stored in {table}") from None
        return len(records)

    @contextlib.contextmanager
    def run(self, command, parameters=None, inputs=None, started=None):
        """Record a run: provenance at the start, then end time, exit status and log at the end.

        Yields a RunRecord whose ``id`` goes into the rows the run writes. Log records of the
        ``hippo`` logger emitted during the run are stored with it. ``started`` (a ``time.time()``)
        is when the work began, for a run recorded once its work is done (classify records its
        inputs, each with its checksum, after it has found them all).
        """
        record = self.begin_run(command, parameters, inputs, started)
        with _logged_until_end(record, self.end_run):
            yield record

    @classmethod
    @contextlib.contextmanager
    def run_at(cls, path, command, parameters=None):
        """:meth:`run` for work that reads the store's own file (a backup of the folder holding it):
        the store is open only while the start and the end are written. Reading the file through
        another descriptor while a connection is open would drop that connection's POSIX locks
        (see :meth:`open`), so none is open while the work runs. Rows the work adds go in through
        a store opened for them."""
        with cls.open(path) as store:
            record = store.begin_run(command, parameters)

        def end_run(record, status, log_text):
            with cls.open(path) as store:
                store.end_run(record, status, log_text)

        with _logged_until_end(record, end_run):
            yield record

    def begin_run(self, command, parameters=None, inputs=None, started=None):
        """The row of a run that starts (status ``running``, with this process's host and pid); its RunRecord.

        :meth:`run` is the usual way; this and :meth:`end_run` serve a run that spans many
        connections (an inspection session).
        """
        from datetime import datetime, timezone

        from hippo.provenance import describe_inputs

        started = time.time() if started is None else started
        values = (command, json.dumps(parameters or {}, default=str), json.dumps(describe_inputs(inputs or [])),
                  json.dumps(software_versions()), json.dumps(environment_summary()),
                  datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="milliseconds"),
                  socket.gethostname(), os.getpid())  # inputs hashed before the write lock is taken
        try:
            with self.transaction() as connection:
                cursor = connection.execute(
                    "INSERT INTO runs (command, parameters, inputs, versions, environment, started, status, host, pid) "
                    "VALUES (?,?,?,?,?,?,'running',?,?)", values)
        except InputError as exc:
            raise InputError(self.path, f"{exc.reason}, run not recorded") from None
        return RunRecord(cursor.lastrowid, started)

    def end_run(self, record, status, log_text=""):
        """Record the end of a run begun with :meth:`begin_run`: end time, exit status, log.

        If that cannot be written (a full disk), InputError; the row stays ``running`` until a later
        open finds its process gone and marks it ``interrupted``.
        """
        try:
            with self.transaction() as connection:
                connection.execute("UPDATE runs SET finished=?, seconds=?, exit_status=?, log=?, status='finished' "
                                   "WHERE id=?", (utc_now(), time.time() - record.started, status,
                                                  log_text + record.notes, record.id))
        except (InputError, sqlite3.Error) as exc:
            reason = exc.reason if isinstance(exc, InputError) else f"cannot write to the store ({exc})"
            raise InputError(self.path, f"{reason}, run {record.id} not recorded as finished") from None

    def _close_interrupted_runs(self):
        """Mark ``interrupted`` this host's runs whose process has ended while they still say ``running``
        (killed, or their end could not be written): no run stays ``running`` for ever.

        Best effort: a store that is busy or full now is repaired by a later open.
        """
        try:
            rows = self.connection.execute("SELECT id, pid FROM runs WHERE status='running' AND host=?",
                                           (socket.gethostname(),)).fetchall()
            gone = [(run_id, pid) for run_id, pid in rows if not _process_alive(pid)]
            if not gone:
                return
            self.connection.execute("PRAGMA busy_timeout=0")  # never wait for another writer for this
            try:
                with self.transaction() as connection:
                    connection.executemany(
                        "UPDATE runs SET status='interrupted', log=COALESCE(log, '') || ? "
                        "WHERE id=? AND status='running'",
                        [(f"{utc_now()} interrupted: process {pid} ended before the run's end was recorded\n", run_id)
                         for run_id, pid in gone])
            finally:
                self.connection.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        except (sqlite3.Error, InputError) as exc:
            log.debug("%s: runs left running not marked interrupted now (%s)", self.path, exc)

    # -- reading ------------------------------------------------------------------------------

    def query(self, sql, parameters=(), schema_of=None, masked=False):
        """Run a read-only SQL query; the result as an astropy Table.

        Columns of table ``schema_of`` get the types it declares, whatever the rows hold
        (REAL: float with NaN for NULL, INTEGER: int masked where NULL, TEXT: str with '' for NULL;
        ``masked``: NULL masked in every type); other columns get types guessed from their values.
        """
        cursor = self.connection.execute(sql, parameters)
        names = [d[0] for d in cursor.description]
        declared = {}
        if schema_of is not None:
            declared = {row[1]: row[2] for row in self.connection.execute(f'PRAGMA table_info("{schema_of}")')}
        return _rows_to_table(names, cursor.fetchall(), declared, masked)

    def table(self, name, masked=False):
        self._check_table(name)
        return self.query(f'SELECT * FROM "{name}" ORDER BY id', schema_of=name, masked=masked)

    def count(self, name):
        self._check_table(name)
        return self.connection.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]

    def cone(self, ra_deg, dec_deg, radius_deg, table="sources", masked=False):
        """Rows of ``table`` within ``radius_deg`` of (ra, dec), nearest first, with ``separation_arcsec``
        (``masked`` as for :meth:`query`).

        A table that has a ``separation_arcsec`` of its own (``xmatches``: the pair's separation)
        keeps it, and the distance from the cone's centre goes into ``cone_separation_arcsec``.
        """
        if "healpix" not in self.columns(table):
            raise UsageError(f"table {table!r} has no positions to search")
        ranges = cone_ranges(ra_deg, dec_deg, radius_deg)
        where = " OR ".join("(healpix >= ? AND healpix < ?)" for _ in ranges) or "0"
        candidates = self.query(f'SELECT * FROM "{table}" WHERE {where}', [v for r in ranges for v in r],
                                schema_of=table, masked=masked)
        distance = "cone_separation_arcsec" if "separation_arcsec" in candidates.colnames else "separation_arcsec"
        if len(candidates) == 0:
            candidates[distance] = np.zeros(0)
            return candidates
        separation = _angular_separation_deg(ra_deg, dec_deg, np.asarray(candidates["ra"], float),
                                             np.asarray(candidates["dec"], float))
        candidates[distance] = separation * 3600.0
        inside = candidates[separation <= radius_deg]
        inside.sort(distance)
        return inside

    def export(self, table, path):
        """Write a whole table to ``path`` (.fits, .vot/.xml, .csv, .ecsv, .parquet; None for stdout),
        with HIPPO's provenance (version, command, time) in the formats that keep table meta."""
        from hippo.io.tables import write_table
        from hippo.provenance import add_provenance

        data = self.table(table, masked=True)  # NULL stays missing in the file, not 0, NaN or ''
        add_provenance(data, "store export", {"table": table})
        data.meta["hippo_store"] = str(self.path)
        data.meta["exported"] = utc_now()
        write_table(data, path)
        return len(data)

    def check(self):
        """InputError unless SQLite's quick check finds the store intact (it reads every page)."""
        try:
            problems = [row[0] for row in self.connection.execute("PRAGMA quick_check(1)")]
        except sqlite3.DatabaseError as exc:
            problems = [str(exc)]
        if problems != ["ok"]:
            raise self.damaged(problems[0].splitlines()[-1])  # without the "*** in database main ***" heading

    def damaged(self, problem):
        """The InputError for a store SQLite found damaged while reading it. A store read without
        locks (``immutable``) that changed since it was opened was being written meanwhile: that is
        said instead, for "restore it from a backup" would replace a good store with an older one."""
        if self._unlocked_identity is not None and _file_identity(self.path) != self._unlocked_identity:
            return InputError(self.path, f"the store changed while it was read ({problem}); a command was "
                                         "writing it: try again")
        return InputError(self.path, f"the store is damaged ({problem}); restore it from a backup")

    def info(self):
        """Rows per table and the most recent runs (with their ``status``: running, interrupted or
        finished), as a dict; InputError for a damaged store."""
        self.check()
        counts = {name: self.count(name) for name in self.tables()}
        # typed by the schema, NULL as None: a run still going has no seconds or exit status yet
        # (guessed from values, None beside ints made them NaN and every exit status a float)
        shown = ["id", "command", "started", "seconds", "exit_status"]
        present = self.columns("runs")
        extra = [c for c in ("status", "host", "pid") if c in present]  # older stores lack them
        recent = self.query(f"SELECT {', '.join(shown + extra)} FROM runs ORDER BY id DESC LIMIT 5",
                            schema_of="runs", masked=True)
        runs = []
        for row in recent:
            run = {name: _sql_value(row[name]) for name in shown}  # plain, JSON-safe
            values = {name: _sql_value(row[name]) for name in extra}
            status = values.get("status") or ("running" if run["exit_status"] is None else "finished")
            if (status == "running" and values.get("host") == socket.gethostname()
                    and not _process_alive(values.get("pid"))):
                status = "interrupted"  # as the next writer will mark it
            runs.append(dict(run, status=status))
        return {"path": str(self.path), "tables": counts, "recent_runs": runs}


@contextlib.contextmanager
def _logged_until_end(record, end_run):
    """Collect the ``hippo`` log records of a run's block, then ``end_run(record, status, log)``:
    the block's exit status, or its exception's exit code (the exception still propagates)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    status, failed = 1, False
    try:
        yield record
        status = record.exit_status
    except BaseException as exc:
        status, failed = getattr(exc, "exit_code", 1), True
        record.note(f"run failed: {exc}")  # stored with the run; the command line prints it itself, once
        raise
    finally:
        log.removeHandler(handler)
        try:
            end_run(record, status, buffer.getvalue())
        except InputError:
            if not failed:  # else the run's own error is the one to tell; the row is closed on a later open
                raise


class RunRecord:
    """The handle of a recorded run; set ``exit_status`` before leaving the block if not 0."""

    def __init__(self, run_id, started=None):
        self.id = run_id
        self.started = time.time() if started is None else started
        self.exit_status = 0
        self.notes = ""

    def note(self, message):
        """Add a line to the run's log without logging it (already shown to the user another way)."""
        self.notes += f"{utc_now()} {message}\n"


def _file_identity(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ino


def _error_code(exc):
    """SQLite's primary result code of an sqlite3 exception (SQLITE_FULL, ...), 0 if unknown."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def _disk_full(exc, path):
    """Whether SQLite failed for want of space beside ``path`` (it says "disk I/O error" when it cannot
    grow the -shm file)."""
    code = _error_code(exc)
    try:
        return code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and
                                               shutil.disk_usage(Path(path).absolute().parent).free < 1 << 20)
    except OSError:
        return False


def _size(path):
    """Size of the file at ``path``, None if there is none."""
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _process_alive(pid):
    """False only for a pid no process has now (None, unknown: True)."""
    if pid is None or int(pid) <= 0:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def repr_name(name):
    return f'"{name}"'


def _as_records(rows):
    if isinstance(rows, Table):
        names = rows.colnames
        return [{n: _python(row[n]) for n in names} for row in rows]
    return [dict(r) for r in rows]


def _python(value):
    if isinstance(value, np.ma.core.MaskedConstant):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _sql_value(value):
    value = _python(value)
    if isinstance(value, float) and np.isnan(value):
        return None  # NaN is missing, as SQLite would store it anyway; ±inf is a value it keeps
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is not None and not isinstance(value, (int, float, str)):
        return str(value)
    return value


def _convert_record(record, table, affinities, positional):
    """``record``'s values as the types its table declares (``affinities``: column to affinity), converted where that is unambiguous
    (numeric text, integral floats, sexagesimal positions). SQLite would store anything anywhere,
    and a value of another type came out of export changed (2.5 as 2), lost, or failing."""
    if positional and any(isinstance(record.get(c), str) and _number(record[c]) is None and record[c].strip()
                          for c in ("ra", "dec")):
        from hippo.io.coords import parse_coordinate

        where = f"{table}.ra/dec"
        if record.get("ra") is None or record.get("dec") is None:
            raise InputError(where, f"cannot store RA={record.get('ra')!r} Dec={record.get('dec')!r}: "
                                    "a sexagesimal position needs both")
        coord = parse_coordinate(record["ra"], record["dec"], source=where)
        record["ra"], record["dec"] = coord.ra.deg, coord.dec.deg
    for name, value in record.items():
        affinity = affinities.get(name)
        if affinity in ("INTEGER", "REAL"):
            record[name] = _numeric(value, affinity, f"{table}.{name}")


def _numeric(value, affinity, where):
    """``value`` for an INTEGER or REAL column: None for missing (None, NaN, blank text), else
    int or float; InputError naming the column and the value for anything else."""
    value = _python(value)
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    number = _number(value) if isinstance(value, (str, bytes)) else value
    if isinstance(value, (str, bytes)) and not value.strip():
        return None
    if isinstance(number, float) and np.isnan(number):
        return None
    if affinity == "REAL" and isinstance(number, (int, float)):
        return float(number)
    if affinity == "INTEGER" and isinstance(number, int):
        return number
    if affinity == "INTEGER" and isinstance(number, float) and number.is_integer():
        return int(number)
    raise InputError(where, f"cannot store {value!r} in an {affinity} column")


def _number(text):
    """An int or float read from text (int when it is written as one), None if it is not a number."""
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    for kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            pass
    return None


def _float_or_nan(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _rows_to_table(names, rows, declared=None, masked=False):
    """A Table of query rows. Columns with a type in ``declared`` (name to SQL type) get it
    whatever the rows hold, so an empty or all-NULL column keeps its type; others are guessed.
    ``masked``: NULL in REAL and TEXT columns masked too (NaN and '' under the mask), so that a
    file tells a missing value from a NaN or an empty string, as it does for INTEGER."""
    columns = list(zip(*rows)) if rows else [[] for _ in names]
    table = Table()
    for name, values in zip(names, columns):
        values = list(values)
        affinity = _affinity((declared or {}).get(name))
        kinds = {type(v) for v in values if v is not None}
        nulls = [v is None for v in values]
        if affinity == "REAL":
            data = np.array([_float_or_nan(v) for v in values], dtype=np.float64)
            table[name] = MaskedColumn(data, mask=nulls) if masked and any(nulls) else data
        elif affinity == "INTEGER" and None in values:
            table[name] = MaskedColumn([0 if v is None else int(v) for v in values], dtype=np.int64, mask=nulls)
        elif affinity == "INTEGER" or (affinity is None and kinds <= {int} and values and None not in values):
            table[name] = np.array(values, dtype=np.int64)
        elif affinity is None and kinds <= {int, float} and kinds:
            table[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        else:
            data = np.array(["" if v is None else str(v) for v in values], dtype=str)
            table[name] = MaskedColumn(data, mask=nulls) if masked and any(nulls) else data
    return table


def _affinity(sql_type):
    """SQLite's type affinity of a declared column type (its rules, for the types the schema uses)."""
    sql_type = (sql_type or "").upper()
    if "INT" in sql_type:
        return "INTEGER"
    if any(word in sql_type for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if any(word in sql_type for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return None


def _angular_separation_deg(ra0, dec0, ra, dec):
    ra0, dec0, ra, dec = map(np.radians, (ra0, dec0, ra, dec))
    # Vincenty formula: accurate at all separations.
    sdlon, cdlon = np.sin(ra - ra0), np.cos(ra - ra0)
    num1 = np.cos(dec) * sdlon
    num2 = np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * cdlon
    denominator = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * cdlon
    return np.degrees(np.arctan2(np.hypot(num1, num2), denominator))
