"""Positional choices among candidate pairs: each radio source's nearest, and mutual nearest pairs."""

import numpy as np


def first_per_group(group, score):
    """Index of the lowest ``score`` within each value of ``group`` (ties: the earlier pair)."""
    order = np.lexsort((score, group))
    grouped = group[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = grouped[1:] != grouped[:-1]
    return order[first]


def nearest(batches):
    """Each radio source's nearest candidate, from ``ZoneIndex.pair_batches``.

    Returns (radio_index, optical_index, separation), ordered by radio row. Chosen batch by batch
    (a batch holds all of its radio sources' candidates), so only the chosen pairs are kept.
    """
    chosen = []
    for radio_index, optical_index, separation in batches:
        first = first_per_group(radio_index, separation)
        chosen.append((radio_index[first], optical_index[first], separation[first]))
    return _by_radio(chosen)


def symmetric_best(batches, optical_count):
    """Pairs that are each other's nearest within the radius: the radio source's nearest optical
    source whose own nearest radio source it is (ties: the lower radio row). Unlike STILTS
    ``find=best`` there is no greedy pairing of the rest: a radio source whose nearest optical
    source is closer to another radio source stays unmatched.

    ``batches`` as for ``nearest``; returns the same arrays.
    """
    best_separation = np.full(optical_count, np.inf)
    best_radio = np.full(optical_count, -1, dtype=np.int64)
    chosen = []
    for radio_index, optical_index, separation in batches:
        if len(separation) == 0:
            continue
        first = first_per_group(radio_index, separation)
        chosen.append((radio_index[first], optical_index[first], separation[first]))
        # each optical source's nearest radio source in this batch, then against the earlier batches
        by_optical = np.lexsort((radio_index, separation, optical_index))
        sorted_optical = optical_index[by_optical]
        first = by_optical[np.r_[True, sorted_optical[1:] != sorted_optical[:-1]]]
        optical, radio, distance = optical_index[first], radio_index[first], separation[first]
        closer = (distance < best_separation[optical]) | ((distance == best_separation[optical])
                                                          & (radio < best_radio[optical]))
        best_separation[optical[closer]] = distance[closer]
        best_radio[optical[closer]] = radio[closer]
    radio_index, optical_index, separation = _by_radio(chosen)
    mutual = best_radio[optical_index] == radio_index
    return radio_index[mutual], optical_index[mutual], separation[mutual]


def _by_radio(chosen):
    if not chosen:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    radio_index, optical_index, separation = (np.concatenate(parts) for parts in zip(*chosen))
    order = np.argsort(radio_index)
    return radio_index[order], optical_index[order], separation[order]
