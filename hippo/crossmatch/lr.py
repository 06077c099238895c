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

The candidates are never all held at once (at a 40" radius against a deep optical catalogue they
number some fifty per radio source, and ten times more around the random positions): they are
found in batches of radio sources, the background counts and nearest neighbours accumulated batch
by batch, and each radio source kept only as the sum and the largest of f over its candidates in
each magnitude bin, which is all that q(m), the reliabilities and the threshold need. A second pass
over the candidates keeps those above the threshold.
"""

from dataclasses import dataclass, field

import numpy as np

from hippo.crossmatch.positional import first_per_group
from hippo.crossmatch.zones import tangent_basis, unit_vectors

_MAG_BIN_WIDTH = 0.5
_RANDOM_OFFSET_ARCSEC = (60.0, 180.0)
_RANDOM_POSITIONS_TARGET = 200_000
_REFINE_ITERATIONS = 5
# Half a source: keeps bins of n(m) and q(m) with no background or no excess finite.
_FLOOR_COUNT = 0.5


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


def fit_q(cells, density_sum, fit_counts, n_bins, n, q0, fit, radius_arcsec):
    """q(m): the excess of candidates over the background, refined with the reliabilities.

    Parameters
    ----------
    cells : ndarray
        ``radio_index * n_bins + magnitude_bin`` of every (radio source, bin) with candidates.
    density_sum : ndarray
        Sum of f(dx, dy) over each cell's candidates: LR is q(m) f / n(m), so with q and n per
        bin this is all the refinement needs of the candidates.
    fit_counts : ndarray
        Candidates per bin of the radio sources in ``fit``.
    n_bins : int
        Number of magnitude bins (the last one is "no magnitude").
    n : ndarray
        Background sources per arcsec^2 per bin.
    q0 : float
        Fraction of radio sources with a counterpart in the optical catalogue.
    fit : ndarray of bool
        Radio sources whose candidates estimate q(m) (e.g. compact ones).
    radius_arcsec : float
        The radius within which ``fit_counts`` were counted.

    Returns
    -------
    q : ndarray
        Probability per bin, summing to ``q0``.
    """
    excess = np.maximum(fit_counts - n * fit.sum() * np.pi * radius_arcsec ** 2, _FLOOR_COUNT)
    q = excess / excess.sum() * q0
    cell_radio, cell_bin = np.divmod(cells, n_bins)
    cell_fit = fit[cell_radio]
    for _ in range(_REFINE_ITERATIONS):
        cell_lr = q[cell_bin] * density_sum / n[cell_bin]
        lr_sum = np.bincount(cell_radio, weights=cell_lr, minlength=len(fit))
        cell_reliability = cell_lr / (lr_sum[cell_radio] + (1 - q0))
        # McAlpine et al. 2012: the reliabilities count the true counterparts in each bin (a
        # thousandth of the floor keeps a bin without candidates possible, not impossible)
        weights = (np.bincount(cell_bin[cell_fit], weights=cell_reliability[cell_fit], minlength=n_bins)
                   + 1e-3 * _FLOOR_COUNT)
        q = weights / weights.sum() * q0
    return q


def _choose_threshold(model, best_lr, best_reliability, radio_count, threshold):
    """Estimated completeness and reliability of accepting each radio source's best candidate
    above a threshold; the balanced threshold is where the two curves meet."""
    if len(best_lr) == 0:
        model.threshold = float(threshold) if threshold != "balanced" else np.inf
        model.completeness, model.reliability = 0.0, 1.0
        return
    order = np.argsort(-best_lr)
    best_lr, best_reliability = best_lr[order], best_reliability[order]
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
                           threshold="balanced", use_for_fit=None, search_radius=None, seed=0,
                           batch_candidates=None):
    """The candidates within the radius that pass the LR threshold, with their LR and reliability,
    and the fitted model.

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
    threshold : "balanced" or float
        LR threshold; "balanced" picks it where estimated completeness equals reliability.
    use_for_fit : ndarray of bool or None
        Radio sources whose surroundings estimate q(m) and Q0 (compact ones); all if None.
    search_radius : ndarray or None
        Per-source search radius (arcsec), for sources searched further out than ``radius_arcsec``
        (groups); the background is always counted within ``radius_arcsec``.
    batch_candidates : int or None
        Candidates examined at once (``ZoneIndex.pair_batches``, its default if None). Peak memory
        grows with this, not with the radius; the results do not depend on it.

    Returns
    -------
    radio_index, optical_index, separation, lr, reliability : ndarray
        One entry per pair with LR at least ``model.threshold``, ordered by radio source.
    model : LikelihoodRatioModel
    """
    if optical_magnitude is None:
        edges = np.array([-np.inf, np.inf])
        optical_bins = np.zeros(len(optical_ra), dtype=np.int16)
    else:
        edges = magnitude_edges(optical_magnitude)
        optical_bins = magnitude_bin(optical_magnitude, edges).astype(np.int16)
    n_bins = len(edges)

    copies = int(np.clip(np.ceil(_RANDOM_POSITIONS_TARGET / len(radio_ra)), 1, 20))
    random_ra, random_dec = random_positions(radio_ra, radio_dec, copies, seed)
    background = np.zeros(n_bins, dtype=np.int64)
    random_nearest = np.full(len(random_ra), np.inf)
    for random_index, random_rows, random_separation in optical_index.pair_batches(
            random_ra, random_dec, radius_arcsec, batch_candidates):
        background += np.bincount(optical_bins[random_rows], minlength=n_bins)
        np.minimum.at(random_nearest, random_index, random_separation)
    n = np.maximum(background, _FLOOR_COUNT) / (len(random_ra) * np.pi * radius_arcsec ** 2)

    optical_sx, optical_sy = optical_sigma if optical_sigma is not None else (0.0, 0.0)

    def candidate_batches():
        """(radio_index, optical_rows, separation, magnitude bin, f) of the candidates, in batches
        that each hold all of their radio sources' candidates."""
        widest = radius_arcsec if search_radius is None else search_radius.max()
        for radio_index, optical_rows, separation in optical_index.pair_batches(
                radio_ra, radio_dec, widest, batch_candidates):
            if search_radius is not None:
                inside = separation <= search_radius[radio_index]
                radio_index, optical_rows, separation = radio_index[inside], optical_rows[inside], separation[inside]
            dx, dy = offsets_arcsec(radio_ra[radio_index], radio_dec[radio_index],
                                    optical_ra[optical_rows], optical_dec[optical_rows])
            optical_sx_pairs = optical_sx[optical_rows] if np.ndim(optical_sx) else optical_sx
            optical_sy_pairs = optical_sy[optical_rows] if np.ndim(optical_sy) else optical_sy
            sigma_x = np.sqrt(radio_sigma[0][radio_index] ** 2 + optical_sx_pairs ** 2 + floor_arcsec ** 2)
            sigma_y = np.sqrt(radio_sigma[1][radio_index] ** 2 + optical_sy_pairs ** 2 + floor_arcsec ** 2)
            yield radio_index, optical_rows, separation, optical_bins[optical_rows], \
                positional_density(dx, dy, sigma_x, sigma_y)

    fit = np.ones(len(radio_ra), dtype=bool) if use_for_fit is None else use_for_fit
    if search_radius is not None:
        fit = fit & (search_radius <= radius_arcsec)
    # First pass: what Q0 and q(m) need, per radio source and bin rather than per candidate.
    radio_nearest = np.full(len(radio_ra), np.inf)
    fit_counts = np.zeros(n_bins, dtype=np.int64)
    summaries = []
    for radio_index, _, separation, pair_bins, density in candidate_batches():
        np.minimum.at(radio_nearest, radio_index, separation)
        fit_counts += np.bincount(pair_bins[fit[radio_index]], minlength=n_bins)
        cell = radio_index * n_bins + pair_bins
        by_cell = np.argsort(cell, kind="stable")
        cell, density = cell[by_cell], density[by_cell]
        starts = np.flatnonzero(np.diff(cell, prepend=-1))
        summaries.append((cell[starts], np.add.reduceat(density, starts), np.maximum.reduceat(density, starts)))
    cells, density_sum, density_max = (np.concatenate(parts) for parts in zip(*summaries))
    # in cell order, so that the sums over cells do not depend on how the candidates were batched
    by_cell = np.argsort(cells)
    cells, density_sum, density_max = cells[by_cell], density_sum[by_cell], density_max[by_cell]

    typical_optical = np.median(np.hypot(optical_sx, optical_sy)) / np.sqrt(2) if np.ndim(optical_sx) else 0.0
    radio_sigma_circular = np.sqrt((radio_sigma[0] ** 2 + radio_sigma[1] ** 2) / 2
                                   + typical_optical ** 2 + floor_arcsec ** 2)
    q0 = estimate_q0(radio_nearest[fit], random_nearest, radio_sigma_circular[fit], radius_arcsec)
    q = fit_q(cells, density_sum, fit_counts, n_bins, n, q0, fit, radius_arcsec)

    cell_radio, cell_bin = np.divmod(cells, n_bins)
    lr_sum = np.bincount(cell_radio, weights=q[cell_bin] * density_sum / n[cell_bin], minlength=len(radio_ra))
    # the same expression as each candidate's LR below, so the balanced threshold is one of them exactly
    cell_best_lr = q[cell_bin] * density_max / n[cell_bin]
    best = first_per_group(cell_radio, -cell_best_lr)
    best_lr = cell_best_lr[best]
    model = LikelihoodRatioModel(q0=q0, magnitude_edges=edges, q=q, n=n)
    _choose_threshold(model, best_lr, best_lr / (lr_sum[cell_radio[best]] + (1 - q0)), len(radio_ra), threshold)

    # Second pass: the candidates that pass the threshold.
    accepted = []
    for radio_index, optical_rows, separation, pair_bins, density in candidate_batches():
        lr = q[pair_bins] * density / n[pair_bins]
        keep = lr >= model.threshold
        radio_index, lr = radio_index[keep], lr[keep]
        accepted.append((radio_index, optical_rows[keep], separation[keep], lr,
                         lr / (lr_sum[radio_index] + (1 - q0))))
    radio_index, optical_rows, separation, lr, reliability = (np.concatenate(parts) for parts in zip(*accepted))
    by_radio = np.argsort(radio_index, kind="stable")
    return (radio_index[by_radio], optical_rows[by_radio], separation[by_radio], lr[by_radio],
            reliability[by_radio], model)
