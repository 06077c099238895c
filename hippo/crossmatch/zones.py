"""Sky-partitioned pair search: declination zones sorted by RA, queried in bounded chunks.

The zones algorithm (Gray, Nieto-Santisteban & Szalay 2007, as in the SDSS SkyServer) sorts one
catalogue by (declination zone, RA); every query position then needs a handful of binary
searches, one per neighbouring zone and RA window. Sorting once and examining the candidates in
batches of bounded size keeps the search's memory bounded by the sorted catalogue plus one batch,
whatever the radius (``pair_batches``), and it is exact at the RA wrap and at the poles (the final cut is the true
great-circle separation).
"""

import numpy as np

# zone * _ZONE_STRIDE + ra sorts as one float64 key: RA windows reach from -180 to 540 degrees at
# most, so the stride only needs to exceed that span (key precision stays below 1e-4 arcsec).
_ZONE_STRIDE = 1024.0
_RA_OFFSET = 256.0
_CHUNK_QUERIES = 1 << 17
# Candidates examined at once: about 200 bytes each in flight, so some 13 MB (and up to 1 << 20 the
# smaller batches, staying in cache, were no slower for any method or radius we measured).
_BATCH_CANDIDATES = 1 << 16


def unit_vectors(ra_deg, dec_deg):
    """(N, 3) Cartesian unit vectors of RA/Dec in degrees."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cos_dec = np.cos(dec)
    return np.column_stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)])


def tangent_basis(ra_deg, dec_deg):
    """(N, 3) unit vectors pointing east and north on the tangent plane at RA/Dec in degrees."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    east = np.column_stack([-np.sin(ra), np.cos(ra), np.zeros_like(ra)])
    north = np.column_stack([-np.sin(dec) * np.cos(ra), -np.sin(dec) * np.sin(ra), np.cos(dec)])
    return east, north


def chord_to_arcsec(chord):
    return np.degrees(2 * np.arcsin(np.clip(chord / 2, 0, 1))) * 3600.0


def arcsec_to_chord(arcsec):
    return 2 * np.sin(np.radians(np.asarray(arcsec) / 3600.0) / 2)


