"""Noise estimates, contour levels, stretches and RGB composites: the numbers behind the figure."""

import math

import numpy as np
import pytest

from hippo.errors import UsageError
from hippo.overlays.levels import (contour_levels, estimate_noise, flux_unit_scale, format_levels,
                                   local_noise_map)
from hippo.overlays.stretch import lupton_rgb, normalisation


def image_with_sources(sigma, shape=(400, 400), seed=0):
    """Gaussian noise of ``sigma`` plus 40 bright compact sources (extended wings over ~10 % of the pixels)."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0.0, sigma, shape)
    y, x = np.mgrid[-12:13, -12:13]
    for _ in range(40):
        x0, y0 = int(rng.uniform(12, shape[1] - 13)), int(rng.uniform(12, shape[0] - 13))
        stamp = rng.uniform(20, 500) * sigma * np.exp(-(x ** 2 + y ** 2) / (2 * 2.5 ** 2))
        data[y0 - 12: y0 + 13, x0 - 12: x0 + 13] += stamp
    return data


@pytest.mark.parametrize("sigma", [1.5e-4, 3.0])
def test_noise_estimate_within_two_percent_of_the_injected_sigma_despite_sources(sigma):
    data = image_with_sources(sigma)
    assert np.std(data) > 3 * sigma  # the sources dominate a plain rms
    assert estimate_noise(data) == pytest.approx(sigma, rel=0.02)


def test_noise_estimate_ignores_blank_pixels_and_subsamples_large_images():
    data = image_with_sources(2e-4, shape=(1200, 1000), seed=3)
    data[:, :300] = np.nan  # a partial cutout at the survey edge
    assert estimate_noise(data) == pytest.approx(2e-4, rel=0.02)
    assert math.isnan(estimate_noise(np.full((5, 5), np.nan)))


def test_scattered_exact_zeros_are_data_not_blank():
    """Only runs of zeros are taken for a zero-filled blank area: a few zeros in the noise, or the many
    scattered zeros of quantised data, give the estimate they always gave."""
    from hippo.overlays.levels import sky_and_noise

    rng = np.random.default_rng(9)
    few = image_with_sources(1.5e-4, seed=9)
    few.flat[rng.choice(few.size, 50, replace=False)] = 0.0
    quantised = np.round(rng.normal(0.0, 3.0, (400, 400)))  # noise of 3 steps: 13 % of the pixels are 0
    for data in (few, quantised):
        assert estimate_noise(data) == pytest.approx(sky_and_noise(data.ravel())[1], rel=1e-3)
    assert estimate_noise(quantised) == pytest.approx(3.0, rel=0.02)


def test_local_noise_map_follows_a_noise_that_changes_across_the_field():
    rng = np.random.default_rng(4)
    data = np.hstack([rng.normal(0, 1.0, (200, 200)), rng.normal(0, 3.0, (200, 200))])
    rms = local_noise_map(data, 40)
    assert np.median(rms[:, :160]) == pytest.approx(1.0, rel=0.1)
    assert np.median(rms[:, 240:]) == pytest.approx(3.0, rel=0.1)


def test_levels_rise_by_sqrt2_from_three_sigma_up_to_the_peak_with_a_negative_contour():
    positive, negative = contour_levels(0.15, peak=5.0, first=3, step="sqrt2")
    expected = [0.45 * math.sqrt(2) ** n for n in range(len(positive))]
    assert positive == pytest.approx(expected)
    assert positive[-1] <= 5.0 < positive[-1] * math.sqrt(2)
    assert len(positive) == 7  # 0.45 ... 3.6
    assert negative == pytest.approx(-0.45)


def test_levels_by_factors_of_two_and_a_source_fainter_than_the_first_level():
    positive, negative = contour_levels(1.0, peak=100.0, first=5, step="2")
    assert positive == [5, 10, 20, 40, 80]
    assert negative == -5
    assert contour_levels(1.0, peak=1.0, first=3)[0] == [3.0]  # the first level is always drawn


@pytest.mark.parametrize("bad", [{"step": "1"}, {"step": "two"}, {"first": -3}, {"noise_rms": float("nan")}])
def test_unusable_level_settings_are_refused_with_a_reason(bad):
    arguments = {"noise_rms": 1.0, "peak": 10.0, "first": 3, "step": "sqrt2", **bad}
    with pytest.raises(UsageError):
        contour_levels(**arguments)


def test_levels_of_jy_per_beam_images_are_printed_in_mjy_per_beam():
    factor, unit = flux_unit_scale("JY/BEAM ", 1.5e-4)
    assert (factor, unit) == (1e3, "mJy/beam")
    assert format_levels([4.5e-4, 6.364e-4], factor) == "0.45, 0.636"
    assert flux_unit_scale("DN", 3.0) == (1.0, "DN")


def test_zscale_and_percentile_stretches_span_the_expected_values():
    from astropy.visualization import ZScaleInterval

    data = image_with_sources(5.0, seed=5) + 100
    zscale = normalisation(data, "zscale")
    assert (zscale.vmin, zscale.vmax) == pytest.approx(ZScaleInterval().get_limits(data))
    percentile = normalisation(data, "percentile", percentile=99.0)
    assert (percentile.vmin, percentile.vmax) == pytest.approx(tuple(np.percentile(data, [0.5, 99.5])))
    asinh = normalisation(data, "asinh")
    # from 2 sigma below the sky to at least 50 sigma above it: the noise is a quiet light grey
    assert asinh.vmin == pytest.approx(100 - 2 * 5.0, abs=0.5)
    assert asinh.vmax >= 100 + 50 * 5.0 * 0.97
    assert 0.0 < asinh(np.median(data)) < 0.3
    assert asinh(data.max()) == 1.0
    with pytest.raises(UsageError):
        normalisation(data, "histeq")


def test_rgb_composite_has_a_black_sky_after_background_subtraction_and_a_bright_source():
    rng = np.random.default_rng(6)
    y, x = np.mgrid[:80, :80]
    source = np.exp(-((x - 40) ** 2 + (y - 40) ** 2) / 8.0)
    # bands with very different sky levels and units
    bands = [1000 + rng.normal(0, 10, (80, 80)) + 400 * source,
             5 + rng.normal(0, 0.1, (80, 80)) + 3 * source,
             rng.normal(0, 1e-3, (80, 80)) + 0.05 * source]
    rgb = lupton_rgb(*bands)
    assert rgb.shape == (80, 80, 3) and rgb.dtype == np.uint8
    assert np.median(rgb[:20, :20]) < 30          # sky: near black in every band
    assert (rgb[40, 40] > 100).all()              # source: bright in all three (similar S/N)


def test_a_noiseless_model_on_a_zero_background_keeps_its_zeros_as_background():
    model = np.zeros((200, 200))
    model[90:110, 90:110] = np.linspace(0.1, 1.0, 400).reshape(20, 20)  # one source, no noise
    assert estimate_noise(model) == pytest.approx(0.0, abs=1e-12)  # not the spread of the source's pixels
