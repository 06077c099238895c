"""Visual inspection and annotation: a local, token-protected web page over the catalogue store."""

import logging

from hippo.inspection.queue import QUEUES, agreement, source_details, source_queue

__all__ = ["QUEUES", "agreement", "inspect", "make_server", "source_details", "source_queue"]

log = logging.getLogger("hippo")


def make_server(store=None, token=None, user=None, queue="uncertain", host="127.0.0.1", port=8765):
    """The inspection server for ``store`` (path; default $HIPPO_STORE or ./hippo.db), not yet serving. ``port=0`` picks a free port."""
    from hippo.errors import UsageError
    from hippo.inspection.server import make_server as _make
    from hippo.store import Store, default_store_path

    if queue not in QUEUES:
        raise UsageError(f"--queue must be one of {', '.join(QUEUES)}, not {queue!r}")
    store_path = store.path if hasattr(store, "path") else (store or default_store_path())
    Store.open(store_path, must_exist=True).close()  # fail now, with a clear error, if it is not a store
    try:
        return _make(store_path, token=token, user=user, queue=queue, host=host, port=port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def inspect(store=None, queue="uncertain", host="127.0.0.1", port=8765, token=None, user=None):
    """Serve the inspection page until interrupted; prints the URL with its token.

    Parameters
    ----------
    store : str, Path or Store, optional
        The catalogue store (default ./hippo.db); decisions go into its ``annotations`` table.
    queue : {"uncertain", "flagged", "all"}
        Which sources the page steps through first (changeable on the page).
    host, port : str, int
        Where to listen; 127.0.0.1 by default so only this machine (or a Jupyter proxy) reaches it.
    token : str, optional
        Required on every request; generated and printed when not given.
    user : str, optional
        Default annotator name (each person can set their own on the page).
    """
    server = make_server(store, token=token, user=user, queue=queue, host=host, port=port)
    port = server.server_address[1]
    print(f"hippo inspect: serving {server.store_path} at\n    {server.url}\n"
          f"    (from Jupyter: <your Jupyter URL>/proxy/{port}/?token={server.token})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
