"""Object stores behind one small interface (list, put, get, stat, remove, multipart): a local
directory and S3. Backup, verify and restore are written once over :class:`Backend`."""

import base64
import collections
import concurrent.futures
import contextlib
import errno
import hashlib
import os
import random
import re
import tempfile
import threading
import time
import zlib
from pathlib import Path

from hippo.errors import HippoError, InputError
from hippo.io.atomic import atomic_path, check_writable, disk_full

PART_SIZE = 8 << 20  # bytes per multipart part (S3 needs >= 5 MiB except the last)
MAX_PARTS = 10_000   # parts one multipart upload may have (S3's limit)
SINGLE_PUT_LIMIT = 64 << 20  # bytes: larger files go up in parts
PARTS_IN_FLIGHT = 4  # parallel parts of one multipart upload (memory: this many parts per file)


class ObjectInfo(collections.namedtuple("ObjectInfo", "key size etag")):
    """What a store says about one object: its key, size in bytes and ETag (None where unknown).
    (A named tuple rather than a dataclass: importing dataclasses costs milliseconds of start-up.)"""

    __slots__ = ()


class TransferError(HippoError):
    """The object store failed in a way retries did not cure (server gone, disk full...)."""


class AlreadyExists(TransferError):
    """A put with ``if_absent`` found the key taken."""


class SourceReadError(InputError):
    """The local file being sent could not be read (no permission, gone, an I/O error, or it
    shrank while being sent). That one file's fault, not the store's: never retried, and
    ``reason`` says why without naming the store."""


# link() errors of file systems without hard links: FAT32/exFAT, many SMB and FUSE mounts
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}


class Throttle:
    """A shared token bucket limiting the bytes per second sent by all workers (None: no limit)."""

    def __init__(self, bytes_per_second=None):
        self.rate = bytes_per_second
        self._lock = threading.Lock()
        self._next_free = time.monotonic()

    def consume(self, nbytes):
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_free)
            self._next_free = start + nbytes / self.rate
        if start > now:
            time.sleep(start - now)


def multipart_etag(part_digests):
    """S3's ETag of a multipart object: MD5 of the concatenated part MD5s, then ``-<parts>``."""
    return hashlib.md5(b"".join(part_digests)).hexdigest() + f"-{len(part_digests)}"


class Backend:
    """One object store. Keys are '/'-separated strings relative to the backend's prefix.

    ``retries`` transient failures are retried with exponential back-off and jitter; what is
    left is raised as :class:`TransferError` (or :class:`InputError` for refused credentials).
    """

    url = ""

    def __init__(self, retries=4, throttle=None):
        self.retries = retries
        self.throttle = throttle or Throttle()

    # -- the interface every backend implements --------------------------------------------
    def list(self, prefix=""):
        """Yield :class:`ObjectInfo` for every object whose key starts with ``prefix``."""
        raise NotImplementedError

    def put(self, key, data, if_absent=False):
        """Store the bytes ``data`` under ``key`` in one checksummed request; return its
        :class:`ObjectInfo`. With ``if_absent`` the put fails (:class:`AlreadyExists`) when
        ``key`` already exists."""
        raise NotImplementedError

    def put_file(self, key, path, on_bytes=None):
        """Store the file at ``path`` (in parts when large), read once and checked by MD5.

        Returns ``(ObjectInfo, sha256)``: the hex SHA-256 of the bytes actually sent.
        """
        raise NotImplementedError

    def get(self, key):
        """Return the bytes of object ``key``."""
        raise NotImplementedError

    def get_file(self, key, path):
        """Stream object ``key`` into the (temporary) file ``path``."""
        raise NotImplementedError

    def stat(self, key):
        """:class:`ObjectInfo` of ``key``, or None when it does not exist."""
        raise NotImplementedError

    def age(self, key):
        """Seconds since ``key`` was last written by the store's own clock, or None when it does
        not exist. Never this host's clock: hosts writing to one store may disagree by hours."""
        raise NotImplementedError

    def remove(self, key):
        raise NotImplementedError

    # -- shared machinery ---------------------------------------------------------------------
    def _transient(self, exc):
        return isinstance(exc, OSError)

    def _explain(self, exc):
        return str(exc)

    def call(self, what, function, *args, **kwargs):
        """Run ``function`` retrying transient failures with back-off; one-line error at the end."""
        for attempt in range(self.retries + 1):
            try:
                return function(*args, **kwargs)
            except HippoError:
                raise
            except Exception as exc:
                if not self._transient(exc):
                    raise self._fatal(what, exc) from None
                if attempt == self.retries:
                    raise TransferError(f"{self.url}: {what} failed after {attempt + 1} attempts: "
                                        f"{self._explain(exc)}") from None
                time.sleep(min(8.0, 0.25 * 2 ** attempt) * (0.5 + random.random()))

    def _fatal(self, what, exc):
        # Raised inside call's except block, so Python keeps ``exc`` as its __context__ (even
        # ``from None`` only hides it): callers read the S3 status from there.
        return TransferError(f"{self.url}: {what} failed: {self._explain(exc)}")


