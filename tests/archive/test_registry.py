"""The survey registry: names, aliases and paths to Survey objects; configured local surveys; the list."""

import os

import pytest

import hippo
from hippo.archive import LocalImageSurvey, RemoteSurvey, TileDirectorySurvey, get_survey, surveys
from hippo.errors import InputError, UsageError


def test_names_aliases_and_service_prefixes():
    assert get_survey("nvss").name == "NVSS"
    assert get_survey("WISE").name == "WISE-W1" and get_survey("2mass").name == "2MASS-K"
    custom = get_survey("skyview:GALEX Near UV")
    assert isinstance(custom, RemoteSurvey) and custom.service == "skyview" and custom.name == "GALEX_Near_UV"
    hips = get_survey("hips:CDS/P/DES-DR2/g")
    assert hips.service == "hips2fits" and hips.service_id == "CDS/P/DES-DR2/g"
    with pytest.raises(UsageError, match="hippo surveys"):
        get_survey("NOPE")
    with pytest.raises(InputError, match="no such file"):
        get_survey("missing/mosaic.fits")


def test_configured_local_surveys_by_name(shared_data, monkeypatch, tmp_path):
    mosaic = shared_data / "lotss_dr1" / "P205+55-mosaic.fits"
    monkeypatch.setenv("HIPPO_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("HIPPO_SURVEYS", os.pathsep.join([f"LOTSS={mosaic}", f"BROKEN={tmp_path / 'gone.fits'}",
                                                         f"NEARBY={shared_data / 'first_wise'}"]))
    survey = get_survey("LOTSS")
    assert isinstance(survey, LocalImageSurvey) and survey.name == "LOTSS" and survey.is_radio
    assert isinstance(get_survey("NEARBY"), TileDirectorySurvey)
    table = surveys()
    rows = {row["name"]: row for row in table}
    assert rows["LOTSS"]["kind"] == "local" and rows["LOTSS"]["pixel_scale_arcsec"] == pytest.approx(1.5)
    assert "unusable" in rows["BROKEN"]["coverage"]
    assert rows["FIRST"]["kind"] == "remote (skyview)"
    assert hippo.surveys is surveys


@pytest.mark.parametrize("content, problem", [('{"LOTSS": ', "not valid JSON"), ('["LOTSS"]', "a JSON list")])
def test_a_broken_surveys_json_fails_only_commands_that_use_a_configured_name(shared_data, hippo_cli, monkeypatch,
                                                                              tmp_path, content, problem):
    config = tmp_path / "config"
    config.mkdir()
    (config / "surveys.json").write_text(content)
    monkeypatch.setenv("HIPPO_CONFIG_DIR", str(config))
    mosaic = shared_data / "lotss_dr1" / "P205+55-mosaic.fits"
    position = ("--ra", "205.05", "--dec", "54.9", "--size", "20arcsec")
    by_path = hippo_cli("cutout", *position, "--survey", mosaic, "-o", tmp_path / "a", "--quiet")
    assert by_path.returncode == 0, by_path.stderr
    assert (tmp_path / "a" / "J134012.00+545400.0" / "P205+55-mosaic.fits").is_file()
    by_name = hippo_cli("cutout", *position, "--survey", "LOTSS", "-o", tmp_path / "b", "--quiet")
    assert by_name.returncode == 2 and len(by_name.stderr.strip().splitlines()) == 1
    assert str(config / "surveys.json") in by_name.stderr and problem in by_name.stderr


def test_surveys_takes_one_local_path_as_one_survey(shared_data):
    table = surveys(local=str(shared_data / "lotss_dr1" / "P205+55-mosaic.fits"))
    assert list(table["name"][table["kind"] == "local"]) == ["P205+55-mosaic"]


def test_surveys_writes_its_table_with_provenance(tmp_path):
    from astropy.table import Table

    table = surveys(output=tmp_path / "surveys.ecsv")
    written = Table.read(tmp_path / "surveys.ecsv")
    assert list(written["name"]) == list(table["name"]) and written.meta["HIPPOCMD"] == "surveys"
