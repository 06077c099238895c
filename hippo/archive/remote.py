"""Remote surveys through astroquery (SkyView, hips2fits): timeouts, retries, a download cache, offline mode."""

import hashlib
import io
import json
import logging
import os
import threading
import time
import warnings

import numpy as np
from astropy import units as u
from astropy.io import fits

from hippo.archive.base import Survey, cache_dir
from hippo.cutouts.cut import cut_pixels, no_coverage
from hippo.cutouts.geometry import centred_tan_wcs, odd_pixels
from hippo.errors import HippoError
from hippo.overlays.beams import is_radio_survey
from hippo.quantities import parse_angle

log = logging.getLogger("hippo")

SKYVIEW_URL = "https://skyview.gsfc.nasa.gov/current/cgi/basicform.pl"
HIPS2FITS_URL = "https://alasky.cds.unistra.fr/hips-image-services/hips2fits"

# name: (service, the service's own survey id, native pixel size in arcsec, radio?, coverage)
REMOTE_SURVEYS = {
    "FIRST": ("skyview", "VLA FIRST (1.4 GHz)", 1.8, True, "1.4 GHz; North Galactic cap and equatorial strips, ~10,600 deg^2"),
    "NVSS": ("skyview", "NVSS", 15.0, True, "1.4 GHz; Dec > -40 deg"),
    "TGSS": ("skyview", "TGSS ADR1", 6.2, True, "150 MHz; Dec > -53 deg"),
    "SUMSS": ("skyview", "SUMSS 843 MHz", 11.0, True, "843 MHz; Dec < -30 deg"),
    "DSS2": ("skyview", "DSS2 Red", 1.0, False, "optical R; all sky"),
    "DSS2-Blue": ("skyview", "DSS2 Blue", 1.0, False, "optical B; all sky"),
    "DSS2-IR": ("skyview", "DSS2 IR", 1.0, False, "optical I; all sky"),
    "DSS": ("skyview", "DSS", 1.7, False, "optical; all sky"),
    "2MASS-J": ("skyview", "2MASS-J", 1.0, False, "1.2 um; all sky"),
    "2MASS-H": ("skyview", "2MASS-H", 1.0, False, "1.6 um; all sky"),
    "2MASS-K": ("skyview", "2MASS-K", 1.0, False, "2.2 um; all sky"),
    "WISE-W1": ("skyview", "WISE 3.4", 1.375, False, "3.4 um; all sky"),
    "WISE-W2": ("skyview", "WISE 4.6", 1.375, False, "4.6 um; all sky"),
    "WISE-W3": ("skyview", "WISE 12", 1.375, False, "12 um; all sky"),
    "WISE-W4": ("skyview", "WISE 22", 1.375, False, "22 um; all sky"),
    "SDSS-g": ("skyview", "SDSSg", 0.396, False, "optical g; SDSS footprint, ~14,500 deg^2"),
    "SDSS-r": ("skyview", "SDSSr", 0.396, False, "optical r; SDSS footprint, ~14,500 deg^2"),
    "SDSS-i": ("skyview", "SDSSi", 0.396, False, "optical i; SDSS footprint, ~14,500 deg^2"),
    "PanSTARRS-g": ("hips2fits", "CDS/P/PanSTARRS/DR1/g", 0.25, False, "optical g; Dec > -30 deg (HiPS)"),
    "PanSTARRS-r": ("hips2fits", "CDS/P/PanSTARRS/DR1/r", 0.25, False, "optical r; Dec > -30 deg (HiPS)"),
    "PanSTARRS-i": ("hips2fits", "CDS/P/PanSTARRS/DR1/i", 0.25, False, "optical i; Dec > -30 deg (HiPS)"),
    "DSS2-HiPS": ("hips2fits", "CDS/P/DSS2/red", 1.0, False, "optical R; all sky (HiPS)"),
}
ALIASES = {"WISE": "WISE-W1", "2MASS": "2MASS-K", "SDSS": "SDSS-r", "DSS2-RED": "DSS2", "PANSTARRS": "PanSTARRS-r",
           "VLA-FIRST": "FIRST"}


