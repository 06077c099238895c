"""One writer per backup destination: a lock object naming its holder, kept fresh while it runs.

Two backups writing to one destination at once would each fold the other's journals into their
own manifest and remove them. The lock is an object created only if absent (S3 conditional put,
a hard link or an exclusive create on a local disk) that records owner, host, pid and times; the
holder rewrites it every ``refresh`` seconds. A lock is broken when its holder is gone: the same
host and a pid that no longer runs, or no rewrite for ``stale_after`` seconds (a crash on another
machine). That age is the store's own (S3's Date against the object's Last-Modified, a file's
mtime against a new file's on a local or NFS disk), never this host's clock against the
holder's: hosts may disagree by more than ``stale_after``, and one whose clock ran ahead would
break a live lock. A lock record that cannot be read (empty, damaged) is judged by the same age.

Breaking a lock is a remove followed by a conditional put, and object stores offer no
conditional remove: two runs that both judged the old lock abandoned could each remove, the
second removing the first's fresh lock. So a run that broke a lock reads its own lock back once
more after ``settle`` seconds, longer than the two requests between a rival's look and its
remove; if a rival's record is there by then, the rival holds the lock and this run stops.
"""

import getpass
import json
import os
import socket
import threading
import time
import uuid

from hippo.errors import HippoError
from hippo.transfer.backends import AlreadyExists, TransferError

LOCK = "lock.json"
STALE_AFTER = 900.0  # seconds without a refresh after which a lock counts as abandoned
REFRESH = 60.0       # seconds between refreshes by the holder
SETTLE = 2.0         # seconds before a run that broke a lock checks that it still holds it


class DestinationLocked(HippoError):
    """Another backup holds the destination's lock."""


class WriterLock:
    """Context manager holding the lock of ``backend`` for one backup run."""

    def __init__(self, backend, stale_after=STALE_AFTER, refresh=REFRESH, settle=SETTLE):
        self.backend, self.stale_after, self.refresh, self.settle = backend, stale_after, refresh, settle
        self.record = {"owner": _user(), "host": socket.gethostname(), "pid": os.getpid(),
                       "token": uuid.uuid4().hex, "since": time.time(), "refreshed": time.time()}
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def acquire(self):
        """Take the lock, breaking an abandoned one; :class:`DestinationLocked` names a live holder."""
        token = self.record["token"]
        broke_one = False
        for attempt in range(3):
            holder = self.holder()
            if holder is not None and holder.get("token") == token:
                break  # our own put, whose answer was lost and which was retried
            if holder is not None:
                age = self.backend.age(LOCK)
                if age is None:
                    continue  # released in between: look again
                if attempt < 2 and self._abandoned(holder, age):
                    self.backend.remove(LOCK)
                    broke_one = True
                    continue
                if not holder:
                    raise DestinationLocked(f"{self.backend.url}: {LOCK} is not a lock record (empty or damaged, "
                                            f"written {age:.0f} s ago); remove it if no backup is writing here "
                                            f"(it counts as abandoned {self.stale_after:.0f} s after it was written)")
                raise DestinationLocked(f"{self.backend.url}: {describe(holder, age)}; only one backup may "
                                        f"write here at a time (a lock left by a crash expires "
                                        f"{self.stale_after:.0f} s after its last refresh)")
            try:
                self.backend.put(LOCK, self._encode(), if_absent=True)
            except AlreadyExists:
                continue  # taken in between: look again
            # Read back: a server that ignores If-None-Match lets the last writer win.
            if (self.holder() or {}).get("token") == token:
                if broke_one:
                    # a rival that also saw the old lock may remove ours and put its own
                    time.sleep(self.settle)
                    if (self.holder() or {}).get("token") != token:
                        continue  # it did: the next look names it as the live holder
                break
        else:
            raise DestinationLocked(f"{self.backend.url}: the backup lock kept changing hands; try again")
        self._thread = threading.Thread(target=self._keep_fresh, daemon=True, name="hippo-backup-lock")
        self._thread.start()

    def release(self):
        """Stop refreshing and remove the lock if it is still ours (best effort: a lock that
        cannot be removed now is broken by the next run once this process is gone)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()  # a refresh under way must not put the lock back after its removal
        try:
            holder = self.holder()
            if holder and holder.get("token") == self.record["token"]:
                self.backend.remove(LOCK)
        except HippoError:
            pass

    def holder(self):
        """The current lock record, ``{}`` for one that is not a lock record (an empty file left by
        a full disk, a damaged one), or None when the destination is not locked (one request)."""
        try:
            record = json.loads(self.backend.get(LOCK))
        except ValueError:
            return {}
        except TransferError as exc:
            cause = exc.__context__
            if isinstance(cause, FileNotFoundError) or getattr(cause, "status", None) == 404:
                return None
            raise
        return record if isinstance(record, dict) else {}

    def _keep_fresh(self):
        while not self._stop.wait(self.refresh):
            try:
                holder = self.holder()
                if holder is None or holder.get("token") != self.record["token"]:
                    return  # broken by another writer: theirs now, leave it be
                self.record["refreshed"] = time.time()
                self.backend.put(LOCK, self._encode())
            except HippoError:
                pass  # the next refresh tries again; the backup itself reports a dead server

    def _abandoned(self, holder, age):
        """Whether the lock ``holder``, last written ``age`` seconds ago by the store's clock, is left
        by a writer that is gone."""
        if holder.get("host") == self.record["host"] and not _running(int(holder.get("pid", 0))):
            return True
        return age > self.stale_after

    def _encode(self):
        return json.dumps(self.record, sort_keys=True).encode()


def describe(holder, age):
    """``locked by alice@node7 (pid 1234) since 2026-11-24 22:10:03 UTC, refreshed 12 s ago``
    (``since`` by the holder's clock, the age by the store's)."""
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(holder.get("since", 0))))
    return (f"locked by {holder.get('owner', '?')}@{holder.get('host', '?')} (pid {holder.get('pid', '?')}) "
            f"since {since}, refreshed {age:.0f} s ago")


def _running(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
