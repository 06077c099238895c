"""Positional matching on the sphere: a k-d tree on unit vectors, exact at the RA wrap and poles."""

import numpy as np
from scipy.spatial import cKDTree


def unit_vectors(ra_deg, dec_deg):
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cos_dec = np.cos(dec)
    return np.column_stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)])


def chord_to_arcsec(chord):
    return np.degrees(2 * np.arcsin(np.clip(chord / 2, 0, 1))) * 3600.0


def arcsec_to_chord(arcsec):
    return 2 * np.sin(np.radians(arcsec / 3600.0) / 2)


def nearest(from_xyz, to_xyz, radius_arcsec):
    """For each row of ``from_xyz``: index of the nearest row of ``to_xyz`` within the radius
    (-1 where none) and the separation in arcsec."""
    tree = cKDTree(to_xyz)
    chord, index = tree.query(from_xyz, k=1, distance_upper_bound=arcsec_to_chord(radius_arcsec))
    found = np.isfinite(chord)
    index = np.where(found, index, -1)
    separation = np.where(found, chord_to_arcsec(np.where(found, chord, 0.0)), np.nan)
    return index, separation


def match_nearest(radio_xyz, optical_xyz, radius_arcsec):
    """(radio index, optical index, separation arcsec) of each radio source's nearest counterpart."""
    index, separation = nearest(radio_xyz, optical_xyz, radius_arcsec)
    radio = np.flatnonzero(index >= 0)
    return radio, index[radio], separation[radio]


def match_symmetric_best(radio_xyz, optical_xyz, radius_arcsec):
    """Pairs that are each other's nearest neighbour within the radius (STILTS ``find=best``)."""
    radio, optical, separation = match_nearest(radio_xyz, optical_xyz, radius_arcsec)
    back, _ = nearest(optical_xyz[optical], radio_xyz, radius_arcsec)
    mutual = back == radio
    return radio[mutual], optical[mutual], separation[mutual]
