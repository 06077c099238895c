"""Out-of-distribution check: is this input like the FIRST images the classifier learnt from?

Two layers, each with a reason a user can read:

1. Input statistics against what the training images show: pixel scale and beam (a 45" NVSS
   image is not FIRST; without a BMAJ card, the beam estimated from the noise's correlation
   between neighbouring pixels, which sees through resampling to fine pixels), units (an optical
   image in DN is not Jy/beam; without units, a sky level or a field crowded with sources gives
   an optical/IR image away), peak signal-to-noise (a blank field), the fraction of pixels above
   3 sigma (a crowded optical/IR field) and the width of the brightest component at half maximum
   (a low-resolution image resampled to 1.8"/px).
2. The Mahalanobis distance of the network's pooled features to the nearest class centre
   (Lee et al. 2018), with one shared covariance fitted on train; the threshold is a high
   percentile of the distances on valid.

All thresholds are fitted by ``fit_ood`` and stored in the model's JSON card.
"""

import numpy as np

# An input grid coarser than this many model pixels (1.8") per pixel cannot show FIRST's 5" beam.
MAX_PIXEL_SCALE_ARCSEC = 3.6
MAX_BEAM_ARCSEC = 10.0
# The beam estimated from the noise (``preprocess.noise_beam_arcsec``), used when there is no BMAJ
# card. On the 1279 raw FIRST files of ../shared/data (5.4" beam) it is 2.5-12.7" (median 5.5",
# 99th percentile 8.1"; the widest: bright extended sources whose sidelobes correlate the noise);
# FIRST smoothed to 15" gives 16.6" and more. 15" lies between, above every FIRST file.
MAX_NOISE_BEAM_ARCSEC = 15.0
MIN_PEAK_SNR = 6.0  # FIRST catalogues sources from ~1 mJy, 6-7 times its noise
# An image without BUNIT must look like an interferometric radio image in two more ways before it
# is classified (an optical/IR image without units got labels flagged only `uncertain`). Measured
# on the 1279 raw FIRST files of ../shared/data (first_mirabest, first_nvss_pairs): the sigma-clipped
# median is within -0.54 and +0.10 sigma of zero (interferometers do not measure the zero level),
# where an optical or IR image that keeps its sky is 11-18 sigma above zero (AllWISE W1 crops); and
# the model's 4.8' field holds at most 15 more separate components above 5 sigma than below -5 sigma
# (median 2; a bright source's artefacts come in both signs, up to 19 positive ones around 3C 196),
# where the same W1 crops, sky-subtracted, hold 25-31 (stars and galaxies; 14 and 18 in two crops
# that are too crowded by the occupied fraction already).
MAX_BACKGROUND_SIGMA = 2.0
MAX_EXCESS_SOURCES_5_SIGMA = 20
FEATURE_PERCENTILE = 99.5
# Coverage of the model's 4.8' field by the image: below the first an input is too small to say
# anything (an 18" postage stamp); below the second a label is at best a suggestion, since any
# emission beyond the image is unseen (a source at the edge of a survey, a cutout cut too small).
# hippo cutout's default 4.5' (89 % of the field) must stay classifiable: 80 % is a 4.3' square.
MIN_COVERAGE = 0.25
CONFIDENT_COVERAGE = 0.8
# Margins over the most extreme training image before an input statistic is called unlike it.
OCCUPIED_MARGIN = 1.5
FWHM_MARGIN = 1.5
_SHRINKAGE = 0.1


def fit_ood(train_features, train_labels, valid_features, train_occupied, train_core_fwhm):
    """Fit the OOD thresholds; returns a JSON-serialisable dict."""
    features = np.asarray(train_features, dtype=np.float64)
    classes = np.unique(train_labels)
    means = np.stack([features[train_labels == c].mean(axis=0) for c in classes])
    centred = features - means[np.searchsorted(classes, train_labels)]
    covariance = np.cov(centred, rowvar=False)
    # Shrink towards the diagonal: 1758 images for a few hundred features.
    covariance = (1 - _SHRINKAGE) * covariance + _SHRINKAGE * np.diag(np.diag(covariance))
    covariance += 1e-6 * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    precision = np.linalg.inv(covariance)
    state = {"class_means": means.tolist(), "precision": precision.tolist()}
    valid_distance = feature_distance(state, valid_features)
    state.update({
        "feature_distance_max": float(np.percentile(valid_distance, FEATURE_PERCENTILE)),
        "occupied_fraction_max": float(np.max(train_occupied) * OCCUPIED_MARGIN),
        "core_fwhm_arcsec_max": float(np.max(train_core_fwhm) * FWHM_MARGIN),
        "max_pixel_scale_arcsec": MAX_PIXEL_SCALE_ARCSEC, "max_beam_arcsec": MAX_BEAM_ARCSEC,
        "max_noise_beam_arcsec": MAX_NOISE_BEAM_ARCSEC,
        "min_peak_snr": MIN_PEAK_SNR,
    })
    return state


