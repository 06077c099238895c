"""What users hand ``xmatch`` (negative RA, RA in hours, null ids, odd option values) and what every output carries."""

import logging

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable import parse
from astropy.table import MaskedColumn, Table

from hippo.crossmatch import xmatch
from hippo.crossmatch.simulate import simulate_field
from hippo.errors import InputError
from hippo.io import read_table, write_table

OPTICAL = Table({"name": ["west", "east"], "ra": [355.0, 20.0], "dec": [10.0, 10.0]})


def test_negative_ra_is_wrapped_into_0_to_360(caplog):
    lone = xmatch(Table({"name": ["neg"], "ra": [-5.0], "dec": [10.0]}), OPTICAL)
    assert list(lone["optical_id"]) == ["west"] and lone["radio_ra"][0] == pytest.approx(355.0)
    mixed = Table({"name": ["neg", "pos", "off_sky"], "ra": [-5.0, 20.0, -400.0], "dec": [10.0, 10.0, 10.0]})
    with caplog.at_level(logging.WARNING, logger="hippo.crossmatch"):
        pairs = xmatch(mixed, OPTICAL)
    assert list(pairs["radio_id"]) == ["neg", "pos"]
    assert caplog.messages == ["error: table row 3: RA outside 0..360 deg"]  # only RA -400 is off the sky
    assert pairs.meta["radio_rows_left_out"] == 1


def test_rows_left_out_are_each_named_with_their_reason_and_the_exit_status_is_3(tmp_path, hippo_cli):
    OPTICAL.write(tmp_path / "optical.csv")
    (tmp_path / "radio.csv").write_text("name,ra,dec\nwest,23:40:00,+10:00:00\nt2,15:12:2x.2,+45:40:26\n"
                                        "t3,15:72:27.2,+45:40:26\nt4,15:12:27.2,+45:40:96\n")
    result = hippo_cli("xmatch", tmp_path / "radio.csv", tmp_path / "optical.csv", "-o", tmp_path / "pairs.csv")
    assert result.returncode == 3
    radio = tmp_path / "radio.csv"
    assert result.stderr.splitlines() == [
        f"error: {radio} row 2: RA '15:12:2x.2' is not a number or a sexagesimal angle",
        f"error: {radio} row 3: RA '15:72:27.2' is not a valid sexagesimal angle (minutes >= 60)",
        f"error: {radio} row 4: Dec '+45:40:96' is not a valid sexagesimal angle (seconds >= 60)",
        f"1 pairs written to {tmp_path / 'pairs.csv'}"]
    assert list(read_table(tmp_path / "pairs.csv")["radio_id"]) == ["west"]


def test_many_rows_left_out_are_named_up_to_20_then_counted(tmp_path, hippo_cli):
    OPTICAL.write(tmp_path / "optical.csv")
    Table({"name": ["west"] + [f"r{i}" for i in range(25)], "ra": [355.0] + [400.0] * 25,
           "dec": [10.0] * 26}).write(tmp_path / "radio.csv")
    result = hippo_cli("xmatch", tmp_path / "radio.csv", tmp_path / "optical.csv", "-q")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 3 and len(errors) == 21 and result.stdout.count("\n") == 2
    assert errors[0] == f"error: {tmp_path / 'radio.csv'} row 2: RA outside 0..360 deg"
    assert errors[-1] == f"error: {tmp_path / 'radio.csv'}: and 5 more rows without a usable position"


@pytest.mark.parametrize("content, reason", [
    ("", "empty table (the file is empty)"), ("name,ra,dec\n", "empty table (no rows)"),
    ("name;ra;dec\nw;355;10\n", "only one column found: the table seems to use ';' as delimiter"),
    ('name,ra,dec\n"w,355,10\n', "unterminated quote on line 2"),
    ("name,ra,dec\nw,400,10\n", "no row has a usable position (row 1: RA outside 0..360 deg, ...)"),
])
def test_a_catalogue_without_usable_rows_is_one_line_saying_why(tmp_path, hippo_cli, content, reason):
    OPTICAL.write(tmp_path / "optical.csv")
    (tmp_path / "radio.csv").write_text(content)
    result = hippo_cli("xmatch", tmp_path / "radio.csv", tmp_path / "optical.csv")
    assert result.returncode == 2 and result.stderr.startswith(f"error: {tmp_path / 'radio.csv'}: {reason}")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("option, message", [
    (("--radius", "200deg"), "--radius 200deg: at most 10 deg (plain numbers are arcsec)"),
    (("--radius", "1e30"), "--radius 1e30: at most 10 deg"),
    (("--method", "lr", "--radio-err", "0arcsec"), "--radio-err: must be a positive finite angle, got '0arcsec'"),
])
def test_angles_out_of_bounds_are_usage_errors(tmp_path, hippo_cli, option, message):
    OPTICAL.write(tmp_path / "optical.csv")
    OPTICAL.write(tmp_path / "radio.csv")
    result = hippo_cli("xmatch", tmp_path / "radio.csv", tmp_path / "optical.csv", *option, "-o", tmp_path / "p.csv")
    assert result.returncode == 2 and result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1
    assert not (tmp_path / "p.csv").exists()


