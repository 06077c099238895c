"""Likelihood-ratio counterparts (Sutherland & Saunders 1992) with q(m), n(m) and Q0 from the data.

For a candidate at offset (dx, dy) with magnitude m,

    LR = q(m) f(dx, dy) / n(m),

f the bivariate Gaussian of both catalogues' positional errors plus an astrometric floor (per
axis, in quadrature), n(m) the background surface density of optical sources (counted around
random positions: the radio positions moved by 1-3 arcmin), q(m) the magnitude distribution of
true counterparts (the excess of sources around radio positions over the background, Fleuren et
al. 2012; then refined with the reliabilities, as in McAlpine et al. 2012) normalised to Q0, the
fraction of radio sources whose counterpart is in the catalogue (from the fraction of radio and
random positions with no source within r, Fleuren et al. 2012). The reliability of candidate j is
R_j = LR_j / (sum_i LR_i + 1 - Q0). The threshold on LR is chosen where the estimated
completeness and reliability of the accepted identifications are equal.
"""

from dataclasses import dataclass, field

import numpy as np

from hippo.crossmatch.positional import first_per_group
from hippo.crossmatch.zones import tangent_basis, unit_vectors

_MAG_BIN_WIDTH = 0.5
_RANDOM_OFFSET_ARCSEC = (60.0, 180.0)
_RANDOM_POSITIONS_TARGET = 200_000
_REFINE_ITERATIONS = 5


@dataclass
class LikelihoodRatioModel:
    """What the data said: Q0, q(m), n(m) and the chosen threshold with its estimated quality.

    ``magnitude_edges`` bound the bins of ``q`` (probability per bin, summing to ``q0`` with the
    last entry for sources without a magnitude) and ``n`` (background sources per arcsec^2 per
    bin). ``completeness`` and ``reliability`` are the model's estimates at ``threshold``.
    """

    q0: float
    magnitude_edges: np.ndarray
    q: np.ndarray
    n: np.ndarray
    threshold: float = np.nan
    completeness: float = np.nan
    reliability: float = np.nan
    curve: dict = field(default_factory=dict)

    def summary(self):
        return {"q0": round(float(self.q0), 4), "lr_threshold": float(f"{self.threshold:.4g}"),
                "estimated_completeness": round(float(self.completeness), 4),
                "estimated_reliability": round(float(self.reliability), 4)}


def offsets_arcsec(radio_ra, radio_dec, optical_ra, optical_dec):
    """East and north offsets (arcsec) of optical positions from radio positions, on the tangent
    plane at each radio position (exact enough for arcsec separations, and at the poles)."""
    radio = unit_vectors(radio_ra, radio_dec)
    optical = unit_vectors(optical_ra, optical_dec)
    east, north = tangent_basis(radio_ra, radio_dec)
    scale = np.degrees(1.0) * 3600.0 / np.einsum("ij,ij->i", optical, radio)
    return np.einsum("ij,ij->i", optical, east) * scale, np.einsum("ij,ij->i", optical, north) * scale


def positional_density(dx, dy, sigma_x, sigma_y):
    """f(dx, dy): the bivariate Gaussian probability density (per arcsec^2) of the offset."""
    return np.exp(-0.5 * ((dx / sigma_x) ** 2 + (dy / sigma_y) ** 2)) / (2 * np.pi * sigma_x * sigma_y)


def random_positions(ra_deg, dec_deg, copies, seed=0):
    """The radio positions moved 1-3 arcmin in random directions: a background sample that keeps
    the radio catalogue's footprint and its sensitivity to the optical catalogue's edges."""
    rng = np.random.default_rng(seed)
    ra = np.tile(ra_deg, copies)
    dec = np.tile(dec_deg, copies)
    distance = np.radians(rng.uniform(*_RANDOM_OFFSET_ARCSEC, len(ra)) / 3600.0)
    angle = rng.uniform(0, 2 * np.pi, len(ra))
    dec_r = np.radians(dec)
    new_dec = np.arcsin(np.clip(np.sin(dec_r) * np.cos(distance)
                                + np.cos(dec_r) * np.sin(distance) * np.cos(angle), -1, 1))
    new_ra = np.radians(ra) + np.arctan2(np.sin(angle) * np.sin(distance) * np.cos(dec_r),
                                         np.cos(distance) - np.sin(dec_r) * np.sin(new_dec))
    return np.degrees(new_ra) % 360.0, np.degrees(new_dec)


