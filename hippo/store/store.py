"""The catalogue store: one SQLite file (WAL) holding results, products and every run's provenance."""

import contextlib
import io
import json
import logging
import os
import sqlite3
import time
from pathlib import Path

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

    Open with ``Store.open(path)`` (created on first use). Rows go in with :meth:`insert`,
    come out with :meth:`query`, :meth:`cone` and :meth:`export`; each producing call is wrapped
    in :meth:`run`, which records its provenance.

    >>> with Store.open("hippo.db") as store:                          # doctest: +SKIP
    ...     with store.run("classify", {"model": "default"}, inputs=["a.fits"]) as run:
    ...         store.insert("classifications", rows, run_id=run.id)
    """

    def __init__(self, connection, path):
        self.connection = connection
        self.path = Path(path)

    @classmethod
    def open(cls, path=None, must_exist=False):
        """Open (or create) the store at ``path``; ``must_exist`` for readers: a mistyped path is an
        error, not a new empty store that answers every question with nothing."""
        path = Path(path or default_store_path())
        if path.is_dir():
            raise InputError(path, "is a directory, not a store file")
        if must_exist and not path.exists():
            raise InputError(path, "no such store (hippo store init creates one)")
        if path.exists() and path.stat().st_size > 0:
            with open(path, "rb") as stream:
                if stream.read(16) != b"SQLite format 3\x00":
                    raise InputError(path, "is not a HIPPO store (not an SQLite database)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as exc:
            raise InputError(path, f"cannot open the store ({exc})") from None
        store = cls(connection, path)
        store._ensure_schema()
        return store

    def close(self):
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- schema -------------------------------------------------------------------------------

    def _ensure_schema(self):
        try:
            with self.transaction():
                existing = {row[0] for row in self.connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                for table, columns in TABLES.items():
                    positional = any(name == "ra" for name, _ in columns)
                    full = columns + ([("healpix", "INTEGER")] if positional else [])
                    if table not in existing:
                        body = ", ".join(["id INTEGER PRIMARY KEY"] + [f'"{n}" {t}' for n, t in full])
                        self.connection.execute(f'CREATE TABLE "{table}" ({body})')
                    else:
                        have = {row[1] for row in self.connection.execute(f'PRAGMA table_info("{table}")')}
                        for name, sql_type in full:
                            if name not in have:
                                self.connection.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {sql_type.replace(" UNIQUE", "")}')
                    if positional:
                        self.connection.execute(f'CREATE INDEX IF NOT EXISTS "{table}_healpix" ON "{table}"(healpix)')
                for table, column in INDEXES:
                    self.connection.execute(f'CREATE INDEX IF NOT EXISTS "{table}_{column}" ON "{table}"("{column}")')
        except sqlite3.DatabaseError as exc:
            raise InputError(self.path, f"is not a usable HIPPO store ({exc})") from None

    @contextlib.contextmanager
    def transaction(self):
        """One SQLite transaction (BEGIN IMMEDIATE: writers queue instead of failing mid-way)."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

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
        columns = [c for c in self.columns(table) if c != "id"]
        records = _as_records(rows)
        if not records:
            return 0
        if run_id is not None and "run_id" in columns:
            for record in records:
                record.setdefault("run_id", run_id)
        if "healpix" in columns:
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
        with self.transaction() as connection:
            connection.executemany(sql, ([_sql_value(r.get(c)) for c in used] for r in records))
        return len(records)

    @contextlib.contextmanager
    def run(self, command, parameters=None, inputs=None, started=None):
        """Record a run: provenance at the start, then end time, exit status and log at the end.

        Yields a RunRecord whose ``id`` goes into the rows the run writes. Log records of the
        ``hippo`` logger emitted during the run are stored with it. ``started`` (a ``time.time()``)
        is when the work began, for a run recorded once its work is done (classify records its
        inputs, each with its checksum, after it has found them all).
        """
        from datetime import datetime, timezone

        from hippo.provenance import describe_inputs

        started = time.time() if started is None else started
        with self.transaction() as connection:
            cursor = connection.execute(
                'INSERT INTO runs (command, parameters, inputs, versions, environment, started) VALUES (?,?,?,?,?,?)',
                (command, json.dumps(parameters or {}, default=str), json.dumps(describe_inputs(inputs or [])),
                 json.dumps(software_versions()), json.dumps(environment_summary()),
                 datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="milliseconds")))
        record = RunRecord(cursor.lastrowid)
        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        status = 1
        try:
            yield record
            status = record.exit_status
        except BaseException as exc:
            status = getattr(exc, "exit_code", 1)
            record.note(f"run failed: {exc}")  # stored with the run; the command line prints it itself, once
            raise
        finally:
            log.removeHandler(handler)
            with self.transaction() as connection:
                connection.execute("UPDATE runs SET finished=?, seconds=?, exit_status=?, log=? WHERE id=?",
                                   (utc_now(), time.time() - started, status, buffer.getvalue() + record.notes,
                                    record.id))

    # -- reading ------------------------------------------------------------------------------

    def query(self, sql, parameters=(), schema_of=None):
        """Run a read-only SQL query; the result as an astropy Table.

        Columns of table ``schema_of`` get the types it declares, whatever the rows hold
        (REAL: float with NaN for NULL, INTEGER: int masked where NULL, TEXT: str); other columns
        get types guessed from their values.
        """
        cursor = self.connection.execute(sql, parameters)
        names = [d[0] for d in cursor.description]
        declared = {}
        if schema_of is not None:
            declared = {row[1]: row[2] for row in self.connection.execute(f'PRAGMA table_info("{schema_of}")')}
        return _rows_to_table(names, cursor.fetchall(), declared)

    def table(self, name):
        self._check_table(name)
        return self.query(f'SELECT * FROM "{name}" ORDER BY id', schema_of=name)

    def count(self, name):
        self._check_table(name)
        return self.connection.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]

    def cone(self, ra_deg, dec_deg, radius_deg, table="sources"):
        """Rows of ``table`` within ``radius_deg`` of (ra, dec), nearest first, with ``separation_arcsec``.

        A table that has a ``separation_arcsec`` of its own (``xmatches``: the pair's separation)
        keeps it, and the distance from the cone's centre goes into ``cone_separation_arcsec``.
        """
        if "healpix" not in self.columns(table):
            raise UsageError(f"table {table!r} has no positions to search")
        ranges = cone_ranges(ra_deg, dec_deg, radius_deg)
        where = " OR ".join("(healpix >= ? AND healpix < ?)" for _ in ranges) or "0"
        candidates = self.query(f'SELECT * FROM "{table}" WHERE {where}', [v for r in ranges for v in r],
                                schema_of=table)
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

        data = self.table(table)
        add_provenance(data, "store export", {"table": table})
        data.meta["hippo_store"] = str(self.path)
        data.meta["exported"] = utc_now()
        write_table(data, path)
        return len(data)

    def info(self):
        """Rows per table and the most recent runs, as a dict."""
        counts = {name: self.count(name) for name in self.tables()}
        recent = self.query("SELECT id, command, started, seconds, exit_status FROM runs ORDER BY id DESC LIMIT 5")
        return {"path": str(self.path), "tables": counts, "recent_runs": [dict(zip(recent.colnames, row)) for row in recent]}


