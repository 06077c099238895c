"""Shared test fixtures: the real survey data in ../shared/data, the CLI, remote-data gating."""

import os
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
def hippo_cli():
    """Call ``hippo_cli("cutout", "--ra", ...)`` to run the command line as a user would."""
    return run_hippo