class ZoneIndex:
    """One catalogue's positions sorted by (declination zone, RA), for searches within a radius.

    Parameters
    ----------
    ra_deg, dec_deg : array_like
        Positions in degrees (ICRS).
    radius_arcsec : float
        The largest search radius that will be asked of this index (sets the zone height).
    """

    def __init__(self, ra_deg, dec_deg, radius_arcsec):
        self.radius_arcsec = float(radius_arcsec)
        self.zone_height = max(self.radius_arcsec / 3600.0, 1e-5)
        ra = np.asarray(ra_deg, dtype=np.float64)
        dec = np.asarray(dec_deg, dtype=np.float64)
        key = self._key(np.floor((dec + 90.0) / self.zone_height), ra)
        self.order = np.argsort(key)
        self.key = key[self.order]
        self.ra = ra[self.order]
        self.dec = dec[self.order]

    @staticmethod
    def _key(zone, ra):
        return zone * _ZONE_STRIDE + (ra + _RA_OFFSET)

    def __len__(self):
        return len(self.key)

    def pairs(self, ra_deg, dec_deg, radius_arcsec=None):
        """Every (query, indexed) pair closer than the radius.

        Returns
        -------
        query_index, index, separation_arcsec : ndarray
            Row numbers in the query positions and in the indexed catalogue (its original order),
            and the great-circle separation; ordered by query row.
        """
        found = list(self.pair_batches(ra_deg, dec_deg, radius_arcsec))
        if not found:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), np.zeros(0)
        owner, index, separation = (np.concatenate(parts) for parts in zip(*found))
        by_query = np.argsort(owner, kind="stable")
        return owner[by_query], index[by_query], separation[by_query]

    def pair_batches(self, ra_deg, dec_deg, radius_arcsec=None, batch_candidates=None):
        """The pairs of ``pairs``, yielded in batches of about ``batch_candidates`` candidates
        (default ``_BATCH_CANDIDATES``).

        Each batch holds every pair of its queries (a query's pairs in the order ``pairs`` gives
        them), so nearest-neighbour choices can be made batch by batch in bounded memory however
        many candidates a wide radius brings.

        Yields
        ------
        query_index, index, separation_arcsec : ndarray
            As ``pairs`` returns them, but not ordered by query row.
        """
        radius = self.radius_arcsec if radius_arcsec is None else float(radius_arcsec)
        batch_candidates = _BATCH_CANDIDATES if batch_candidates is None else int(batch_candidates)
        if radius > self.radius_arcsec * (1 + 1e-12):
            raise ValueError(f"radius {radius} arcsec exceeds the index's {self.radius_arcsec} arcsec")
        ra = np.asarray(ra_deg, dtype=np.float64)
        dec = np.asarray(dec_deg, dtype=np.float64)
        # queries in key order: each binary search then starts near the previous one's answer
        query_order = np.argsort(self._key(np.floor((dec + 90.0) / self.zone_height), ra))
        ra, dec = ra[query_order], dec[query_order]
        for first_row in range(0, len(ra), _CHUNK_QUERIES):
            rows = slice(first_row, first_row + _CHUNK_QUERIES)
            owner, start, stop = self._spans(ra[rows], dec[rows], radius)
            owner += first_row
            counts = stop - start
            cuts = [0, len(owner)]
            if counts.sum() > batch_candidates:
                # Cut by candidate count, not query count (at a 1 degree radius a query has
                # thousands of candidates), and only between queries: spans grouped by query,
                # each query's in their order.
                by_query = np.argsort(owner, kind="stable")
                owner, start, stop, counts = owner[by_query], start[by_query], stop[by_query], counts[by_query]
                before = np.cumsum(counts) - counts
                query_starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
                batch = before[query_starts] // batch_candidates
                cuts = [*query_starts[np.r_[True, batch[1:] != batch[:-1]]], len(owner)]
            for low, high in zip(cuts[:-1], cuts[1:]):
                found_owner, index, separation = self._pairs_in_spans(
                    ra, dec, owner[low:high], start[low:high], stop[low:high], radius)
                yield query_order[found_owner], index, separation

    def _spans(self, ra, dec, radius_arcsec):
        """(query row, start, stop) of every key range of the index to search: by window, then
        zone, then query row."""
        radius_deg = radius_arcsec / 3600.0
        # RA half-width of the circle at this declination (Gray et al. 2007, eq. 5); the whole
        # zone where the circle reaches a pole.
        near_pole = np.abs(dec) + radius_deg >= 89.999
        r = np.radians(radius_deg)
        d = np.radians(dec)
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = np.degrees(np.arctan(np.sin(r) / np.sqrt(np.abs(np.cos(d - r) * np.cos(d + r)))))
        alpha = np.where(near_pole, 180.0, alpha * (1 + 1e-9) + 1e-9)
        low, high = ra - alpha, ra + alpha
        low = np.where(near_pole, -1.0, low)
        high = np.where(near_pole, 361.0, high)
        # windows: the main one, and its part wrapped across RA 0/360
        rows = [np.arange(len(ra)), np.flatnonzero(~near_pole & (low < 0)),
                np.flatnonzero(~near_pole & (high > 360))]
        lows = [low, low[rows[1]] + 360.0, np.full(len(rows[2]), -1.0)]
        highs = [high, np.full(len(rows[1]), 361.0), high[rows[2]] - 360.0]
        zone_low = np.floor((dec - radius_deg + 90.0) / self.zone_height)
        zone_high = np.floor((dec + radius_deg + 90.0) / self.zone_height)
        zones_spanned = int((zone_high - zone_low).max(initial=0)) + 1
        owners, starts, stops = [], [], []
        for window_rows, window_low, window_high in zip(rows, lows, highs):
            for step in range(zones_spanned):
                zone = zone_low[window_rows] + step
                inside = zone <= zone_high[window_rows]
                zone = zone[inside]
                owners.append(window_rows[inside])
                starts.append(np.searchsorted(self.key, self._key(zone, window_low[inside]), side="left"))
                stops.append(np.searchsorted(self.key, self._key(zone, window_high[inside]), side="right"))
        return tuple(np.concatenate(a) for a in (owners, starts, stops))

    def _pairs_in_spans(self, ra, dec, owner, start, stop, radius_arcsec):
        """The candidates in the spans that lie within the radius of their query."""
        counts = stop - start
        total = int(counts.sum())
        candidate = np.arange(total) - np.repeat(np.cumsum(counts) - counts - start, counts)
        owner = np.repeat(owner, counts)
        chord_squared = ((unit_vectors(self.ra[candidate], self.dec[candidate])
                          - unit_vectors(ra[owner], dec[owner])) ** 2).sum(axis=1)
        keep = chord_squared <= arcsec_to_chord(radius_arcsec) ** 2
        separation = chord_to_arcsec(np.sqrt(chord_squared[keep]))
        return owner[keep], self.order[candidate[keep]], separation


def pairs_within(ra1, dec1, ra2, dec2, radius_arcsec):
    """All pairs of catalogue 1 and catalogue 2 closer than ``radius_arcsec``.

    The larger catalogue is sorted into zones and the smaller one queried against it.

    Returns
    -------
    index1, index2, separation_arcsec : ndarray
        Ordered by ``index1``.
    """
    if len(ra2) >= len(ra1):
        return ZoneIndex(ra2, dec2, radius_arcsec).pairs(ra1, dec1)
    index2, index1, separation = ZoneIndex(ra1, dec1, radius_arcsec).pairs(ra2, dec2)
    order = np.argsort(index1, kind="stable")
    return index1[order], index2[order], separation[order]