class RemoteError(HippoError):
    """A remote survey could not deliver a cutout (after retries, or offline with no cached copy)."""


class _EmptyAnswer(Exception):
    """The service answered but had no image: no coverage, never cached, never retried."""


class _Permanent(Exception):
    """The service refused the request (HTTP 4xx): retrying cannot help."""


def lookup_remote(name):
    """The canonical remote survey name for ``name`` (case-insensitive, aliases, ``skyview:``/``hips:``)."""
    text = str(name).strip()
    lowered = text.lower()
    if lowered.startswith(("skyview:", "hips:")):
        return text
    by_lower = {key.lower(): key for key in REMOTE_SURVEYS}
    by_lower.update({alias.lower(): target for alias, target in ALIASES.items()})
    return by_lower.get(lowered)


class RemoteSurvey(Survey):
    """A survey served by SkyView or hips2fits, reached through astroquery.

    Each download has a timeout and is retried with exponential back-off on time-outs, connection
    errors and server errors (5xx). Good answers are cached under ``$HIPPO_CACHE_DIR/downloads``
    (a failed or empty answer never is); ``offline=True`` (or ``HIPPO_OFFLINE=1``) answers from
    the cache only. The service is asked for a TAN grid centred exactly on the position with
    one spare pixel on each side, which is then cut to an odd size, so the position is at the
    centre of the cutout's central pixel. Service URLs can be overridden with ``HIPPO_SKYVIEW_URL``
    and ``HIPPO_HIPS2FITS_URL`` (mirrors, tests).

    Parameters
    ----------
    name : str
        A name from ``REMOTE_SURVEYS`` (or alias), ``skyview:<SkyView survey>`` or ``hips:<HiPS id>``.
    timeout : float
        Seconds to wait for each HTTP answer.
    retries : int
        Further attempts after a failed one.
    backoff : float
        Seconds before the first retry; doubled before each further one.
    offline : bool or None
        None reads ``HIPPO_OFFLINE``.
    """

    kind = "remote"

    def __init__(self, name, timeout=60.0, retries=2, backoff=1.0, offline=None):
        canonical = lookup_remote(name)
        if canonical is None:
            raise KeyError(name)
        if canonical.lower().startswith("skyview:"):
            service_id = canonical.split(":", 1)[1]
            self.service, self.service_id, self.native_scale, self.coverage = "skyview", service_id, 1.0, "SkyView"
            self.name = _safe_label(service_id)
        elif canonical.lower().startswith("hips:"):
            service_id = canonical.split(":", 1)[1]
            self.service, self.service_id, self.native_scale, self.coverage = "hips2fits", service_id, 1.0, "HiPS"
            self.name = _safe_label(service_id.replace("/", "_"))
        else:
            self.service, self.service_id, self.native_scale, _, self.coverage = REMOTE_SURVEYS[canonical]
            self.name = canonical
        self.is_radio = is_radio_survey(self.name) or (
            canonical in REMOTE_SURVEYS and REMOTE_SURVEYS[canonical][3])
        self.pixel_scale_arcsec = self.native_scale
        self.timeout, self.retries, self.backoff = float(timeout), int(retries), float(backoff)
        self.offline = _env_flag("HIPPO_OFFLINE") if offline is None else bool(offline)
        self._clients = threading.local()

    @property
    def url(self):
        if self.service == "skyview":
            return os.environ.get("HIPPO_SKYVIEW_URL", SKYVIEW_URL)
        return os.environ.get("HIPPO_HIPS2FITS_URL", HIPS2FITS_URL)

    def describe(self):
        return {"name": self.name, "kind": f"remote ({self.service})", "location": self.service_id,
                "coverage": self.coverage, "pixel_scale_arcsec": self.native_scale, "radio": self.is_radio}

    def cutout(self, coord, size, pixel_scale=None, resampling="interp"):
        size_arcsec = parse_angle(size, "--size").to_value(u.arcsec)
        pixel_arcsec = (self.native_scale if pixel_scale is None
                        else parse_angle(pixel_scale, "--pixel-scale").to_value(u.arcsec))
        n_pixels = odd_pixels(size_arcsec, pixel_arcsec)
        if pixel_scale is not None and resampling == "exact":
            return self._cut_exact(coord, size_arcsec, pixel_arcsec)
        icrs = coord.icrs
        # SkyView resamples every survey: nearest neighbour keeps the survey's own pixel values at
        # its native scale, bilinear for display.
        sampler = "NN" if pixel_scale is None else "LI"
        request = {"service": self.service, "survey": self.service_id, "ra": round(float(icrs.ra.deg), 8),
                   "dec": round(float(icrs.dec.deg), 8), "pixels": n_pixels + 2, "scale": round(pixel_arcsec, 6)}
        if self.service == "skyview":
            request["sampler"] = sampler
        key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        cached = cache_dir("downloads", self.service) / key[:2] / f"{key}.fits"
        origin = f"{self.service}:{self.service_id}"
        if cached.exists():
            content = cached.read_bytes()
        elif self.offline:
            raise RemoteError(f"{self.name}: not in the download cache and offline mode is on "
                              f"(HIPPO_OFFLINE / --offline)")
        else:
            try:
                content = self._download_with_retries(icrs, n_pixels + 2, pixel_arcsec, sampler)
            except _EmptyAnswer as exc:
                return no_coverage(origin, f"{self.name} has no data here ({exc})")
            from hippo.io import atomic_write_bytes

            atomic_write_bytes(cached, content)
        return _cut_answer(content, coord, n_pixels, origin, self.name)

    def _cut_exact(self, coord, size_arcsec, pixel_arcsec):
        """``exact`` resampling as for a local file: the survey's own pixels are fetched (a margin
        of two native pixels and one output pixel around the field) and resampled here with
        ``reproject_exact``, per-pixel units keeping their sums. The services' area-weighted
        samplers cannot be relied on for this: SkyView's Clip adds up the pixels it overlaps (a
        Jy/beam map would change by the ratio of pixel areas) and hips2fits has none."""
        from hippo.cutouts.cut import cut_image
        from hippo.io import Image

        margin = 2 * (2 * self.native_scale + pixel_arcsec)
        native = self.cutout(coord, f"{size_arcsec + margin}arcsec")
        if native.status in ("no_coverage", "error"):
            return native
        image = Image(data=native.data, wcs=native.wcs, header=native.header, path=native.origin)
        return cut_image(image, coord, f"{size_arcsec}arcsec", f"{pixel_arcsec}arcsec", resampling="exact")

    # -- network ---------------------------------------------------------------------------

    def _download_with_retries(self, coord, n_pixels, pixel_arcsec, sampler):
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                if self.service == "hips2fits":
                    content = self._download_hips2fits(coord, n_pixels, pixel_arcsec)
                else:
                    content = self._download_skyview(coord, n_pixels, pixel_arcsec, sampler)
                _check_answer(content)
                return content
            except (_EmptyAnswer, RemoteError):
                raise
            except _Permanent as exc:
                raise RemoteError(f"{self.name}: {exc}") from None
            except Exception as exc:  # timeouts, refused connections, 5xx, truncated files
                reason = _describe_failure(exc)
                if attempt == self.retries:
                    raise RemoteError(f"{self.name}: {reason} (after {self.retries + 1} attempts)") from None
                log.info("%s: %s; retrying in %.1f s", self.name, reason, delay)
                time.sleep(delay)
                delay *= 2

    def _download_skyview(self, coord, n_pixels, pixel_arcsec, sampler):
        import requests

        client = self._skyview_client()
        width = n_pixels * pixel_arcsec * u.arcsec
        # astroquery writes the position with 4 decimals (0.3"): HIPPO sends it to 1e-12 deg, in FK5
        # J2000 as SkyView expects with coordinates=J2000.
        fk5 = coord.fk5
        client.precise_position = f"{fk5.ra.deg:.12f}, {fk5.dec.deg:.12f}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                urls = client.get_image_list(position=coord, survey=[self.service_id], pixels=str(n_pixels),
                                             width=width, height=width, projection="Tan",
                                             coordinates="J2000", sampler=sampler, cache=False)
            except ValueError as exc:  # astroquery: not a survey SkyView offers
                raise _Permanent(str(exc)) from None
        if not urls:
            raise _EmptyAnswer("SkyView returned no image")
        response = requests.get(urls[0], timeout=self.timeout)
        _raise_for_status(response)
        return response.content

    def _skyview_client(self):
        # one astroquery client per thread: it keeps per-request state
        client = getattr(self._clients, "skyview", None)
        if client is None:
            from astroquery.skyview import SkyViewClass

            timeout = self.timeout

            class _SkyView(SkyViewClass):
                precise_position = None

                # astroquery's SkyView sends its form requests without a timeout and caches them in
                # ~/.astropy: HIPPO keeps its own cache and never waits for ever.
                def _request(self, *args, **kwargs):
                    kwargs["cache"] = False
                    if kwargs.get("timeout") is None:
                        kwargs["timeout"] = timeout
                    response = super()._request(*args, **kwargs)
                    _raise_for_status(response)
                    return response

                def _submit_form(self, input=None, cache=True, get_query_payload=False):
                    if input is not None and self.precise_position:
                        input = {**input, "Position": self.precise_position}
                    return super()._submit_form(input, cache=cache, get_query_payload=get_query_payload)

            client = _SkyView()
            client.URL = self.url
            self._clients.skyview = client
        return client

    def _download_hips2fits(self, coord, n_pixels, pixel_arcsec):
        from astroquery.hips2fits import hips2fitsClass

        client = hips2fitsClass()
        client.server = self.url
        client.timeout = self.timeout
        target = centred_tan_wcs(coord, n_pixels, pixel_arcsec)
        response = client.query_with_wcs_async(hips=self.service_id, wcs=target, format="fits", min_cut=0.5,
                                               max_cut=99.5, stretch="linear", cmap="Greys_r")
        _raise_for_status(response)
        return response.content


