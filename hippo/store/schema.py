"""Tables of the catalogue store. A table with ``ra``/``dec`` gets a HEALPix column for cone search.

To add a table (or a column) add it here; ``Store.open`` creates missing tables and adds missing
columns to existing stores when it opens them to write, so older store files keep working (a
read-only open changes nothing: readers cope with a column an older store lacks).
"""

# Each table: list of (column, SQL type). An INTEGER PRIMARY KEY ``id`` is added to every table.
TABLES = {
    "runs": [
        ("command", "TEXT"), ("parameters", "TEXT"), ("inputs", "TEXT"), ("versions", "TEXT"),
        ("environment", "TEXT"), ("started", "TEXT"), ("finished", "TEXT"), ("seconds", "REAL"),
        ("exit_status", "INTEGER"), ("log", "TEXT"),
        # running, finished, or interrupted (its process ended before the end was recorded: Store.open
        # marks those of its own host); the host and pid tell whether that process is still there
        ("status", "TEXT"), ("host", "TEXT"), ("pid", "INTEGER"),
    ],
    "sources": [
        ("source", "TEXT UNIQUE"), ("ra", "REAL"), ("dec", "REAL"), ("origin", "TEXT"), ("run_id", "INTEGER"),
    ],
    "cutouts": [
        ("source", "TEXT"), ("survey", "TEXT"), ("ra", "REAL"), ("dec", "REAL"), ("path", "TEXT"),
        ("status", "TEXT"), ("size_arcsec", "REAL"), ("pixel_scale_arcsec", "REAL"), ("run_id", "INTEGER"),
    ],
    "overlays": [
        ("source", "TEXT"), ("path", "TEXT"), ("image", "TEXT"), ("contours", "TEXT"), ("run_id", "INTEGER"),
    ],
    "classifications": [
        ("source", "TEXT"), ("ra", "REAL"), ("dec", "REAL"), ("label", "TEXT"), ("p_fri", "REAL"),
        ("p_frii", "REAL"), ("p_bent", "REAL"), ("p_comp", "REAL"), ("confidence", "REAL"), ("flag", "TEXT"),
        ("message", "TEXT"), ("model", "TEXT"), ("input", "TEXT"), ("run_id", "INTEGER"),
    ],
    "xmatches": [
        ("radio_id", "TEXT"), ("optical_id", "TEXT"), ("separation_arcsec", "REAL"), ("rank", "INTEGER"),
        ("lr", "REAL"), ("reliability", "REAL"), ("method", "TEXT"), ("ra", "REAL"), ("dec", "REAL"),
        ("flag", "TEXT"), ("run_id", "INTEGER"),
    ],
    "annotations": [  # run_id: the inspection session (run ``inspect``) that recorded the decision
        ("source", "TEXT"), ("label", "TEXT"), ("host", "TEXT"), ("comment", "TEXT"), ("user", "TEXT"),
        ("time", "TEXT"), ("run_id", "INTEGER"),
        # a retraction (undo): the id of the decision it takes back, by its ``user`` at its ``time``;
        # the store stays append-only, and the retracted decision no longer counts
        ("retracts", "INTEGER"),
    ],
    "batch_jobs": [
        ("batch", "TEXT"), ("job_id", "TEXT"), ("shard", "INTEGER"), ("state", "TEXT"), ("log", "TEXT"),
        ("output", "TEXT"), ("run_id", "INTEGER"),
    ],
    "backups": [
        ("source_dir", "TEXT"), ("destination", "TEXT"), ("manifest", "TEXT"), ("files", "INTEGER"),
        ("bytes", "INTEGER"), ("run_id", "INTEGER"),
    ],
}

INDEXES = [
    ("cutouts", "source"), ("classifications", "source"), ("xmatches", "radio_id"),
    ("annotations", "source"), ("annotations", "retracts"), ("batch_jobs", "batch"),
]
