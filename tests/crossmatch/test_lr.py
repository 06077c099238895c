"""Likelihood ratio: the formulas, and completeness/reliability on simulated and real positions."""

import numpy as np
import pytest
from astropy.table import Table

from hippo.crossmatch import xmatch
from hippo.crossmatch.lr import match_likelihood_ratio, offsets_arcsec, positional_density
from hippo.crossmatch.simulate import simulate_field, score
from hippo.crossmatch.zones import ZoneIndex
from hippo.errors import InputError


@pytest.fixture(scope="module")
def deep_field():
    return simulate_field(n_radio=1500, area_deg2=1.0, optical_limit=24.0, seed=11)


def test_positional_density_and_offsets():
    assert positional_density(0.0, 0.0, 1.0, 1.0) == pytest.approx(1 / (2 * np.pi))
    assert positional_density(1.0, 0.0, 1.0, 2.0) == pytest.approx(np.exp(-0.5) / (4 * np.pi))
    # 3" east of a source at Dec 60: 6" of RA; 2" north; also across the RA wrap
    dx, dy = offsets_arcsec(np.array([359.9995]), np.array([60.0]),
                            np.array([(359.9995 + 6 / 3600) % 360]), np.array([60.0 + 2 / 3600]))
    assert dx[0] == pytest.approx(3.0, abs=1e-3) and dy[0] == pytest.approx(2.0, abs=1e-3)


def test_lr_on_a_deep_simulated_field_is_complete_and_reliable(deep_field):
    radio, optical = deep_field
    radio = radio[~np.asarray(radio["true_multi"])]  # compact sources: what LR is for
    pairs = xmatch(radio, optical, method="lr", radius="5arcsec", astrometric_floor="0.3arcsec")
    assert pairs.colnames[:6] == ["radio_id", "optical_id", "separation_arcsec", "rank", "lr", "reliability"]
    measured = score(pairs, radio)["compact"]
    assert measured["completeness"] >= 0.95 and measured["reliability"] >= 0.95
    # Q0 estimates the fraction of radio sources whose host is in the catalogue
    true_q0 = np.mean(np.asarray(radio["true_host"]) >= 0)
    assert pairs.meta["q0"] == pytest.approx(true_q0, abs=0.05)
    # the model's own estimates are honest to within a few per cent
    assert pairs.meta["estimated_reliability"] == pytest.approx(measured["reliability"], abs=0.05)
    assert np.all((pairs["reliability"] > 0) & (pairs["reliability"] <= 1))
    assert np.all(pairs["lr"] >= pairs.meta["lr_threshold"])


def test_reliabilities_of_one_source_sum_to_at_most_one_and_rank_by_lr(deep_field):
    radio, optical = deep_field
    pairs = xmatch(radio, optical, method="lr", radius="5arcsec", lr_threshold=0.0)
    totals = {}
    for radio_id, reliability in zip(pairs["radio_id"], pairs["reliability"]):
        totals[radio_id] = totals.get(radio_id, 0.0) + reliability
    assert max(totals.values()) <= 1.0 + 1e-9
    several = [r for r in totals if np.sum(pairs["radio_id"] == r) > 1][0]
    rows = pairs[pairs["radio_id"] == several]
    assert list(rows["rank"]) == list(range(1, len(rows) + 1)) and np.all(np.diff(rows["lr"]) <= 0)


def test_a_higher_threshold_trades_completeness_for_reliability(deep_field):
    radio, optical = deep_field
    balanced = xmatch(radio, optical, method="lr", radius="5arcsec")
    strict = xmatch(radio, optical, method="lr", radius="5arcsec", lr_threshold=10 * balanced.meta["lr_threshold"] + 1)
    assert len(strict) < len(balanced)
    assert strict.meta["estimated_reliability"] >= balanced.meta["estimated_reliability"]
    assert strict.meta["estimated_completeness"] < balanced.meta["estimated_completeness"]


def test_lr_without_stated_errors_warns_and_takes_one_arcsec(caplog):
    radio = Table({"name": ["a"], "ra": [10.0], "dec": [0.0]})
    optical = Table({"name": ["x"], "ra": [10.0001], "dec": [0.0]})
    with caplog.at_level("WARNING", logger="hippo"):
        default = xmatch(radio, optical, method="lr", radius="3arcsec")
    assert "no positional error columns" in caplog.text
    stated = xmatch(radio, optical, method="lr", radio_err="1arcsec", radius="3arcsec")
    assert list(stated["optical_id"]) == ["x"] and stated.meta["positional_only"]
    assert default["lr"][0] == pytest.approx(stated["lr"][0])
    with pytest.raises(InputError, match="--radio-err"):
        xmatch(radio, optical, method="lr", radio_err="E_RA")


