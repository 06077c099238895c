"""Shared test fixtures: the real survey data in ../shared/data, the CLI, remote-data gating."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("HIPPO_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def pytest_addoption(parser):
    parser.addoption("--remote-data", action="store_true", default=False,
                     help="also run tests that call real remote survey services")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--remote-data"):
        return
    skip = pytest.mark.skip(reason="calls a real remote service; run with --remote-data")
    for item in items:
        if "remote_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data():
    """Path of ../shared/data; tests that need it skip where it is absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real survey data not found at {SHARED_DATA} (set HIPPO_SHARED_DATA)")
    return SHARED_DATA


def run_hippo(*args, cwd=None, env=None, timeout=600, input=None):
    """Run the real ``hippo`` command in a subprocess; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "hippo", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, input=input)


@pytest.fixture
def hippo_as_user(tmp_path):
    """``hippo_as_user("backup", ...)``: the command line run so that file and folder modes bind it.
    Root gives up its power to read and write anything (setpriv); skips where that cannot be done."""
    if os.geteuid() != 0:
        return run_hippo
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes cannot be made to apply")
    without_override = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        if subprocess.run([*without_override, "cat", probe], capture_output=True).returncode == 0:
            pytest.skip("setpriv could not take root's power to read any file")
    finally:
        probe.unlink()

    def run(*args, cwd=None):
        return subprocess.run([*without_override, sys.executable, "-m", "hippo", *map(str, args)], cwd=cwd,
                              capture_output=True, text=True, timeout=600)
    return run


@pytest.fixture
def hippo_cli():
    """Call ``hippo_cli("cutout", "--ra", ...)`` to run the command line as a user would."""
    return run_hippo
