"""Multi-component radio sources: components a source finder listed apart (FRII lobes, a core),
grouped back into one source whose host is sought near its core or flux-weighted centre.

Resolved components pair up: two are linked when each is the other's nearest resolved neighbour
(major axis above 1.5 times the catalogue's typical, i.e. beam-sized, component) and they lie
within ``link_factor`` times their mean major axis, as the two lobes of a double do. Compact components
are never linked to each other (unrelated point sources are the common case at any depth); a
compact component close to the centre of a linked group is taken as its core, and the host is
sought there. Every group is flagged for visual inspection.
"""

from dataclasses import dataclass

import numpy as np

from hippo.crossmatch.positional import first_per_group
from hippo.crossmatch.zones import pairs_within, unit_vectors

MAX_LINK_ARCSEC = 300.0


@dataclass
class Groups:
    """Groups of components: ``label`` per component; per group its ``members`` (component
    indices, brightest first), centre ``ra``/``dec`` (the core if one was found, else the
    flux-weighted centre), ``extent_arcsec`` and ``has_core``."""

    label: np.ndarray
    members: list
    ra: np.ndarray
    dec: np.ndarray
    extent_arcsec: np.ndarray
    has_core: np.ndarray


def group_components(ra_deg, dec_deg, flux, major_arcsec, link_factor=4.0):
    """Group the components of multi-component radio sources.

    Parameters
    ----------
    ra_deg, dec_deg : ndarray
        Component positions (degrees).
    flux : ndarray
        Component fluxes (any unit; used as weights).
    major_arcsec : ndarray
        Component major axes (arcsec, FWHM as source finders list them).
    link_factor : float
        Link components within this many major axes of the larger (resolved) component.

    Returns
    -------
    Groups
        Only groups of two or more components are listed; ``label`` is -1 for lone components.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    count = len(ra_deg)
    major = np.nan_to_num(np.asarray(major_arcsec, dtype=float), nan=0.0)
    flux = np.clip(np.nan_to_num(np.asarray(flux, dtype=float), nan=0.0), 0, None)
    beam = np.median(major[major > 0]) if (major > 0).any() else 0.0
    resolved = major > 1.5 * beam
    no_groups = Groups(np.full(count, -1), [], np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, bool))
    if not resolved.any():
        return no_groups
    candidates = np.flatnonzero(resolved)
    reach = min(link_factor * major[candidates].max(), MAX_LINK_ARCSEC)
    first, second, separation = pairs_within(ra_deg[candidates], dec_deg[candidates],
                                             ra_deg[candidates], dec_deg[candidates], reach)
    first, second = candidates[first], candidates[second]
    eligible = (first != second) & (separation <= np.minimum(link_factor * (major[first] + major[second]) / 2,
                                                              MAX_LINK_ARCSEC))
    if not eligible.any():
        return no_groups
    # only mutual nearest eligible neighbours link: lobes pair up, and the lobes of neighbouring
    # sources do not chain whole fields together
    first, second, separation = first[eligible], second[eligible], separation[eligible]
    nearest_of = np.full(count, -1)
    nearest_of[first[first_per_group(first, separation)]] = second[first_per_group(first, separation)]
    mutual = (nearest_of[first] == second) & (nearest_of[second] == first) & (first < second)
    first, second = first[mutual], second[mutual]
    graph = coo_matrix((np.ones(len(first)), (first, second)), shape=(count, count))
    _, component_label = connected_components(graph, directed=False)
    sizes = np.bincount(component_label)
    grouped = sizes[component_label] > 1
    group_ids, label = np.unique(component_label[grouped], return_inverse=True)
    full_label = np.full(count, -1)
    full_label[grouped] = label
    xyz = unit_vectors(ra_deg, dec_deg)
    members, centres, extent = [], [], []
    for group in range(len(group_ids)):
        indices = np.flatnonzero(full_label == group)
        weights = flux[indices] if flux[indices].sum() > 0 else np.ones(len(indices))
        centre = (xyz[indices] * weights[:, None]).sum(axis=0)
        centres.append(centre / np.linalg.norm(centre))
        members.append(indices)
        distance = np.degrees(np.arccos(np.clip(xyz[indices] @ centres[-1], -1, 1))) * 3600
        extent.append(2 * distance.max())
    centres, extent = np.array(centres), np.array(extent)
    centre_ra = np.degrees(np.arctan2(centres[:, 1], centres[:, 0])) % 360
    centre_dec = np.degrees(np.arcsin(np.clip(centres[:, 2], -1, 1)))
    # the core: the compact component nearest each group's centre, within 15% of its extent
    compact = np.flatnonzero(~resolved)
    has_core = np.zeros(len(members), dtype=bool)
    if len(compact):
        group_index, core_index, core_separation = pairs_within(
            centre_ra, centre_dec, ra_deg[compact], dec_deg[compact], min(0.15 * extent.max(), MAX_LINK_ARCSEC))
        near = core_separation <= np.maximum(0.15 * extent[group_index], beam)
        group_index, core_index, core_separation = group_index[near], compact[core_index[near]], core_separation[near]
        for position in first_per_group(group_index, core_separation):
            group, core = group_index[position], core_index[position]
            if full_label[core] < 0:
                members[group] = np.append(members[group], core)
                full_label[core] = group
                centre_ra[group], centre_dec[group] = ra_deg[core], dec_deg[core]
                has_core[group] = True
    members = [m[np.argsort(-flux[m], kind="stable")] for m in members]
    return Groups(full_label, members, centre_ra, centre_dec, extent, has_core)
