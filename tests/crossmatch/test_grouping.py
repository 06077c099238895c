"""Multi-component sources: lobes and core grouped, host found at the core, flagged; overlays."""

import numpy as np
import pytest
from astropy.table import Table

from hippo.crossmatch import overlay_flagged, xmatch
from hippo.crossmatch.grouping import group_components
from hippo.crossmatch.simulate import simulate_field


def _double(ra=150.0, dec=2.0):
    """A 60" FRII (two resolved lobes, a compact core) among compact sources 20-40" away."""
    arcsec = 1 / 3600
    names = ["lobe_n", "lobe_s", "core", "point_a", "point_b"]
    ra_values = np.array([ra, ra, ra + 0.5 * arcsec, ra + 40 * arcsec, ra - 30 * arcsec])
    dec_values = np.array([dec + 28 * arcsec, dec - 32 * arcsec, dec, dec + 20 * arcsec, dec - 25 * arcsec])
    flux = np.array([40.0, 30.0, 2.0, 5.0, 3.0])
    major = np.array([18.0, 16.0, 6.0, 6.0, 6.2])
    return Table({"Source_Name": names, "RA": ra_values, "DEC": dec_values, "E_RA": [1.5, 1.5, 0.4, 0.5, 0.6],
                  "E_DEC": [1.5, 1.5, 0.4, 0.5, 0.6], "Total_flux": flux, "Maj": major})


def test_lobes_and_core_form_one_group_centred_on_the_core():
    radio = _double()
    groups = group_components(np.asarray(radio["RA"]), np.asarray(radio["DEC"]), np.asarray(radio["Total_flux"]),
                              np.asarray(radio["Maj"]))
    assert len(groups.members) == 1 and sorted(groups.members[0]) == [0, 1, 2]
    assert list(groups.members[0])[0] == 0  # brightest first: the group is named after it
    assert groups.has_core[0]
    assert groups.ra[0] == pytest.approx(radio["RA"][2], abs=1e-9) and groups.dec[0] == pytest.approx(0 + 2.0, abs=1e-9)
    assert list(groups.label) == [0, 0, 0, -1, -1]


def test_grouped_host_is_found_at_the_core_and_flagged():
    radio = _double()
    optical = Table({"objid": [7, 8, 9], "ra": [150.0 + 0.6 / 3600, 150.0, 150.0 + 40 / 3600],
                     "dec": [2.0 + 0.3 / 3600, 2.0 + 28 / 3600, 2.0 + 20.5 / 3600], "mag": [19.0, 23.0, 21.0]})
    pairs = xmatch(radio, optical, method="nn", radius="3arcsec", group=True)
    by_source = {r: (o, f, c) for r, o, f, c in zip(pairs["radio_id"], pairs["optical_id"], pairs["flag"],
                                                    pairs["components"])}
    assert by_source["lobe_n"] == (7, "multi_component", "lobe_n;lobe_s;core")
    assert by_source["point_a"][:2] == (9, "ok")
    # without grouping the northern lobe picks up the faint source under it
    plain = xmatch(radio, optical, method="nn", radius="3arcsec")
    assert dict(zip(plain["radio_id"], plain["optical_id"]))["lobe_n"] == 8


def test_simulated_doubles_are_grouped_without_swallowing_compact_sources():
    radio, _ = simulate_field(n_radio=1500, area_deg2=1.0, seed=4)
    groups = group_components(np.asarray(radio["RA"]), np.asarray(radio["DEC"]), np.asarray(radio["Total_flux"]),
                              np.asarray(radio["Maj"]))
    truth = np.asarray(radio["true_source"])
    multi = np.asarray(radio["true_multi"])
    pure = [len(set(truth[m])) == 1 for m in groups.members]
    compact_grouped = np.mean(groups.label[~multi] >= 0)
    recovered = len({truth[m[0]] for m, ok in zip(groups.members, pure) if ok})
    # overlapping doubles and unresolved small ones are the limits (docs/crossmatch.md)
    assert np.mean(pure) >= 0.85 and compact_grouped <= 0.01
    assert recovered >= 0.5 * len(set(truth[multi]))


def test_overlay_of_a_flagged_source_is_one_call(shared_data, tmp_path):
    folder = shared_data / "first_wise"
    wise = next(folder.glob("*w1-int*.fits"))
    pairs = Table({"radio_id": ["J151227+454026"], "optical_id": ["host"], "separation_arcsec": [0.5], "rank": [1],
                   "lr": [3.0], "reliability": [0.9], "flag": ["multi_component"],
                   "radio_ra": [228.1133], "radio_dec": [45.6739], "optical_ra": [228.1134], "optical_dec": [45.6740]})
    output = tmp_path / "flagged.png"
    overlay_flagged(pairs, "J151227+454026", wise, contours=folder / "FIRSTJ151227.2+454026_3.fits",
                    output=output, size="2arcmin")
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and output.stat().st_size > 10_000


def test_integer_ids_stay_integers_with_groups():
    radio = _double()
    radio["Source_Name"] = [101, 102, 103, 104, 105]
    optical = Table({"objid": [7, 9], "ra": [150.0 + 0.6 / 3600, 150.0 + 40 / 3600],
                     "dec": [2.0 + 0.3 / 3600, 2.0 + 20.5 / 3600]})
    pairs = xmatch(radio, optical, method="nn", radius="3arcsec", group=True)
    assert pairs["radio_id"].dtype.kind == "i"
    assert dict(zip(pairs["radio_id"], pairs["components"])) == {101: "101;102;103", 104: "104"}
