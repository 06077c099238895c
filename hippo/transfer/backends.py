"""Object stores behind one small interface (list, put, get, stat, remove, multipart): a local
directory and S3. Backup, verify and restore are written once over :class:`Backend`."""

import concurrent.futures
import hashlib
import os
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from hippo.errors import HippoError, InputError
from hippo.io.atomic import atomic_path

PART_SIZE = 8 << 20  # bytes per multipart part (S3 needs >= 5 MiB except the last)
SINGLE_PUT_LIMIT = 64 << 20  # bytes: larger files go up in parts
PARTS_IN_FLIGHT = 4  # parallel parts of one multipart upload (memory: this many parts per file)


@dataclass(frozen=True)
class ObjectInfo:
    """What a store says about one object: its key, size in bytes and ETag (None where unknown)."""

    key: str
    size: int
    etag: str | None


class TransferError(HippoError):
    """The object store failed in a way retries did not cure (server gone, disk full...)."""


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

    def put(self, key, data, md5=None):
        """Store ``data`` (bytes, hex MD5 ``md5`` if known) under ``key`` in one request;
        return its :class:`ObjectInfo`."""
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
        return TransferError(f"{self.url}: {what} failed: {self._explain(exc)}")


class LocalBackend(Backend):
    """A plain directory; objects are files, written atomically. ETags are not kept (None)."""

    def __init__(self, root, **kwargs):
        super().__init__(**kwargs)
        self.root = Path(root)
        self.url = str(self.root)

    def _path(self, key):
        return self.root / key

    def list(self, prefix=""):
        base = self._path(prefix) if prefix.endswith("/") else self._path(prefix).parent
        if not base.is_dir():
            return
        for directory, _, files in os.walk(base):
            for name in files:
                path = Path(directory) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and ".part" not in name:
                    yield ObjectInfo(key, path.stat().st_size, None)

    def put(self, key, data, md5=None):
        self.throttle.consume(len(data))

        def write():
            with atomic_path(self._path(key)) as tmp:
                tmp.write_bytes(data)
        self.call(f"put {key}", write)
        return ObjectInfo(key, len(data), None)

    def put_file(self, key, path, on_bytes=None):
        def copy():
            sha256 = hashlib.sha256()
            with atomic_path(self._path(key)) as tmp, open(path, "rb") as source, open(tmp, "wb") as sink:
                while chunk := source.read(PART_SIZE):
                    self.throttle.consume(len(chunk))
                    sha256.update(chunk)
                    sink.write(chunk)
                    if on_bytes:
                        on_bytes(len(chunk))
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

    def remove(self, key):
        self._path(key).unlink(missing_ok=True)

    def _transient(self, exc):
        return False  # a local disk error does not cure itself