def test_a_masked_id_is_named_by_its_position_not_its_hidden_value():
    radio = Table({"id": MaskedColumn([5, 6], mask=[False, True]), "ra": [355.0, 20.0], "dec": [10.0, 10.0]})
    assert list(xmatch(radio, OPTICAL)["radio_id"]) == ["5", "J012000.00+100000.0"]
    radio["id"] = MaskedColumn(["p", "q"], mask=[False, True])
    assert list(xmatch(radio, OPTICAL)["radio_id"]) == ["p", "J012000.00+100000.0"]


@pytest.mark.parametrize("option,value", [("--lr-threshold", "nan"), ("--lr-threshold", "inf"),
                                          ("--lr-threshold", "-inf"), ("--astrometric-floor", "nan"),
                                          ("--astrometric-floor", "inf")])
def test_non_finite_lr_options_are_usage_errors(tmp_path, hippo_cli, option, value):
    OPTICAL.write(tmp_path / "optical.csv")
    OPTICAL.write(tmp_path / "radio.csv")
    result = hippo_cli("xmatch", tmp_path / "radio.csv", tmp_path / "optical.csv", "--method", "lr", f"{option}={value}")
    assert result.returncode == 2 and result.stderr.startswith(f"error: {option}") and result.stderr.count("\n") == 1


@pytest.mark.parametrize("name", ["pairs.fits", "pairs.fit", "pairs.fits.gz", "pairs.fit.gz"])
def test_every_fits_flavour_carries_provenance(tmp_path, name):
    xmatch(Table({"name": ["r1"], "ra": [355.0], "dec": [10.0]}), OPTICAL, output=tmp_path / name)
    header = fits.getheader(tmp_path / name, 1)
    assert header["EXTNAME"] == "XMATCH" and header["HIPPOCMD"] == "xmatch" and header["HIPPOVER"]
    assert "HIPPODAT" in header and any("method=nn" in str(h) for h in header["HISTORY"])
    pairs = Table.read(tmp_path / name)
    assert list(pairs["optical_id"]) == ["west"] and np.isnan(np.ma.filled(pairs["lr"], np.nan)[0])


# astropy writes only units it parses into ECSV and VOTable; FITS TUNIT can hold anything
@pytest.mark.parametrize("unit,where", [(unit, where) for unit in ("h", "hr", "hour", "hours")
                                        for where in ("fits", "ecsv", "vot", "table")] + [("HOURS", "fits")])
def test_ra_in_hours_is_converted_not_read_as_degrees(tmp_path, where, unit):
    # 10 h of RA is 150 deg, where the optical source is; read as degrees it matched nothing
    radio = Table({"id": [1], "ra": [10.0], "dec": [2.0]})
    optical = Table({"id": [7], "ra": [150.0], "dec": [2.0]})
    if where == "fits":  # TUNIT as the file has it, whether astropy parses it or not
        radio.write(tmp_path / "radio.fits")
        fits.setval(tmp_path / "radio.fits", "TUNIT2", ext=1, value=unit)
        radio = tmp_path / "radio.fits"
    else:
        radio["ra"].unit = unit
        if where != "table":
            write_table(radio, tmp_path / f"radio.{where}")
            radio = tmp_path / f"radio.{where}"
    pairs = xmatch(radio, optical)
    assert list(pairs["optical_id"]) == [7] and pairs["radio_ra"][0] == pytest.approx(150.0)


def test_a_position_unit_that_is_not_an_angle_is_an_error_naming_the_column():
    radio = Table({"id": [1], "ra": [150.0], "DEJ2000": [2.0]})
    radio["DEJ2000"].unit = "h"
    with pytest.raises(InputError, match="table: Dec column 'DEJ2000' has unit 'h', which is not an angle"):
        xmatch(radio, OPTICAL)
    radio["DEJ2000"].unit, radio["ra"].unit = "deg", "mJy"
    with pytest.raises(InputError, match="RA column 'ra' has unit 'mJy'"):
        xmatch(radio, OPTICAL)


