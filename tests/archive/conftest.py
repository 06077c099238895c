"""Fixtures for survey tests: a private cache directory and the local fake survey services."""

import pytest
from fake_services import FakeSurveyServer


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own HIPPO_CACHE_DIR, never the user's."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("HIPPO_CACHE_DIR", str(cache))
    monkeypatch.delenv("HIPPO_OFFLINE", raising=False)
    return cache


@pytest.fixture
def fake_services(monkeypatch):
    """SkyView and hips2fits played on 127.0.0.1; HIPPO pointed at them through its URL variables."""
    server = FakeSurveyServer()
    monkeypatch.setenv("HIPPO_SKYVIEW_URL", server.skyview_url)
    monkeypatch.setenv("HIPPO_HIPS2FITS_URL", server.hips2fits_url)
    yield server
    server.close()
