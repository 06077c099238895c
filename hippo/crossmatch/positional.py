"""Positional choices among candidate pairs: each radio source's nearest, and symmetric best pairs."""

import numpy as np


def first_per_group(group, score):
    """Index of the lowest ``score`` within each value of ``group`` (ties: the earlier pair)."""
    order = np.lexsort((score, group))
    grouped = group[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = grouped[1:] != grouped[:-1]
    return order[first]


def nearest(radio_index, optical_index, separation):
    """Pairs (as indices into the candidate arrays) that are each radio source's nearest candidate."""
    return np.sort(first_per_group(radio_index, separation))


def symmetric_best(radio_index, optical_index, separation):
    """Pairs that are each other's nearest within the radius, as STILTS ``find=best`` keeps them:
    the radio source's nearest optical source whose own nearest radio source it is."""
    from_radio = first_per_group(radio_index, separation)
    from_optical = first_per_group(optical_index, separation)
    return np.intersect1d(from_radio, from_optical)