def magnitude_edges(magnitudes, sample=1_000_000):
    """Bin edges, 0.5 mag wide with open-ended outer bins, over the catalogue's magnitudes."""
    finite = magnitudes[np.isfinite(magnitudes)]
    if len(finite) > sample:
        finite = finite[:: len(finite) // sample]
    if len(finite) < 10:
        return np.array([-np.inf, np.inf])
    low, high = np.percentile(finite, [0.5, 99.9])
    inner = np.arange(np.floor(low * 2) / 2, high + _MAG_BIN_WIDTH, _MAG_BIN_WIDTH)
    return np.concatenate([[-np.inf], inner[1:-1], [np.inf]]) if len(inner) > 2 else np.array([-np.inf, np.inf])


def magnitude_bin(magnitudes, edges):
    """Bin index of each magnitude; missing magnitudes go to the extra last bin ``len(edges) - 1``."""
    inside = np.clip(np.searchsorted(edges, magnitudes, side="right") - 1, 0, len(edges) - 2)
    return np.where(np.isfinite(magnitudes), inside, len(edges) - 1)


def estimate_q0(radio_nearest_arcsec, random_nearest_arcsec, sigma_arcsec, radius_arcsec):
    """Q0 from blanks (Fleuren et al. 2012): the fraction of radio positions with no optical source
    within r, over that of random positions, is 1 - Q0 F(r) with F(r) = 1 - exp(-r^2 / 2 sigma^2)."""
    radii = np.linspace(radius_arcsec / 5, radius_arcsec, 9)
    blank_radio = np.array([np.mean(~(radio_nearest_arcsec <= r)) for r in radii])
    blank_random = np.array([np.mean(~(random_nearest_arcsec <= r)) for r in radii])
    usable = blank_random > 0.05
    if not usable.any():
        return 1.0
    ratio = blank_radio[usable] / blank_random[usable]
    captured = np.array([np.mean(1 - np.exp(-r ** 2 / (2 * sigma_arcsec ** 2))) for r in radii[usable]])
    q0 = np.sum(captured * (1 - ratio)) / np.sum(captured ** 2)
    return float(np.clip(q0, 0.02, 1.0))


def fit_and_score(pairs, radio_count, sigma_x, sigma_y, pair_bins, n_bins, background_counts,
                  background_area_arcsec2, q0, radius_arcsec, threshold="balanced", use_for_fit=None):
    """LR and reliability of every candidate pair, with q(m) from the data and the threshold.

    Parameters
    ----------
    pairs : tuple of ndarray
        (radio_index, dx, dy) of every candidate within the radius.
    radio_count : int
        Number of radio sources searched.
    sigma_x, sigma_y : ndarray
        Per-pair positional sigma (arcsec) per axis, radio, optical and floor combined.
    pair_bins : ndarray
        Magnitude bin of each pair's optical source.
    n_bins : int
        Number of magnitude bins (the last one is "no magnitude").
    background_counts : ndarray
        Optical sources per bin around random positions, over ``background_area_arcsec2``.
    q0 : float
        Fraction of radio sources with a counterpart in the optical catalogue.
    threshold : "balanced" or float
        LR threshold; "balanced" picks it where estimated completeness equals reliability.
    use_for_fit : ndarray of bool or None
        Radio sources whose candidates estimate q(m) (e.g. compact ones); all if None.

    Returns
    -------
    lr, reliability : ndarray
        Per pair.
    model : LikelihoodRatioModel
    """
    radio_index, dx, dy = pairs
    floor_count = 0.5  # half a source: keeps bins with no background or no excess finite
    n = np.maximum(background_counts, floor_count) / background_area_arcsec2
    fit = np.ones(len(radio_index), dtype=bool) if use_for_fit is None else use_for_fit[radio_index]
    fit_radio_count = radio_count if use_for_fit is None else int(use_for_fit.sum())
    total = np.bincount(pair_bins[fit], minlength=n_bins).astype(float)
    excess = np.maximum(total - n * fit_radio_count * np.pi * radius_arcsec ** 2, floor_count)
    q = excess / excess.sum() * q0
    density = positional_density(dx, dy, sigma_x, sigma_y)
    for _ in range(_REFINE_ITERATIONS):
        lr = q[pair_bins] * density / n[pair_bins]
        reliability = _reliability(radio_index, lr, radio_count, q0)
        # McAlpine et al. 2012: the reliabilities count the true counterparts in each bin (a
        # thousandth of the floor keeps a bin without candidates possible, not impossible)
        weights = np.bincount(pair_bins[fit], weights=reliability[fit], minlength=n_bins) + 1e-3 * floor_count
        q = weights / weights.sum() * q0
    lr = q[pair_bins] * density / n[pair_bins]
    reliability = _reliability(radio_index, lr, radio_count, q0)
    model = LikelihoodRatioModel(q0=q0, magnitude_edges=None, q=q, n=n)
    _choose_threshold(model, radio_index, lr, reliability, radio_count, threshold)
    return lr, reliability, model


def _reliability(radio_index, lr, radio_count, q0):
    lr_sum = np.bincount(radio_index, weights=lr, minlength=radio_count)
    return lr / (lr_sum[radio_index] + (1 - q0))


def _choose_threshold(model, radio_index, lr, reliability, radio_count, threshold):
    """Estimated completeness and reliability of accepting each radio source's best candidate
    above a threshold; the balanced threshold is where the two curves meet."""
    if len(lr) == 0:
        model.threshold = float(threshold) if threshold != "balanced" else np.inf
        model.completeness, model.reliability = 0.0, 1.0
        return
    best = first_per_group(radio_index, -lr)
    order = np.argsort(-lr[best])
    best_lr, best_reliability = lr[best][order], reliability[best][order]
    expected_true = np.cumsum(best_reliability)
    completeness = expected_true / max(model.q0 * radio_count, 1e-12)
    purity = expected_true / np.arange(1, len(best_lr) + 1)
    model.curve = {"lr": best_lr, "completeness": completeness, "reliability": purity}
    if threshold == "balanced":
        at = int(np.argmin(np.abs(completeness - purity)))
    else:
        above = np.flatnonzero(best_lr >= float(threshold))
        at = int(above[-1]) if len(above) else -1
    if at < 0:
        model.threshold, model.completeness, model.reliability = float(threshold), 0.0, 1.0
        return
    model.threshold = float(best_lr[at]) if threshold == "balanced" else float(threshold)
    model.completeness, model.reliability = float(min(completeness[at], 1.0)), float(purity[at])


def match_likelihood_ratio(radio_ra, radio_dec, radio_sigma, optical_index, optical_ra, optical_dec,
                           optical_magnitude, optical_sigma, radius_arcsec, floor_arcsec,
                           threshold="balanced", use_for_fit=None, search_radius=None, seed=0):
    """Every candidate within the radius with its LR and reliability, and the fitted model.

    Parameters
    ----------
    radio_ra, radio_dec : ndarray
        Radio positions (degrees).
    radio_sigma, optical_sigma : (ndarray, ndarray)
        Per-source positional sigma (arcsec) along RA and Dec; ``optical_sigma`` may be None.
    optical_index : hippo.crossmatch.zones.ZoneIndex
        The optical positions, indexed for a radius of at least ``radius_arcsec``.
    optical_magnitude : ndarray or None
        Optical magnitudes (NaN where missing); None for a purely positional LR.
    floor_arcsec : float
        Astrometric mismatch between the catalogues, added in quadrature on each axis.
    use_for_fit : ndarray of bool or None
        Radio sources whose surroundings estimate q(m) and Q0 (compact ones); all if None.
    search_radius : ndarray or None
        Per-source search radius (arcsec), for sources searched further out than ``radius_arcsec``
        (groups); the background is always counted within ``radius_arcsec``.

    Returns
    -------
    radio_index, optical_index, separation, lr, reliability : ndarray
        One entry per candidate pair, ordered by radio source.
    model : LikelihoodRatioModel
    """
    if search_radius is None:
        radio_index, optical_rows, separation = optical_index.pairs(radio_ra, radio_dec, radius_arcsec)
    else:
        radio_index, optical_rows, separation = optical_index.pairs(radio_ra, radio_dec, search_radius.max())
        inside = separation <= search_radius[radio_index]
        radio_index, optical_rows, separation = radio_index[inside], optical_rows[inside], separation[inside]
    dx, dy = offsets_arcsec(radio_ra[radio_index], radio_dec[radio_index],
                            optical_ra[optical_rows], optical_dec[optical_rows])
    optical_sx, optical_sy = optical_sigma if optical_sigma is not None else (0.0, 0.0)
    optical_sx_pairs = optical_sx[optical_rows] if np.ndim(optical_sx) else optical_sx
    optical_sy_pairs = optical_sy[optical_rows] if np.ndim(optical_sy) else optical_sy
    sigma_x = np.sqrt(radio_sigma[0][radio_index] ** 2 + optical_sx_pairs ** 2 + floor_arcsec ** 2)
    sigma_y = np.sqrt(radio_sigma[1][radio_index] ** 2 + optical_sy_pairs ** 2 + floor_arcsec ** 2)

    if optical_magnitude is None:
        edges = np.array([-np.inf, np.inf])
        optical_magnitude = np.zeros(len(optical_ra))
    else:
        edges = magnitude_edges(optical_magnitude)
    n_bins = len(edges)
    copies = int(np.clip(np.ceil(_RANDOM_POSITIONS_TARGET / len(radio_ra)), 1, 20))
    random_ra, random_dec = random_positions(radio_ra, radio_dec, copies, seed)
    random_index, random_rows, random_separation = optical_index.pairs(random_ra, random_dec, radius_arcsec)
    background = np.bincount(magnitude_bin(optical_magnitude[random_rows], edges), minlength=n_bins)
    background_area = len(random_ra) * np.pi * radius_arcsec ** 2

    fit = np.ones(len(radio_ra), dtype=bool) if use_for_fit is None else use_for_fit
    if search_radius is not None:
        fit = fit & (search_radius <= radius_arcsec)
    radio_nearest = np.full(len(radio_ra), np.inf)
    np.minimum.at(radio_nearest, radio_index, separation)
    random_nearest = np.full(len(random_ra), np.inf)
    np.minimum.at(random_nearest, random_index, random_separation)
    typical_optical = np.median(np.hypot(optical_sx, optical_sy)) / np.sqrt(2) if np.ndim(optical_sx) else 0.0
    radio_sigma_circular = np.sqrt((radio_sigma[0] ** 2 + radio_sigma[1] ** 2) / 2
                                   + typical_optical ** 2 + floor_arcsec ** 2)
    q0 = estimate_q0(radio_nearest[fit], random_nearest, radio_sigma_circular[fit], radius_arcsec)

    pair_bins = magnitude_bin(optical_magnitude[optical_rows], edges)
    lr, reliability, model = fit_and_score((radio_index, dx, dy), len(radio_ra), sigma_x, sigma_y, pair_bins,
                                           n_bins, background, background_area, q0, radius_arcsec,
                                           threshold, fit)
    model.magnitude_edges = edges
    return radio_index, optical_rows, separation, lr, reliability, model
