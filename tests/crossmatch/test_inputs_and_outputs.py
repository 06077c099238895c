"""What users hand ``xmatch`` (negative RA, masked ids, odd option values) and what every FITS output carries."""

import logging

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import MaskedColumn, Table

from hippo.crossmatch import xmatch

OPTICAL = Table({"name": ["west", "east"], "ra": [355.0, 20.0], "dec": [10.0, 10.0]})


def test_negative_ra_is_wrapped_into_0_to_360(caplog):
    lone = xmatch(Table({"name": ["neg"], "ra": [-5.0], "dec": [10.0]}), OPTICAL)
    assert list(lone["optical_id"]) == ["west"] and lone["radio_ra"][0] == pytest.approx(355.0)
    mixed = Table({"name": ["neg", "pos", "off_sky"], "ra": [-5.0, 20.0, -400.0], "dec": [10.0, 10.0, 10.0]})
    with caplog.at_level(logging.WARNING, logger="hippo.crossmatch"):
        pairs = xmatch(mixed, OPTICAL)
    assert list(pairs["radio_id"]) == ["neg", "pos"]
    assert "1 rows without a usable position" in caplog.text  # only RA -400 is off the sky


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