class LocalBackend(Backend):
    """A plain directory; objects are files, written atomically. ETags are not kept (None)."""

    def __init__(self, root, **kwargs):
        super().__init__(**kwargs)
        self.root = Path(root)
        self.url = str(self.root)

    def _path(self, key):
        return self.root / key

    def call(self, what, function, *args, **kwargs):
        try:
            return super().call(what, function, *args, **kwargs)
        except InputError as exc:
            if isinstance(exc, SourceReadError):
                raise
            # atomic_path's error (a full disk, say) names the object's file: to the caller it is
            # the store failing, as any other write to it
            raise TransferError(f"{self.url}: {what} failed: {exc.reason}") from None

    def list(self, prefix=""):
        base = self._path(prefix) if prefix.endswith("/") else self._path(prefix).parent
        if not base.is_dir():
            return
        for directory, _, files in os.walk(base):
            for name in files:
                path = Path(directory) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and not _is_partial(name):
                    yield ObjectInfo(key, path.stat().st_size, None)

    def put(self, key, data, if_absent=False):
        self.throttle.consume(len(data))

        def write():
            final = self._path(key)
            _make_dirs(final.parent)
            if not if_absent:
                with atomic_path(final) as tmp, open(tmp, "wb") as stream:
                    stream.write(data)
                    _sync(stream)
                _sync_dir(final.parent)
                return
            # Written aside, then hard-linked: unlike a rename, a link refuses to replace a file.
            descriptor, aside = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
            try:
                with os.fdopen(descriptor, "wb") as stream:
                    stream.write(data)
                    _sync(stream)
                try:
                    os.link(aside, final)
                except OSError as exc:
                    if exc.errno not in _NO_HARD_LINKS:
                        raise
                    _create_exclusively(final, data)
            except FileExistsError:
                raise AlreadyExists(f"{self.url}: {key} already exists") from None
            finally:
                os.unlink(aside)
            _sync_dir(final.parent)
        self.call(f"put {key}", write)
        return ObjectInfo(key, len(data), None)

    def put_file(self, key, path, on_bytes=None):
        def copy():
            sha256, final = hashlib.sha256(), self._path(key)
            _make_dirs(final.parent)
            with atomic_path(final) as tmp, open(tmp, "wb") as sink:
                for chunk in _source_chunks(path, PART_SIZE):
                    self.throttle.consume(len(chunk))
                    sha256.update(chunk)
                    sink.write(chunk)
                    if on_bytes:
                        on_bytes(len(chunk))
                _sync(sink)
            _sync_dir(final.parent)
            return sha256.hexdigest()
        sha256 = self.call(f"put {key}", copy)
        return ObjectInfo(key, self._path(key).stat().st_size, None), sha256

    def get(self, key):
        return self.call(f"get {key}", self._path(key).read_bytes)

    def get_file(self, key, path):
        import shutil
        self.call(f"get {key}", shutil.copyfile, self._path(key), path)

    def stat(self, key):
        try:
            return ObjectInfo(key, self._path(key).stat().st_size, None)
        except FileNotFoundError:
            return None

    def age(self, key):
        def measure():
            try:
                written = self._path(key).stat().st_mtime
            except FileNotFoundError:
                return None
            # "Now" as the file system stamps it: on a disk shared over NFS the server sets both.
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".age.", suffix=".part") as probe:
                return os.fstat(probe.fileno()).st_mtime - written
        return self.call(f"stat {key}", measure)

    def remove(self, key):
        path = self._path(key)
        path.unlink(missing_ok=True)
        if path.parent != self.root:
            with contextlib.suppress(OSError):  # not empty yet (or already gone): keep it
                path.parent.rmdir()  # a run's journal folder, once its last record is folded in

    def remove_leftovers(self, prefix):
        """Delete the partial files a killed writer left under ``prefix``; their number. Only
        with the writer lock held: a live writer's partial files look the same."""
        base = self._path(prefix)
        leftovers = [path for path in base.rglob(".*") if _is_partial(path.name) and path.is_file()] \
            if base.is_dir() else []
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)

    def _transient(self, exc):
        return False  # a local disk error does not cure itself