def feature_distance(state, features):
    """Mahalanobis distance of each feature vector to the nearest class centre."""
    means = np.asarray(state["class_means"])
    precision = np.asarray(state["precision"])
    diff = np.asarray(features, dtype=np.float64)[:, None, :] - means[None, :, :]
    squared = ((diff @ precision) * diff).sum(axis=2)  # one matrix product, not einsum's loop
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def input_reason(state, prepared):
    """Why an input's statistics are unlike the training images, or None when they are alike."""
    if prepared.coverage < MIN_COVERAGE:
        return (f"image covers {100 * prepared.coverage:.0f}% of the model's 4.8' field (needs "
                f"{100 * MIN_COVERAGE:.0f}%): too little of the sky around the source to classify it")
    if prepared.pixel_scale_arcsec > state["max_pixel_scale_arcsec"]:
        return (f'pixel scale {prepared.pixel_scale_arcsec:.3g}"/px is too coarse for a FIRST-resolution '
                f'classifier (needs <= {state["max_pixel_scale_arcsec"]:g}"/px)')
    if prepared.beam_arcsec is not None and prepared.beam_arcsec > state["max_beam_arcsec"]:
        return (f'beam {prepared.beam_arcsec:.3g}" is much coarser than the 5.4" FIRST beam the model '
                f'learnt from')
    noise_beam = getattr(prepared, "noise_beam_arcsec", None)
    # Cards fitted before this check have no limit stored: the module's applies to them.
    noise_beam_max = state.get("max_noise_beam_arcsec", MAX_NOISE_BEAM_ARCSEC)
    if prepared.beam_arcsec is None and noise_beam is not None and noise_beam > noise_beam_max:
        return (f'noise correlated over ~{noise_beam:.0f}" (beam estimated from the noise; no BMAJ card): '
                f'much coarser than the 5.4" FIRST beam the model learnt from')
    if prepared.bunit and "JY" not in prepared.bunit.upper():
        return f"units {prepared.bunit!r} are not a radio flux density (expected Jy/beam)"
    background = getattr(prepared, "background_sigma", None)
    if background is not None and abs(background) > MAX_BACKGROUND_SIGMA:
        return (f"background {background:.1f} sigma from zero and no BUNIT card: a sky level, not an "
                f"interferometric radio image (an optical/IR image?)")
    excess = getattr(prepared, "excess_sources_5_sigma", None)
    if excess is not None and excess > MAX_EXCESS_SOURCES_5_SIGMA:
        return (f"{excess} more separate sources above 5 sigma than below -5 sigma in the model's 4.8' "
                f"field and no BUNIT card (FIRST images: at most 15): a crowded field, an optical/IR image?")
    if prepared.peak_snr < state["min_peak_snr"]:
        return f"no emission above {state['min_peak_snr']:g} sigma (peak S/N {prepared.peak_snr:.1f}): blank field"
    if prepared.occupied_fraction > state["occupied_fraction_max"]:
        return (f"{100 * prepared.occupied_fraction:.1f}% of pixels above 3 sigma (training images: at most "
                f"{100 * state['occupied_fraction_max'] / OCCUPIED_MARGIN:.1f}%): a crowded field, not an "
                f"isolated radio source")
    if prepared.core_fwhm_arcsec > state["core_fwhm_arcsec_max"]:
        return (f'brightest component is {prepared.core_fwhm_arcsec:.0f}" wide at half maximum (training '
                f'images: at most {state["core_fwhm_arcsec_max"] / FWHM_MARGIN:.0f}"): resolution much '
                f'coarser than FIRST')
    return None


def feature_reason(state, distance):
    """Why the network's features say the input is unlike the training images, or None."""
    if distance > state["feature_distance_max"]:
        return (f"features far from every class (Mahalanobis distance {distance:.1f} > "
                f"{state['feature_distance_max']:.1f}, the {FEATURE_PERCENTILE:g}th percentile on valid)")
    return None
