"""A real single-node Slurm (munged, slurmctld, slurmd on 127.0.0.1) for the batch tests.

Everything lives in a temporary directory: its own munge key and socket, slurm.conf with state and
spool there, free ports, cgroups and accounting off. ``SLURM_CONF`` points the daemons and the
client commands (sbatch, squeue, sinfo, scancel) at it, so the machine's /etc/slurm is untouched.
Tests that need it skip, with the reason, where it cannot start (not root, binaries missing).
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from astropy.io import fits
from astropy.table import Table

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _find(name):
    return shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name)
                                       if p.exists()), None)


class SlurmCluster:
    """munged + slurmctld + slurmd on one node; ``env`` holds ``SLURM_CONF`` for the clients."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.conf = self.directory / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}
        self.pids = []

    def write_config(self):
        host = socket.gethostname().split(".")[0]
        munge_socket = self.directory / "munge" / "munge.socket"
        for sub in ("state", "spool", "munge"):
            (self.directory / sub).mkdir(mode=0o700, exist_ok=True)
        self.munge_socket = munge_socket
        self.conf.write_text("\n".join([
            "ClusterName=hippotest",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={munge_socket}",
            f"StateSaveLocation={self.directory / 'state'}",
            f"SlurmdSpoolDir={self.directory / 'spool'}",
            f"SlurmctldPidFile={self.directory / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.directory / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.directory / 'slurmctld.log'}",
            f"SlurmdLogFile={self.directory / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "ReturnToService=2",
            "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "KillWait=5",
            f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory=4000 State=UNKNOWN",
            f"PartitionName=Main Nodes={host} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))

    def start(self):
        missing = [name for name in DAEMONS + CLIENTS if _find(name) is None]
        if missing:
            pytest.skip(f"Slurm/munge not installed ({', '.join(missing)} missing; Debian: slurmctld slurmd "
                        "slurm-client munge)")
        if os.geteuid() != 0:
            pytest.skip("starting slurmctld/slurmd needs root")
        self.write_config()
        key = self.directory / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        env = {**os.environ, **self.env}
        munge = self.directory / "munge"
        self._daemon([_find("munged"), "--force", f"--socket={self.munge_socket}", f"--key-file={key}",
                      f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
                      f"--seed-file={munge / 'munged.seed'}"], munge / "munged.pid", env)
        self._daemon([_find("slurmctld"), "-i"], self.directory / "slurmctld.pid", env)
        self._daemon([_find("slurmd")], self.directory / "slurmd.pid", env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            result = subprocess.run(["sinfo", "-h", "-o", "%P %t"], env=env, capture_output=True, text=True)
            if result.returncode == 0 and "idle" in result.stdout:
                return
            time.sleep(0.5)
        logs = "; ".join(f"{p.name}: {p.read_text()[-300:]}" for p in self.directory.glob("*.log"))
        self.stop()
        pytest.skip(f"single-node Slurm did not become idle within 60 s ({logs})")

    def _daemon(self, argv, pid_file, env):
        # The daemons fork into the background; their pid files say whom to stop.
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            self.stop()
            pytest.skip(f"{Path(argv[0]).name} did not start: {(result.stderr or result.stdout).strip()[:300]}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            # A daemon creates its pid file before it writes the pid: wait for the number.
            pid = pid_file.read_text().split() if pid_file.exists() else []
            if pid:
                self.pids.append(int(pid[0]))
                return
            time.sleep(0.1)

    def stop(self):
        subprocess.run(["scancel", "--full", "-u", "root"], env={**os.environ, **self.env}, capture_output=True)
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):  # it may exit between the last look and now
                    os.kill(pid, signal.SIGKILL)
        self.pids = []


@pytest.fixture(scope="session")
def slurm():
    """A running single-node Slurm; the test process's environment points at it (SLURM_CONF)."""
    directory = tempfile.mkdtemp(prefix="hippo-slurm-")
    cluster = SlurmCluster(directory)
    cluster.start()
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        cluster.stop()
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def shipped_model():
    """The model ``hippo classify`` uses by default; classify tests skip until one is shipped."""
    from hippo.errors import HippoError
    from hippo.morphology.classifier import default_model_dir

    try:
        return default_model_dir()
    except HippoError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def field(shared_data, tmp_path, hippo_cli):
    """A local survey of six real FIRST images, twelve positions on them, and their local cutouts.

    ``local_index`` is the index of ``hippo cutout`` run once locally into ``local/``: what every
    batch run of the same catalogue must reproduce.
    """
    survey = tmp_path / "first"
    survey.mkdir()
    images = sorted((shared_data / "first_mirabest").glob("*.fits.fz"))[1:7]
    rows = []
    for number, image in enumerate(images):
        (survey / image.name).symlink_to(image)
        header = fits.getheader(image, 1)
        ra, dec = header["CRVAL1"], header["CRVAL2"]
        rows += [(f"src{number}", ra, dec), (f"src{number}b", ra + 0.01, dec - 0.01)]
    catalogue = tmp_path / "positions.csv"
    Table(rows=rows, names=("name", "ra", "dec")).write(catalogue)
    result = hippo_cli("cutout", "--catalogue", catalogue, "--survey", survey, "--size", "2arcmin", "-o", "local",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return {"survey": survey, "catalogue": catalogue, "dir": tmp_path,
            "local_index": Table.read(tmp_path / "local" / "cutouts.csv")}


@pytest.fixture
def same_cutouts():
    """``same_cutouts(field, batch_dir)`` checks a batch's cutouts against the field's local run."""
    return _assert_same_cutouts


def _assert_same_cutouts(field, batch_dir):
    """Same rows, same files, same pixels and same WCS as the local run."""
    import numpy as np

    directory, local_index = field["dir"], field["local_index"]
    batch_index = Table.read(directory / batch_dir / "cutouts.csv")
    assert list(batch_index["name"]) == list(local_index["name"])
    assert list(batch_index["status"]) == list(local_index["status"])
    assert [p.replace(batch_dir, "local", 1) for p in batch_index["path"]] == list(local_index["path"])
    for local_path, batch_path in zip(local_index["path"], batch_index["path"]):
        with fits.open(directory / local_path) as a, fits.open(directory / batch_path) as b:
            assert np.array_equal(a[0].data, b[0].data, equal_nan=True)
            for key in ("CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "NAXIS1", "NAXIS2"):
                assert a[0].header[key] == b[0].header[key]