def _is_partial(name):
    """Whether ``name`` is a temporary file of a write to a local store (``.NAME.XXXXXXXX.part``
    and a suffix, as atomic_path names them): no key starts with a dot."""
    return name.startswith(".") and ".part" in name


def _sync(stream):
    """Flush ``stream`` to the disk before it is renamed into place: without it a power loss soon
    after a finished backup can leave its objects and manifest empty or partial."""
    stream.flush()
    os.fsync(stream.fileno())


def _sync_dir(directory):
    """Make a rename (or link, or new entry) in ``directory`` survive a power loss."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):  # a folder that cannot be opened for reading
            return
        raise
    try:
        os.fsync(descriptor)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):  # a disk that cannot sync folders
            raise
    finally:
        os.close(descriptor)


def _make_dirs(directory):
    """Make ``directory`` and its missing parents, each new entry synced in its parent (an object
    in a folder whose own entry was lost is lost with it)."""
    if directory.is_dir():
        return
    _make_dirs(directory.parent)
    try:
        directory.mkdir()
    except FileExistsError:
        pass  # made by another worker meanwhile
    except OSError as exc:  # named as atomic_path names what it cannot make
        raise InputError(directory, "no space left on device" if disk_full(exc)
                         else f"cannot write here ({exc.strerror or exc})") from None
    _sync_dir(directory.parent)


def _create_exclusively(path, data):
    """Create ``path`` holding ``data``, failing (FileExistsError) if it exists: an if-absent put
    where hard links are missing. Not atomic, unlike the link: a reader may see the file empty
    for a moment, and a lock reader takes that for a damaged lock, which holds until it is old."""
    with open(path, "xb") as stream:  # O_CREAT | O_EXCL
        try:
            stream.write(data)
            _sync(stream)
        except BaseException:
            os.unlink(path)  # ours alone (created exclusively): a half-written record must not hold
            raise


class S3Backend(Backend):
    """An S3 bucket and prefix through the lean client in :mod:`hippo.transfer.s3` (endpoint,
    region and credentials found the AWS way)."""

    def __init__(self, bucket, prefix="", endpoint_url=None, create_bucket=False, missing_ok=False, **kwargs):
        super().__init__(**kwargs)
        from hippo.transfer.s3 import S3Client, find_credentials

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self.client = S3Client(bucket, endpoint_url=endpoint_url, credentials=find_credentials())
        self._trailers = None  # whether the server checks aws-chunked checksum trailers (unknown yet)
        self._check_bucket(create_bucket, missing_ok)

    def _check_bucket(self, create, missing_ok):
        from hippo.transfer.s3 import S3Error
        try:
            self.call("open bucket", self.client.request, "HEAD")
        except TransferError as exc:
            cause = exc.__context__
            # Credentials are judged here, on the first request: a 403 later in a run (a body cut
            # off by a dying connection fails its signature) is a transfer failure, not bad keys.
            if isinstance(cause, S3Error) and cause.status in (401, 403):
                raise InputError(self.url, "access refused: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                                 f"({self._explain(cause)})") from None
            if not (isinstance(cause, S3Error) and cause.status == 404):
                raise
            if create:
                self.call("create bucket", self.client.request, "PUT")
            elif not missing_ok:
                raise InputError(self.url, "no such bucket") from None

    def _transient(self, exc):
        import http.client

        from hippo.transfer.s3 import S3Error
        if isinstance(exc, (PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError)):
            return False  # a local file (the one a download goes to), which a retry does not cure
        if isinstance(exc, (OSError, http.client.HTTPException)):
            return True  # the connection: sockets, DNS, TLS
        if isinstance(exc, S3Error):
            return exc.status >= 500 or exc.code in ("SlowDown", "RequestTimeout", "Throttling")
        return False

    def _explain(self, exc):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    def list(self, prefix=""):
        from hippo.transfer.s3 import S3Error, list_keys
        query = {"list-type": "2", "prefix": self.prefix + prefix}
        while True:
            try:
                _, _, xml = self.call(f"list {prefix}", self.client.request, "GET", query=query)
            except TransferError as exc:
                if isinstance(exc.__context__, S3Error) and exc.__context__.code == "NoSuchBucket":
                    return  # opened with missing_ok: a bucket not created yet holds nothing
                raise
            items, token = list_keys(xml)
            for key, size, etag in items:
                yield ObjectInfo(key[len(self.prefix):], size, etag)
            if token is None:
                return
            query = {**query, "continuation-token": token}

    def remove_leftovers(self, prefix):
        """Abort the multipart uploads a killed writer left under ``prefix`` (the server keeps
        their parts, and bills for them, until they are aborted); their number. Only with the
        writer lock held: a live writer's uploads look the same."""
        import xml.etree.ElementTree as ElementTree

        query, uploads = {"uploads": "", "prefix": self.prefix + prefix}, []
        while True:  # 1000 uploads a page at most
            _, _, answer = self.call("list unfinished uploads", self.client.request, "GET", query=query)
            root = ElementTree.fromstring(answer)
            namespace = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            uploads += [(upload.findtext(f"{namespace}Key"), upload.findtext(f"{namespace}UploadId"))
                        for upload in root.iter(f"{namespace}Upload")]
            if root.findtext(f"{namespace}IsTruncated") != "true":
                break
            query = {**query, "key-marker": root.findtext(f"{namespace}NextKeyMarker") or "",
                     "upload-id-marker": root.findtext(f"{namespace}NextUploadIdMarker") or ""}
        for key, upload_id in uploads:
            self.call(f"abort upload {key}", self.client.request, "DELETE", key, query={"uploadId": upload_id})
        return len(uploads)

    def put(self, key, data, if_absent=False):
        self.throttle.consume(len(data))
        # CRC32 (x-amz-checksum-crc32) is checked by the server and costs a fifth of an MD5.
        crc32 = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        headers = {"x-amz-checksum-crc32": crc32}
        if if_absent:
            headers["If-None-Match"] = "*"
        try:
            _, response, _ = self.call(f"put {key}", self.client.request, "PUT", self.prefix + key,
                                       headers=headers, body=data)
        except TransferError as exc:
            if if_absent and getattr(exc.__context__, "status", None) == 412:
                raise AlreadyExists(f"{self.url}: {key} already exists") from None
            raise
        etag = (response.get("ETag") or "").strip('"')
        # A server that ignores the checksum header does not echo it: then its ETag must be the MD5.
        if response.get("x-amz-checksum-crc32") != crc32 and etag != hashlib.md5(data).hexdigest():
            raise TransferError(f"{self.url}: put {key}: server ETag {etag} is not the MD5 of what was sent")
        return ObjectInfo(key, len(data), etag)

    def put_file(self, key, path, on_bytes=None):
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise SourceReadError(path, exc.strerror or exc) from exc
        if size <= SINGLE_PUT_LIMIT:
            info, sha256 = self._put_streamed(key, path, size)
            if on_bytes:
                on_bytes(size)
            return info, sha256
        full_key = self.prefix + key
        _, _, answer = self.call(f"start upload {key}", self.client.request, "POST", full_key, query={"uploads": ""})
        upload_id = re.search(rb"<UploadId>([^<]+)</UploadId>", answer).group(1).decode()

        def send_part(number, chunk, digest):
            self.throttle.consume(len(chunk))
            _, response, _ = self.call(f"put {key} part {number}", self.client.request, "PUT", full_key,
                                       query={"partNumber": str(number), "uploadId": upload_id},
                                       headers={"Content-MD5": base64.b64encode(digest).decode()}, body=chunk)
            if on_bytes:
                on_bytes(len(chunk))
            return number, response.get("ETag")

        # Parts grow, in whole MiB as rclone's do, for a file of more than MAX_PARTS x PART_SIZE (78 GiB).
        part_size = max(PART_SIZE, -(-size // (MAX_PARTS << 20)) << 20)
        sha256, digests, futures = hashlib.sha256(), [], []
        slots = threading.BoundedSemaphore(PARTS_IN_FLIGHT)  # bounds the parts held in memory
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=PARTS_IN_FLIGHT) as pool:
                for chunk in _source_chunks(path, part_size):
                    sha256.update(chunk)
                    digests.append(hashlib.md5(chunk).digest())
                    slots.acquire()
                    future = pool.submit(send_part, len(digests), chunk, digests[-1])
                    future.add_done_callback(lambda _: slots.release())
                    futures.append(future)
                parts = [f.result() for f in futures]
            listing = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts)
            self.call(f"complete {key}", self.client.request, "POST", full_key, query={"uploadId": upload_id},
                      body=f"<CompleteMultipartUpload>{listing}</CompleteMultipartUpload>".encode())
        except BaseException:
            # An unfinished upload leaves no object behind, so nothing partial is ever counted.
            try:
                self.client.request("DELETE", full_key, query={"uploadId": upload_id})
            except Exception:
                pass
            raise
        return ObjectInfo(key, size, multipart_etag(digests)), sha256.hexdigest()

    def _put_streamed(self, key, path, size):
        """One streamed request, as rclone does below its cutoff, the file read once and hashed
        as it is sent. The CRC32 goes last, in an aws-chunked trailer the server checks against
        what it received; a server that does not take trailers gets the plain bytes again, and
        its ETag must then be their MD5."""
        from hippo.transfer.s3 import aws_chunked, aws_chunked_length
        trailer = "x-amz-checksum-crc32"

        def send(chunked):
            sha256, crc, md5 = hashlib.sha256(), [0], hashlib.md5()

            def hashed(chunk):
                sha256.update(chunk)
                if chunked:
                    crc[0] = zlib.crc32(chunk, crc[0])
                else:
                    md5.update(chunk)
                return chunk
            chunks = map(hashed, _exactly(size, _source_chunks(path, 1 << 20), self.throttle, path))
            if not chunked:
                _, response, _ = self.client.request("PUT", self.prefix + key, body=chunks, length=size)
                return response, sha256.hexdigest(), md5.hexdigest()
            expected = base64.b64encode(b"0000").decode()  # the length of a base64 CRC32

            def checksum():
                return base64.b64encode(crc[0].to_bytes(4, "big")).decode()
            headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(size),
                       "x-amz-trailer": trailer}
            _, response, _ = self.client.request(
                "PUT", self.prefix + key, headers=headers, body=aws_chunked(chunks, checksum, trailer),
                length=aws_chunked_length(size, 1 << 20, trailer, len(expected)),
                payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
            return response, sha256.hexdigest(), checksum()

        if self._trailers is not False:
            try:
                response, sha256, crc = self.call(f"put {key}", send, True)
            except TransferError as exc:
                if getattr(exc.__context__, "code", None) in ("BadDigest", "InvalidDigest"):
                    raise TransferError(f"{self.url}: put {key}: the server received other bytes than were "
                                        "read (damaged in transit?)") from None
                raise
            if response.get(trailer) == crc:
                self._trailers = True
                return ObjectInfo(key, size, (response.get("ETag") or "").strip('"')), sha256
            self._trailers = False  # the server ignored the trailer: send the plain bytes instead
        response, sha256, md5 = self.call(f"put {key}", send, False)
        etag = (response.get("ETag") or "").strip('"')
        if etag != md5:
            raise TransferError(f"{self.url}: put {key}: server ETag {etag} is not the MD5 of what was sent "
                                "(file changed during upload?)")
        return ObjectInfo(key, size, etag), sha256

    def get(self, key):
        return self.call(f"get {key}", self.client.request, "GET", self.prefix + key)[2]

    def get_file(self, key, path):
        def download():
            with open(path, "wb") as sink:
                self.client.request("GET", self.prefix + key, sink=sink)
        self.call(f"get {key}", download)

    def stat(self, key):
        head = self._head(key)
        if head is None:
            return None
        return ObjectInfo(key, int(head["Content-Length"]), (head.get("ETag") or "").strip('"') or None)

    def age(self, key):
        from email.utils import parsedate_to_datetime
        head = self._head(key)
        if head is None:
            return None
        # Both stamps are the server's: its Date now and when it stored the object.
        return (parsedate_to_datetime(head["Date"]) - parsedate_to_datetime(head["Last-Modified"])).total_seconds()

    def _head(self, key):
        """The response headers of a HEAD of ``key``, or None when it does not exist."""
        from hippo.transfer.s3 import S3Error
        try:
            return self.call(f"stat {key}", self.client.request, "HEAD", self.prefix + key)[1]
        except TransferError as exc:
            if isinstance(exc.__context__, S3Error) and exc.__context__.status == 404:
                return None
            raise

    def remove(self, key):
        self.call(f"remove {key}", self.client.request, "DELETE", self.prefix + key)


def _source_chunks(path, chunk_size):
    """The file at ``path`` in chunks of ``chunk_size`` bytes (the last one shorter). Failing to
    open or read it is a :class:`SourceReadError`, so that Backend.call neither retries it nor
    blames the store; the consumer's own errors (the network's) never pass through here."""
    try:
        with open(path, "rb") as source:  # buffered: full chunks until the end of the file
            while chunk := source.read(chunk_size):
                yield chunk
    except OSError as exc:
        raise SourceReadError(path, exc.strerror or exc) from exc


def _exactly(size, chunks, throttle, path):
    """The first ``size`` bytes of ``chunks``, throttled; a file that shrank is an error (the
    server would wait for the missing bytes), and bytes it grew by are left for the next run."""
    remaining = size
    for chunk in chunks:
        chunk = chunk[:remaining]
        throttle.consume(len(chunk))
        remaining -= len(chunk)
        yield chunk
        if not remaining:
            return
    if remaining:
        raise SourceReadError(path, "shrank while being sent; left for the next run")


def open_backend(destination, endpoint_url=None, retries=4, bwlimit=None, create=False, missing_ok=False):
    """The backend for ``destination``: ``s3://bucket/prefix`` or a local directory path.

    Parameters
    ----------
    destination : str or path
    endpoint_url : str, optional
        S3 endpoint (default ``AWS_ENDPOINT_URL``, else AWS itself).
    bwlimit : float, optional
        Upload limit in bytes per second shared by all workers.
    create : bool
        Create the bucket or directory when missing (backup does; verify and restore do not). A
        local directory that cannot be made or written is an :class:`InputError` then.
    missing_ok : bool
        Open a bucket or directory that does not exist yet as an empty store, creating nothing
        (a dry run before the first backup); otherwise a missing one is an :class:`InputError`.
    """
    destination = str(destination)
    throttle = Throttle(bwlimit)
    if destination.startswith("s3://"):
        bucket, _, prefix = destination[5:].partition("/")
        if not bucket:
            raise InputError(destination, "no bucket name (expected s3://bucket/prefix)")
        return S3Backend(bucket, prefix, endpoint_url=endpoint_url, create_bucket=create, missing_ok=missing_ok,
                         retries=retries, throttle=throttle)
    root = Path(destination)
    if create:
        # Found now, not at the first object (named by its temporary file, as a store failure).
        check_writable(root, folder=True)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(destination, f"cannot write here ({exc.strerror or exc})") from None
    elif root.exists() and not root.is_dir():
        raise InputError(destination, "is a file, not a folder")
    elif not root.is_dir() and not missing_ok:
        raise InputError(destination, "no such backup directory")
    return LocalBackend(root, retries=retries, throttle=throttle)