class RunRecord:
    """The handle of a recorded run; set ``exit_status`` before leaving the block if not 0."""

    def __init__(self, run_id):
        self.id = run_id
        self.exit_status = 0
        self.notes = ""

    def note(self, message):
        """Add a line to the run's log without logging it (already shown to the user another way)."""
        self.notes += f"{utc_now()} {message}\n"


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
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is not None and not isinstance(value, (int, float, str)):
        return str(value)
    return value


def _float_or_nan(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _rows_to_table(names, rows, declared=None):
    """A Table of query rows. Columns with a type in ``declared`` (name to SQL type) get it
    whatever the rows hold, so an empty or all-NULL column keeps its type; others are guessed."""
    columns = list(zip(*rows)) if rows else [[] for _ in names]
    table = Table()
    for name, values in zip(names, columns):
        values = list(values)
        affinity = _affinity((declared or {}).get(name))
        kinds = {type(v) for v in values if v is not None}
        if affinity == "REAL":
            table[name] = np.array([_float_or_nan(v) for v in values], dtype=np.float64)
        elif affinity == "INTEGER" and None in values:
            table[name] = MaskedColumn([0 if v is None else int(v) for v in values], dtype=np.int64,
                                       mask=[v is None for v in values])
        elif affinity == "INTEGER" or (affinity is None and kinds <= {int} and values and None not in values):
            table[name] = np.array(values, dtype=np.int64)
        elif affinity is None and kinds <= {int, float} and kinds:
            table[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        else:
            table[name] = np.array(["" if v is None else str(v) for v in values], dtype=str)
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