def _raise_for_status(response):
    if 400 <= response.status_code < 500:
        raise _Permanent(f"the service refused the request (HTTP {response.status_code})")
    response.raise_for_status()


def _check_answer(content):
    """A good answer is a FITS image with at least one finite, non-zero pixel."""
    if not content:
        raise _EmptyAnswer("empty answer")
    try:
        with fits.open(io.BytesIO(content)) as hdul:
            data = next((h.data for h in hdul if h.is_image and h.data is not None and h.data.ndim >= 2), None)
    except Exception as exc:
        raise ValueError(f"the answer is not a FITS image ({type(exc).__name__})") from None
    if data is None:
        raise _EmptyAnswer("the answer holds no image")
    finite = np.isfinite(data)
    if not finite.any() or not np.any(data[finite] != 0):
        raise _EmptyAnswer("the image is blank")


def _cut_answer(content, coord, n_pixels, origin, name):
    from hippo.io.images import image_from_hdul

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = image_from_hdul(fits.open(io.BytesIO(content)), origin, require_wcs=False, check_finite=False)
    if image.wcs is None:
        raise RemoteError(f"{name}: the service's image has no celestial WCS")
    image.data = image.data.astype(np.float32, copy=False)
    x, y = image.wcs.world_to_pixel(coord)
    return cut_pixels(image, float(x), float(y), n_pixels, n_pixels)


def _describe_failure(exc):
    import requests

    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"server error (HTTP {exc.response.status_code})"
    text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    return text


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _safe_label(text):
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in text).strip("_") or "survey"