@pytest.mark.parametrize("suffix", [".ecsv", ".vot", ".fits"])
def test_every_output_format_says_which_catalogues_and_columns_made_it(tmp_path, suffix):
    folder = tmp_path / "a_folder_name_long_enough_that_the_path_does_not_fit_on_one_header_card"
    folder.mkdir()
    radio, optical = simulate_field(n_radio=300, area_deg2=0.3, seed=3)
    radio.write(folder / "radio.fits")
    optical.rename_column("mag", "rmag")
    optical.write(folder / "optical.csv")
    output = tmp_path / f"pairs{suffix}"
    xmatch(folder / "radio.fits", folder / "optical.csv", method="lr", mag_col="rmag", output=output)
    if suffix == ".fits":
        header = fits.getheader(output, 1)
        cards, history = dict(header), "".join(header["HISTORY"])  # astropy continues long HISTORY cards
    elif suffix == ".ecsv":
        cards = read_table(output).meta
        history = "".join(cards["HISTORY"])
    else:
        infos = parse(output).resources[0].infos
        cards = {info.name: info.value for info in infos}
        history = "".join(info.value for info in infos if info.name == "HISTORY")
    assert cards["HIPPOCMD"] == "xmatch" and cards["HIPPOVER"] and "HIPPODAT" in cards
    expected = {"radio": folder / "radio.fits", "optical": folder / "optical.csv", "radio_id_col": "Source_Name",
                "optical_id_col": "objid", "mag_col": "rmag", "radio_err": "E_RA,E_DEC",
                "optical_err": "ra_err,dec_err"}
    for name, value in expected.items():
        if suffix == ".fits":
            assert f"hippo xmatch {name}={value}" in history
        else:  # whole in the metadata (HISTORY lines are cut at 72 characters, as for every command)
            assert str(cards[name]) == str(value) and f"hippo xmatch {name}=" in history


@pytest.mark.parametrize("suffix", [".fits", ".vot", ".ecsv"])
def test_a_null_integer_id_in_a_file_is_named_by_its_position(tmp_path, suffix):
    # FITS keeps it as TNULL, which the memory-mapped reading handed over as the id itself
    radio = Table({"id": MaskedColumn([5, 6, 7], mask=[False, True, True]), "ra": [355.0, 20.0, 355.0],
                   "dec": [10.0, 10.0, 10.0]})
    write_table(radio, tmp_path / f"radio{suffix}")
    pairs = xmatch(tmp_path / f"radio{suffix}", OPTICAL)
    assert list(pairs["radio_id"]) == ["5", "J012000.00+100000.0", "J234000.00+100000.0"]


def test_csv_ids_with_leading_zeros_keep_them_and_plain_integers_stay_integers(tmp_path, caplog):
    (tmp_path / "radio.csv").write_text("id,ra,dec\n007,355.0,10.0\n7,355.0001,10.0\n,20.0,10.0\n")
    (tmp_path / "plain.csv").write_text("id,ra,dec\n7,355.0,10.0\n8,20.0,10.0\n")
    with caplog.at_level(logging.WARNING, logger="hippo.crossmatch"):
        pairs = xmatch(tmp_path / "radio.csv", OPTICAL)
    assert list(pairs["radio_id"]) == ["007", "7", "J012000.00+100000.0"]
    assert "not unique" not in caplog.text  # 007 and 7 are two sources
    plain = xmatch(tmp_path / "plain.csv", OPTICAL)
    assert plain["radio_id"].dtype.kind == "i" and list(plain["radio_id"]) == [7, 8]


def test_non_ascii_ids_written_to_fits_read_back_as_text(tmp_path):
    radio = Table({"name": ["Ångström-1", "plain"], "ra": [355.0, 20.0], "dec": [10.0, 10.0]})
    xmatch(radio, OPTICAL, output=tmp_path / "pairs.fits")
    again = xmatch(tmp_path / "pairs.fits", OPTICAL, radio_id_col="radio_id", radio_ra_col="radio_ra",
                   radio_dec_col="radio_dec")
    assert list(again["radio_id"]) == ["Ångström-1", "plain"]


def test_uint64_ids_are_exact_in_fits_output(tmp_path):
    ids = np.array([2 ** 63 + 5, 2 ** 64 - 1], dtype=np.uint64)
    optical = Table({"objid": ids, "ra": [355.0, 20.0], "dec": [10.0, 10.0]})
    radio = Table({"name": ["west", "east"], "ra": [355.0, 20.0], "dec": [10.0, 10.0]})
    xmatch(radio, optical, output=tmp_path / "pairs.fits")
    pairs = Table.read(tmp_path / "pairs.fits")
    assert pairs["optical_id"].dtype == np.uint64 and list(pairs["optical_id"]) == list(ids)
