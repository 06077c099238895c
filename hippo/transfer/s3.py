"""A lean S3 client on http.client with AWS Signature V4: the few calls backup needs, no boto3 start-up.

boto3/botocore take about 0.3 s to import and a few milliseconds of Python per request; for a
backup of thousands of small files both dominate. This client signs requests itself (payloads
are sent ``UNSIGNED-PAYLOAD`` and checked by Content-MD5 or the returned ETag instead), keeps
one persistent connection per thread, and finds endpoint, region and credentials the way the
AWS tools do (environment, then the shared credentials and config files, then botocore's own
resolver for SSO, instance roles and the rest, imported only in that case).
"""

import configparser
import datetime
import hashlib
import hmac
import http.client
import os
import re
import threading
import urllib.parse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CODE = re.compile(rb"<Code>([^<]*)</Code>")


class S3Error(Exception):
    """A request the server answered with an error status."""

    def __init__(self, status, code, message=""):
        self.status, self.code = status, code or http.client.responses.get(status, "")
        super().__init__(f"{self.code} (HTTP {status}){': ' + message if message else ''}")


class Credentials:
    """Access key, secret key and optional session token."""

    def __init__(self, access_key, secret_key, token=None):
        self.access_key, self.secret_key, self.token = access_key, secret_key, token


def _aws_files():
    """The shared credentials and config files as parsers, and the profile in use."""
    profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    parsed = []
    for variable, default, section in (("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", profile),
                                       ("AWS_CONFIG_FILE", "~/.aws/config",
                                        profile if profile == "default" else f"profile {profile}")):
        parser = configparser.RawConfigParser()
        try:
            parser.read(os.path.expanduser(os.environ.get(variable, default)))
        except configparser.Error:
            continue
        if parser.has_section(section):
            parsed.append(dict(parser.items(section)))
    return parsed


def find_credentials():
    """Credentials the AWS way: environment, shared files, then botocore's full chain (or None)."""
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                           os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN"))
    for section in _aws_files():
        if section.get("aws_access_key_id") and section.get("aws_secret_access_key"):
            return Credentials(section["aws_access_key_id"], section["aws_secret_access_key"],
                               section.get("aws_session_token"))
    import botocore.session  # only for the rarer sources: SSO, assumed roles, instance metadata
    found = botocore.session.Session().get_credentials()
    if found is None:
        return None
    frozen = found.get_frozen_credentials()
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


def find_region():
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    for section in _aws_files():
        if section.get("region"):
            return section["region"]
    return "us-east-1"


