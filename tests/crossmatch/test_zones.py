"""The zone search finds exactly the pairs a k-d tree finds: RA wrap, poles, chunk edges."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from hippo.crossmatch import zones
from hippo.crossmatch.zones import arcsec_to_chord, pairs_within, unit_vectors


def _field(rng, count, ra_centre, dec_centre, half_width_deg):
    scale = max(np.cos(np.radians(dec_centre)), 0.02)
    ra = (ra_centre + rng.uniform(-half_width_deg, half_width_deg, count) / scale) % 360
    dec = np.clip(dec_centre + rng.uniform(-half_width_deg, half_width_deg, count), -90, 90)
    return ra, dec


@pytest.mark.parametrize("ra_centre,dec_centre", [(180.0, 10.0), (0.0, -30.0), (359.99, 60.0), (45.0, 89.7),
                                                  (10.0, -89.75)])
def test_pairs_within_equals_kd_tree_ball_search(ra_centre, dec_centre, monkeypatch):
    monkeypatch.setattr(zones, "_CHUNK_QUERIES", 700)  # several chunks, so their seams are tested too
    rng = np.random.default_rng(int(ra_centre + dec_centre + 100))
    ra2, dec2 = _field(rng, 20_000, ra_centre, dec_centre, 0.2)  # the last two reach over the pole
    ra1, dec1 = _field(rng, 2_500, ra_centre, dec_centre, 0.2)
    first, second, separation = pairs_within(ra1, dec1, ra2, dec2, 15.0)
    balls = cKDTree(unit_vectors(ra2, dec2)).query_ball_point(unit_vectors(ra1, dec1), arcsec_to_chord(15.0))
    expected = sorted((i, j) for i, ball in enumerate(balls) for j in ball)
    assert len(expected) > 1000
    assert sorted(zip(first.tolist(), second.tolist())) == expected
    assert np.all(np.diff(first) >= 0) and separation.max() <= 15.0


def test_pairs_within_swaps_back_when_the_first_catalogue_is_larger():
    rng = np.random.default_rng(5)
    ra, dec = _field(rng, 3000, 150.0, 2.0, 0.1)
    big_first = pairs_within(ra, dec, ra[:500], dec[:500], 20.0)
    big_second = pairs_within(ra[:500], dec[:500], ra, dec, 20.0)
    assert sorted(zip(big_first[0].tolist(), big_first[1].tolist())) == \
        sorted(zip(big_second[1].tolist(), big_second[0].tolist()))
    assert np.all(np.diff(big_first[0]) >= 0)


def test_circles_reaching_over_the_pole_find_neighbours_at_every_ra():
    rng = np.random.default_rng(9)
    ra = rng.uniform(0, 360, 400)
    dec = 90 - rng.uniform(0, 30, 400) / 3600  # all within 30" of the north pole
    first, second, _ = pairs_within(ra[:50], dec[:50], ra, dec, 15.0)
    balls = cKDTree(unit_vectors(ra, dec)).query_ball_point(unit_vectors(ra[:50], dec[:50]), arcsec_to_chord(15.0))
    expected = sorted((i, j) for i, ball in enumerate(balls) for j in ball)
    assert sorted(zip(first.tolist(), second.tolist())) == expected
    assert len({round(ra[j]) for _, j in expected}) > 50  # neighbours at every RA
