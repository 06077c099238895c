"""Catalogue store: results, products and run provenance in SQLite, with HEALPix cone search."""

from hippo.store.store import DEFAULT_STORE, RunRecord, Store

__all__ = ["DEFAULT_STORE", "RunRecord", "Store", "open_store"]


def open_store(store):
    """A Store from a path or an open Store (API functions accept either for ``store=``)."""
    return store if isinstance(store, Store) else Store.open(store)