class S3Client:
    """Signed requests to one bucket; path-style URLs on a custom endpoint, virtual-hosted on AWS.

    Each thread keeps its own persistent connection; a connection that failed is dropped, and
    the caller's retry opens a new one.
    """

    def __init__(self, bucket, endpoint_url=None, credentials=None, region=None, timeout=60):
        self.bucket = bucket
        self.region = region or find_region()
        self.credentials = credentials
        endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint_url:
            parts = urllib.parse.urlsplit(endpoint_url)
            self.secure, self.host = parts.scheme == "https", parts.netloc
            self.base_path = parts.path.rstrip("/") + "/" + urllib.parse.quote(bucket)
        else:
            self.secure, self.host = True, f"{bucket}.s3.{self.region}.amazonaws.com"
            self.base_path = ""
        self.timeout = timeout
        self._local = threading.local()
        self._keys = {}
        self._tls_context, self._tls_lock = None, threading.Lock()

    # -- connections ------------------------------------------------------------------------------
    def _connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self.secure:
                connection = http.client.HTTPSConnection(self.host, timeout=self.timeout, context=self._tls())
            else:
                connection = http.client.HTTPConnection(self.host, timeout=self.timeout)
            self._local.connection = connection
        return connection

    def _tls(self):
        """One TLS context for every connection (loading the CA bundle takes milliseconds)."""
        with self._tls_lock:
            if self._tls_context is None:
                import ssl
                self._tls_context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
            return self._tls_context

    def _drop_connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # -- signing ------------------------------------------------------------------------------------
    def _signing_key(self, day):
        key = self._keys.get(day)
        if key is None:
            key = ("AWS4" + self.credentials.secret_key).encode()
            for part in (day, self.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {day: key}
        return key

    def _sign(self, method, path, query, headers, payload_hash, now=None):
        """Add the SigV4 ``authorization`` (and ``host``, ``x-amz-*``) entries to ``headers``
        (lower-case names); ``now`` is for checking against AWS's published examples."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        headers.update({"host": self.host, "x-amz-date": stamp, "x-amz-content-sha256": payload_hash})
        if self.credentials.token:
            headers["x-amz-security-token"] = self.credentials.token
        names = sorted(headers)
        canonical = "\n".join([
            method, path,
            "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items())),
            "".join(f"{name}:{str(headers[name]).strip()}\n" for name in names),
            ";".join(names), payload_hash])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.credentials.access_key}/{scope}, "
                                    f"SignedHeaders={';'.join(names)}, Signature={signature}")

    # -- requests -----------------------------------------------------------------------------------
    def request(self, method, key="", query=None, headers=None, body=b"", length=None, sink=None,
                payload="UNSIGNED-PAYLOAD"):
        """Send one signed request; return ``(status, response headers, body bytes)``.

        ``body`` is bytes or an iterable of byte chunks of total ``length``. With ``sink`` (a
        binary file) a successful response body is streamed into it instead of returned.
        ``payload`` is what the signature says of a non-empty body (x-amz-content-sha256).
        Raises :class:`S3Error` for an error status and OSError/HTTPException when the
        connection fails (the connection is then dropped).
        """
        if self.credentials is None:
            raise S3Error(403, "NoCredentials", "no AWS credentials found")
        query = query or {}
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        path = self.base_path + "/" + urllib.parse.quote(key, safe="/-_.~") if key else (self.base_path or "/")
        empty = isinstance(body, (bytes, bytearray, memoryview)) and not body
        self._sign(method, path, query, headers, EMPTY_SHA256 if empty else payload)
        headers["content-length"] = str(len(body) if length is None else length)
        url = path + ("?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote) if query else "")
        connection = self._connection()
        try:
            connection.request(method, url, body=None if empty else body, headers=headers)
            response = connection.getresponse()
            if sink is not None and response.status < 300:
                while chunk := response.read(1 << 20):
                    sink.write(chunk)
                data = b""
            else:
                data = response.read()
        except BaseException:
            self._drop_connection()
            raise
        if response.will_close:
            self._drop_connection()
        if response.status >= 300:
            match = _CODE.search(data)
            raise S3Error(response.status, match.group(1).decode() if match else "")
        return response.status, response.headers, data


def aws_chunked(chunks, checksums, trailer):
    """``chunks`` framed as an ``aws-chunked`` body whose last line is the trailer header ``trailer``
    with the base64 value ``checksums()`` returns once every chunk has been read."""
    for chunk in chunks:
        yield b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    yield f"0\r\n{trailer}:{checksums()}\r\n\r\n".encode()


def aws_chunked_length(size, chunk_size, trailer, checksum_length):
    """Bytes on the wire of :func:`aws_chunked` for ``size`` bytes in chunks of ``chunk_size``."""
    full, last = divmod(size, chunk_size)
    framing = full * (len(f"{chunk_size:x}") + 4) + (len(f"{last:x}") + 4 if last else 0)
    return size + framing + len(f"0\r\n{trailer}:\r\n\r\n") + checksum_length


def _quote(text):
    return urllib.parse.quote(str(text), safe="-_.~")


def list_keys(xml):
    """``(key, size, etag)`` of each ``<Contents>`` in a ListObjectsV2 answer, and the next token."""
    import xml.etree.ElementTree as ElementTree
    root = ElementTree.fromstring(xml)
    namespace = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    items = [(item.findtext(f"{namespace}Key"), int(item.findtext(f"{namespace}Size")),
              (item.findtext(f"{namespace}ETag") or "").strip('"') or None)
             for item in root.iter(f"{namespace}Contents")]
    truncated = root.findtext(f"{namespace}IsTruncated") == "true"
    return items, root.findtext(f"{namespace}NextContinuationToken") if truncated else None