def test_magnitude_column_found_by_name_and_sentinels_ignored(deep_field):
    radio, optical = deep_field
    optical = optical.copy()
    optical.rename_column("mag", "rMeanPSFMag")
    optical["rMeanPSFMag"][:200] = -999.0
    pairs = xmatch(radio[~np.asarray(radio["true_multi"])], optical, method="lr", radius="5arcsec")
    assert not pairs.meta["positional_only"]
    assert score(pairs, radio)["compact"]["reliability"] >= 0.95


def test_lr_on_real_lotss_positions_with_simulated_hosts(shared_data):
    """LoTSS-DR1 positions and errors; hosts scattered by those errors plus a 0.3" floor, among
    a 3e4 per deg^2 background with magnitudes; LR finds them."""
    radio = Table.read(shared_data / "lotss_dr1" / "catalog_shimwell_reduced.srl.fits")
    radio = radio[np.asarray(radio["Maj"]) < 15]
    rng = np.random.default_rng(3)
    count = len(radio)
    has_host = rng.uniform(size=count) < 0.8
    sigma = np.hypot(np.asarray(radio["E_RA"]), 0.3)
    host_dec = np.asarray(radio["DEC"]) + rng.normal(0, 1, count) * sigma / 3600
    host_ra = np.asarray(radio["RA"]) + rng.normal(0, 1, count) * sigma / 3600 / np.cos(np.radians(host_dec))
    ra_low, ra_high = np.min(radio["RA"]), np.max(radio["RA"])
    dec_low, dec_high = np.min(radio["DEC"]), np.max(radio["DEC"])
    area = (ra_high - ra_low) * np.cos(np.radians((dec_low + dec_high) / 2)) * (dec_high - dec_low)
    background = int(3e4 * area)
    optical = Table({"id": np.arange(background + has_host.sum()),
                     "ra": np.concatenate([rng.uniform(ra_low, ra_high, background), host_ra[has_host]]),
                     "dec": np.concatenate([rng.uniform(dec_low, dec_high, background), host_dec[has_host]]),
                     "mag": np.concatenate([rng.uniform(16, 24, background), rng.normal(20.5, 1.5, has_host.sum())])})
    truth = dict(zip(np.asarray(radio["Source_Name"]).astype(str)[has_host], np.arange(background, len(optical))))
    pairs = xmatch(radio, optical, method="lr", radius="5arcsec", astrometric_floor="0.3arcsec")
    best = pairs[pairs["rank"] == 1]
    correct = sum(truth.get(r) == o for r, o in zip(best["radio_id"], best["optical_id"]))
    assert correct / len(truth) >= 0.95 and correct / len(best) >= 0.95


def test_errors_in_degrees_without_unit_and_masked_magnitudes(deep_field):
    radio, optical = deep_field
    radio = radio[~np.asarray(radio["true_multi"])]
    reference = xmatch(radio, optical, method="lr", radius="5arcsec")
    in_degrees = radio.copy()
    for name in ("E_RA", "E_DEC"):
        in_degrees[name] = np.asarray(radio[name]) / 3600.0  # no unit
    masked = optical.copy()
    masked["mag"] = np.ma.MaskedArray(np.asarray(optical["mag"]), mask=np.arange(len(optical)) % 50 == 0)
    pairs = xmatch(in_degrees, masked, method="lr", radius="5arcsec")
    assert pairs.meta["q0"] == pytest.approx(reference.meta["q0"], abs=0.01)
    assert score(pairs, radio)["compact"]["reliability"] >= 0.95


@pytest.fixture(scope="module")
def single_field():
    return simulate_field(n_radio=2000, area_deg2=1.0, optical_limit=23.0, multi_fraction=0.0, seed=6)


@pytest.mark.parametrize("spoil", ["nan optical error", "masked radio error", "zero radio error, no floor"])
def test_one_missing_or_zero_positional_error_leaves_the_rest_of_the_run_alone(single_field, spoil, caplog):
    radio, optical = single_field
    radio, optical = radio.copy(), optical.copy()
    floor = "0arcsec" if "no floor" in spoil else "0.5arcsec"
    if "no floor" in spoil:
        optical.remove_columns(["ra_err", "dec_err"])
    reference = xmatch(radio, optical, method="lr", astrometric_floor=floor)
    row = int(np.flatnonzero(np.asarray(radio["true_host"]) >= 0)[0])
    host = radio["true_host"][row]
    if spoil == "nan optical error":
        optical["ra_err"][np.asarray(optical["objid"]) == host] = np.nan
    elif spoil == "masked radio error":
        radio["E_RA"] = np.ma.MaskedArray(np.asarray(radio["E_RA"]), mask=np.arange(len(radio)) == row)
    else:
        radio["E_RA"][row] = radio["E_DEC"][row] = 0.0
    with caplog.at_level("WARNING", logger="hippo"):
        pairs = xmatch(radio, optical, method="lr", astrometric_floor=floor)
    assert "1 rows have no usable error" in caplog.text
    assert len(reference) > 1500 and abs(len(pairs) - len(reference)) <= 2
    assert pairs.meta["q0"] == pytest.approx(reference.meta["q0"], abs=0.005)
    best = pairs[(pairs["radio_id"] == radio["Source_Name"][row]) & (pairs["rank"] == 1)]
    assert list(best["optical_id"]) == [host]


