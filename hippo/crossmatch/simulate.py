"""Simulated radio and optical catalogues with known hosts, to measure completeness and reliability.

The optical sky has power-law galaxy counts (dN/dm ~ 10^(0.33 m), 8e4 per deg^2 brighter than
m = 24, about i-band counts) cut at a magnitude limit. Each radio source has a host with a
magnitude drawn from a Gaussian (mean 21.5, sigma 1.6: LOFAR hosts in i band); hosts fainter
than the limit are missing from the optical catalogue, as in a real survey. Radio fluxes follow
Euclidean counts above 5 sigma; positional errors scale as 0.6 beam / SNR plus a 0.1" floor, and
the radio positions carry an extra 0.3" astrometric offset that the catalogue errors do not
state (what ``astrometric_floor`` is for). A fraction of sources are double-lobed (FRII-like,
15-300" across, unequal arms, a core in 40% of them), listed component by component as a
source finder does.
"""

import numpy as np

from hippo.crossmatch.zones import tangent_basis, unit_vectors


def simulate_field(n_radio=2000, area_deg2=1.0, centre=(150.0, 2.0), optical_limit=24.0,
                   optical_density_at_24=8e4, count_slope=0.33, host_mag_mean=21.5, host_mag_sigma=1.6,
                   beam_arcsec=6.0, optical_error_arcsec=0.1, astrometric_offset_arcsec=0.3,
                   multi_fraction=0.08, seed=0):
    """Radio (component) and optical catalogues of one field, with the truth in the radio table.

    Parameters
    ----------
    n_radio : int
        Number of radio sources (a multi-component source is one source, several rows).
    area_deg2 : float
        Area of the square field.
    optical_limit : float
        Magnitude limit of the optical catalogue; fainter hosts are missing.
    multi_fraction : float
        Fraction of radio sources that are double-lobed.

    Returns
    -------
    radio, optical : astropy.table.Table
        ``radio``: Source_Name, RA, DEC, E_RA, E_DEC (arcsec), Total_flux (mJy), Maj (arcsec),
        and the truth: true_source, true_host (optical objid, -1 where the host is missing),
        true_multi. ``optical``: objid, ra, dec, ra_err, dec_err (arcsec), mag.
    """
    from astropy.table import Table

    rng = np.random.default_rng(seed)
    half_side = np.sqrt(area_deg2) / 2
    ra0, dec0 = centre

    def uniform_positions(count):
        dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(dec0 - half_side)),
                                               np.sin(np.radians(dec0 + half_side)), count)))
        ra = (ra0 + rng.uniform(-half_side, half_side, count) / np.cos(np.radians(dec0))) % 360
        return ra, dec

    # optical background: inverse CDF of N(<m) ~ 10^(a m) between m = 14 and the limit
    background_count = rng.poisson(optical_density_at_24 * area_deg2 * 10 ** (count_slope * (optical_limit - 24)))
    low, high = 10 ** (count_slope * 14.0), 10 ** (count_slope * optical_limit)
    background_mag = np.log10(low + rng.uniform(0, 1, background_count) * (high - low)) / count_slope
    background_ra, background_dec = uniform_positions(background_count)

    host_ra, host_dec = uniform_positions(n_radio)
    host_mag = rng.normal(host_mag_mean, host_mag_sigma, n_radio)
    host_seen = host_mag <= optical_limit
    optical_true_ra = np.concatenate([background_ra, host_ra[host_seen]])
    optical_true_dec = np.concatenate([background_dec, host_dec[host_seen]])
    optical_mag = np.concatenate([background_mag, host_mag[host_seen]])
    shuffle = rng.permutation(len(optical_mag))
    objid = np.empty(len(optical_mag), dtype=np.int64)
    objid[shuffle] = np.arange(len(optical_mag)) + 1_000_000
    host_objid = np.full(n_radio, -1, dtype=np.int64)
    host_objid[host_seen] = objid[background_count:]
    optical_ra, optical_dec = _offset(optical_true_ra, optical_true_dec, rng.normal(0, optical_error_arcsec, (2, len(objid))))
    optical = Table({"objid": objid[np.argsort(objid)],
                     "ra": optical_ra[np.argsort(objid)], "dec": optical_dec[np.argsort(objid)],
                     "ra_err": np.full(len(objid), optical_error_arcsec),
                     "dec_err": np.full(len(objid), optical_error_arcsec),
                     "mag": optical_mag[np.argsort(objid)].astype(np.float32)})

    snr = 5.0 * rng.uniform(0, 1, n_radio) ** (-1 / 1.5)
    multi = rng.uniform(0, 1, n_radio) < multi_fraction
    rows = []
    for i in np.flatnonzero(~multi):
        rows.append((f"R{i:06d}", host_ra[i], host_dec[i], snr[i], beam_arcsec, i))
    for i in np.flatnonzero(multi):
        size = np.clip(np.exp(rng.normal(np.log(45.0), 0.6)), 15.0, 300.0)
        angle = rng.uniform(0, 2 * np.pi)
        arms = np.array([0.5, -0.5 * rng.uniform(0.6, 1.0)]) * size
        lobe_snr = max(snr[i], 10.0) * rng.uniform(0.5, 1.5, 2)
        for label, arm, lobe in zip("ab", arms, lobe_snr):
            ra, dec = _offset(host_ra[i:i + 1], host_dec[i:i + 1],
                              np.array([[arm * np.sin(angle)], [arm * np.cos(angle)]]))
            rows.append((f"R{i:06d}{label}", ra[0], dec[0], lobe, max(beam_arcsec, 0.3 * size), i))
        if rng.uniform() < 0.4:
            rows.append((f"R{i:06d}c", host_ra[i], host_dec[i], 8.0, beam_arcsec, i))
    name, true_ra, true_dec, component_snr, major, source = (np.array(c) for c in zip(*rows))
    error = np.hypot(0.6 * major / component_snr, 0.1)
    scatter = rng.normal(0, 1, (2, len(name))) * error + rng.normal(0, astrometric_offset_arcsec, (2, len(name)))
    radio_ra, radio_dec = _offset(true_ra, true_dec, scatter)
    radio = Table({"Source_Name": name, "RA": radio_ra, "DEC": radio_dec, "E_RA": error, "E_DEC": error,
                   "Total_flux": component_snr * 0.1, "Maj": major,
                   "true_source": np.array([f"R{s:06d}" for s in source]),
                   "true_host": host_objid[source], "true_multi": multi[source]})
    radio["E_RA"].unit = radio["E_DEC"].unit = radio["Maj"].unit = "arcsec"
    radio["Total_flux"].unit = "mJy"
    return radio, optical