class S3Backend(Backend):
    """An S3 bucket and prefix through boto3 (endpoint and credentials found the AWS way)."""

    def __init__(self, bucket, prefix="", endpoint_url=None, workers=8, create_bucket=False, **kwargs):
        super().__init__(**kwargs)
        import boto3
        import botocore.config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        config = botocore.config.Config(
            max_pool_connections=max(10, workers * 2), connect_timeout=5, read_timeout=60,
            retries={"max_attempts": 1},  # our own back-off covers retries, so errors stay one line
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL"), config=config)
        self._check_bucket(create_bucket)

    def _check_bucket(self, create):
        from botocore.exceptions import ClientError
        try:
            self.call("open bucket", self.client.head_bucket, Bucket=self.bucket)
        except TransferError as exc:
            # Credentials are judged here, on the first request: a 403 later in a run (a body cut
            # off by a dying connection fails its signature) is a transfer failure, not bad keys.
            if "403" in str(exc) or "SignatureDoesNotMatch" in str(exc) or "InvalidAccessKeyId" in str(exc):
                raise InputError(self.url, "access refused: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                                 f"({str(exc).split(' failed: ')[-1]})") from None
            cause = exc.__context__
            missing = isinstance(cause, ClientError) and _error_code(cause) in ("404", "NoSuchBucket")
            if not missing:
                raise
            if not create:
                raise InputError(self.url, "no such bucket") from None
            self.call("create bucket", self.client.create_bucket, Bucket=self.bucket)

    def _fatal(self, what, exc):
        error = TransferError(f"{self.url}: {what} failed: {self._explain(exc)}")
        error.__context__ = exc
        return error

    def _transient(self, exc):
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
        if isinstance(exc, (ConnectionError, HTTPClientError, OSError)):
            return True
        if isinstance(exc, ClientError):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return status >= 500 or _error_code(exc) in ("SlowDown", "RequestTimeout", "Throttling")
        return False

    def _explain(self, exc):
        from botocore.exceptions import ClientError
        if isinstance(exc, ClientError):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            return f"{_error_code(exc)} (HTTP {status})"
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    def list(self, prefix=""):
        paginator = self.client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix))
        while True:
            page = self.call(f"list {prefix}", next, pages, None)
            if page is None:
                return
            for item in page.get("Contents", ()):
                yield ObjectInfo(item["Key"][len(self.prefix):], item["Size"], item["ETag"].strip('"'))

    def put(self, key, data, md5=None):
        import base64
        self.throttle.consume(len(data))
        md5 = md5 or hashlib.md5(data).hexdigest()
        response = self.call(f"put {key}", self.client.put_object, Bucket=self.bucket, Key=self.prefix + key,
                             Body=data, ContentMD5=base64.b64encode(bytes.fromhex(md5)).decode())
        etag = response["ETag"].strip('"')
        if etag != md5:
            raise TransferError(f"{self.url}: put {key}: server ETag {etag} is not the MD5 of what was sent")
        return ObjectInfo(key, len(data), etag)

    def put_file(self, key, path, on_bytes=None):
        import base64
        size = os.path.getsize(path)
        if size <= SINGLE_PUT_LIMIT:
            # One streamed request, as rclone does below its cutoff, hashed as it is read; the ETag
            # the server returns must be the MD5 of what was read, or the object is not counted.
            def send():
                with open(path, "rb") as source:
                    body = _HashingReader(source, self.throttle)
                    etag = self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body,
                                                  ContentLength=size)["ETag"].strip('"')
                return etag, body
            etag, body = self.call(f"put {key}", send)
            if etag != body.md5.hexdigest() or body.count != size:
                raise TransferError(f"{self.url}: put {key}: the server stored something else than was sent "
                                    "(file changed during upload?)")
            if on_bytes:
                on_bytes(size)
            return ObjectInfo(key, size, etag), body.sha256.hexdigest()
        full_key = self.prefix + key
        upload_id = self.call(f"start upload {key}", self.client.create_multipart_upload,
                              Bucket=self.bucket, Key=full_key)["UploadId"]

        def send_part(number, chunk, digest):
            self.throttle.consume(len(chunk))
            response = self.call(f"put {key} part {number}", self.client.upload_part, Bucket=self.bucket,
                                 Key=full_key, UploadId=upload_id, PartNumber=number, Body=chunk,
                                 ContentMD5=base64.b64encode(digest).decode())
            if on_bytes:
                on_bytes(len(chunk))
            return {"PartNumber": number, "ETag": response["ETag"]}

        sha256, digests, futures = hashlib.sha256(), [], []
        slots = threading.BoundedSemaphore(PARTS_IN_FLIGHT)  # bounds the parts held in memory
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=PARTS_IN_FLIGHT) as pool, \
                    open(path, "rb") as source:
                while chunk := source.read(PART_SIZE):
                    sha256.update(chunk)
                    digests.append(hashlib.md5(chunk).digest())
                    slots.acquire()
                    future = pool.submit(send_part, len(digests), chunk, digests[-1])
                    future.add_done_callback(lambda _: slots.release())
                    futures.append(future)
                parts = [f.result() for f in futures]
            self.call(f"complete {key}", self.client.complete_multipart_upload, Bucket=self.bucket,
                      Key=full_key, UploadId=upload_id, MultipartUpload={"Parts": parts})
        except BaseException:
            # An unfinished upload leaves no object behind, so nothing partial is ever counted.
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
            except Exception:
                pass
            raise
        return ObjectInfo(key, size, multipart_etag(digests)), sha256.hexdigest()

    def get(self, key):
        def read():
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        return self.call(f"get {key}", read)

    def get_file(self, key, path):
        self.call(f"get {key}", self.client.download_file, self.bucket, self.prefix + key, str(path))

    def stat(self, key):
        from botocore.exceptions import ClientError
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fatal(f"stat {key}", exc) from None
        return ObjectInfo(key, head["ContentLength"], head["ETag"].strip('"'))

    def remove(self, key):
        self.call(f"remove {key}", self.client.delete_object, Bucket=self.bucket, Key=self.prefix + key)


class _HashingReader:
    """A file wrapper that hashes (SHA-256 and MD5) and throttles the bytes as boto3 reads them."""

    def __init__(self, source, throttle):
        self.source, self.throttle = source, throttle
        self.sha256, self.md5, self.count = hashlib.sha256(), hashlib.md5(), 0

    def seek(self, offset, whence=0):
        # botocore rewinds the body before sending (and on its own retries): hash from the start.
        position = self.source.seek(offset, whence)
        if position == 0:
            self.sha256, self.md5, self.count = hashlib.sha256(), hashlib.md5(), 0
        return position

    def tell(self):
        return self.source.tell()

    def read(self, size=-1):
        chunk = self.source.read(size)
        self.throttle.consume(len(chunk))
        self.sha256.update(chunk)
        self.md5.update(chunk)
        self.count += len(chunk)
        return chunk


def _error_code(exc):
    return str(exc.response.get("Error", {}).get("Code", ""))


def open_backend(destination, endpoint_url=None, workers=8, retries=4, bwlimit=None, create=False):
    """The backend for ``destination``: ``s3://bucket/prefix`` or a local directory path.

    Parameters
    ----------
    destination : str or path
    endpoint_url : str, optional
        S3 endpoint (default ``AWS_ENDPOINT_URL``, else AWS itself).
    bwlimit : float, optional
        Upload limit in bytes per second shared by all workers.
    create : bool
        Create the bucket or directory when missing (backup does; verify and restore do not).
    """
    destination = str(destination)
    throttle = Throttle(bwlimit)
    if destination.startswith("s3://"):
        bucket, _, prefix = destination[5:].partition("/")
        if not bucket:
            raise InputError(destination, "no bucket name (expected s3://bucket/prefix)")
        return S3Backend(bucket, prefix, endpoint_url=endpoint_url, workers=workers, create_bucket=create,
                         retries=retries, throttle=throttle)
    root = Path(destination)
    if not root.is_dir():
        if not create:
            raise InputError(destination, "no such backup directory")
        root.mkdir(parents=True, exist_ok=True)
    return LocalBackend(root, retries=retries, throttle=throttle)