def test_lr_at_a_20_arcsec_beam_is_not_all_extended():
    # NVSS/RACS-like: every component is beam-sized, 20"; "extended" means larger than twice that
    radio, optical = simulate_field(n_radio=2000, area_deg2=1.0, optical_limit=23.0, beam_arcsec=20.0,
                                    multi_fraction=0.0, seed=1)
    radio["Maj"][:3] = 60.0
    pairs = xmatch(radio, optical, method="lr", radius="10arcsec")
    assert np.isfinite(pairs.meta["q0"]) and score(pairs, radio)["compact"]["completeness"] >= 0.9
    extended = set(pairs["radio_id"][pairs["flag"] == "extended"])
    assert extended == set(radio["Source_Name"][:3]) & set(pairs["radio_id"])


def test_lr_with_only_extended_sources_is_a_one_line_error(tmp_path, hippo_cli):
    (tmp_path / "radio.csv").write_text("name,ra,dec,Maj\na,10.0,0.0,40\nb,10.1,0.0,45\n")
    (tmp_path / "optical.csv").write_text("name,ra,dec\nx,10.0001,0.0\n")
    result = hippo_cli("xmatch", tmp_path / "radio.csv", tmp_path / "optical.csv", "--method", "lr",
                       "--radio-err", "1arcsec")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {tmp_path / 'radio.csv'}: lr: all 2 radio sources are extended or "
                                          "multi-component: no compact source to estimate Q0 and q(m) from"]


@pytest.mark.parametrize("threshold", ["balanced", 0.0])
def test_lr_in_small_batches_gives_the_pairs_lrs_and_reliabilities_of_one_batch(threshold, monkeypatch):
    # 15" (25" for multi-component sources): several candidates a source, each source's split
    # over magnitude bins, and a few hundred batches of 500 candidates against one of them all
    radio, optical = simulate_field(n_radio=800, area_deg2=0.5, seed=21)
    multi = np.asarray(radio["true_multi"])
    search_radius = np.where(multi, 25.0, 15.0)
    index = ZoneIndex(optical["ra"], optical["dec"], search_radius.max())
    batch_sizes = []
    search = index.pair_batches

    def counted_batches(*args):
        for batch in search(*args):
            batch_sizes.append(len(batch[0]))
            yield batch

    monkeypatch.setattr(index, "pair_batches", counted_batches)

    def match(batch_candidates):
        return match_likelihood_ratio(
            np.asarray(radio["RA"]), np.asarray(radio["DEC"]), (np.asarray(radio["E_RA"]), np.asarray(radio["E_DEC"])),
            index, np.asarray(optical["ra"]), np.asarray(optical["dec"]), np.asarray(optical["mag"], dtype=float),
            (np.asarray(optical["ra_err"]), np.asarray(optical["dec_err"])), 15.0, 0.3, threshold,
            use_for_fit=~multi, search_radius=search_radius, batch_candidates=batch_candidates)

    *whole, whole_model = match(10 ** 9)
    assert len(batch_sizes) == 3  # background, then the candidates twice
    batch_sizes.clear()
    *batched, batched_model = match(500)
    assert len(batch_sizes) > 200 and max(batch_sizes) < 500
    radio_index, optical_index, separation, lr, reliability = batched
    assert len(lr) > (6000 if threshold == 0.0 else 3000)
    np.testing.assert_array_equal(radio_index, whole[0])
    np.testing.assert_array_equal(optical_index, whole[1])
    np.testing.assert_array_equal(separation, whole[2])
    np.testing.assert_allclose(lr, whole[3], rtol=1e-12)
    np.testing.assert_allclose(reliability, whole[4], rtol=1e-12)
    np.testing.assert_allclose(batched_model.q, whole_model.q, rtol=1e-12)
    assert 0.5 < batched_model.q0 == whole_model.q0 < 1
    assert batched_model.threshold == pytest.approx(whole_model.threshold, rel=1e-12)
    assert batched_model.completeness == pytest.approx(whole_model.completeness, rel=1e-12)
    assert batched_model.reliability == pytest.approx(whole_model.reliability, rel=1e-12)
