"""Catalogue store: results, products and run provenance in SQLite, with HEALPix cone search."""

import contextlib

from hippo.store.store import DEFAULT_STORE, RunRecord, Store, default_store_path

__all__ = ["DEFAULT_STORE", "RunRecord", "Store", "default_store_path", "open_store", "store_session"]


def open_store(store):
    """A Store from a path or an open Store (API functions accept either for ``store=``)."""
    return store if isinstance(store, Store) else Store.open(store)


@contextlib.contextmanager
def store_session(store):
    """The Store for an API function's ``store=``, closed afterwards if it was opened here.

    A connection left open would checkpoint its WAL whenever it is garbage-collected, changing
    the file under a user (and under an incremental backup) at a random later moment.
    """
    database = open_store(store)
    try:
        yield database
    finally:
        if database is not store:
            database.close()