def _offset(ra_deg, dec_deg, offsets_arcsec):
    """Positions moved by (east, north) offsets in arcsec, on the tangent plane."""
    east, north = np.radians(offsets_arcsec / 3600.0)
    xyz = unit_vectors(ra_deg, dec_deg)
    east_vector, north_vector = tangent_basis(ra_deg, dec_deg)
    moved = xyz + east[:, None] * east_vector + north[:, None] * north_vector
    moved /= np.linalg.norm(moved, axis=1)[:, None]
    return np.degrees(np.arctan2(moved[:, 1], moved[:, 0])) % 360, np.degrees(np.arcsin(moved[:, 2]))


def score(pairs, radio):
    """Completeness and reliability of the rank-1 matches against the simulated truth.

    Completeness: correct identifications over sources whose host is in the optical catalogue;
    reliability: correct identifications over identifications made. Reported for compact
    (single-component) sources and for multi-component ones, each identified through any of
    its components (or its group).

    Returns
    -------
    dict
        ``{"compact": {...}, "multi": {...}}`` with counts, completeness and reliability.
    """
    truth_host = dict(zip(np.asarray(radio["Source_Name"]).astype(str), np.asarray(radio["true_host"])))
    truth_source = dict(zip(np.asarray(radio["Source_Name"]).astype(str), np.asarray(radio["true_source"])))
    multi_of = dict(zip(np.asarray(radio["true_source"]), np.asarray(radio["true_multi"])))
    host_of = dict(zip(np.asarray(radio["true_source"]), np.asarray(radio["true_host"])))
    best = pairs[np.asarray(pairs["rank"]) == 1]
    identified = {}
    for radio_id, optical_id in zip(np.asarray(best["radio_id"]).astype(str), np.asarray(best["optical_id"]).astype(str)):
        source = truth_source[radio_id]
        identified.setdefault(source, []).append(optical_id == str(truth_host[radio_id]))
    result = {}
    for kind, is_multi in (("compact", False), ("multi", True)):
        sources = [s for s, m in multi_of.items() if bool(m) == is_multi]
        with_host = sum(1 for s in sources if host_of[s] >= 0)
        made = sum(len(identified.get(s, [])) for s in sources)
        correct_sources = sum(1 for s in sources if any(identified.get(s, [])))
        correct_ids = sum(sum(identified.get(s, [])) for s in sources)
        result[kind] = {"sources": len(sources), "with_host": with_host, "identified": made,
                        "correct": correct_ids, "correct_sources": correct_sources,
                        "completeness": correct_sources / with_host if with_host else float("nan"),
                        "reliability": correct_ids / made if made else float("nan")}
    return result
