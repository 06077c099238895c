"""The demo's inputs: real FIRST images from the firstgalaxydata package, and a simulated optical sky.

The labelled FIRST images ship with the ``firstgalaxydata`` package (Griese et al. 2023) in two
forms: PNGs in ``galaxy_data.zip`` and an HDF5 file inside ``galaxy_data_h5.zip``. The PNGs are
read here: their pixels are identical to the HDF5 ``Img`` arrays (tests/demo checks one), their
file names carry the same RA/Dec (to 0.001 deg) and label as the HDF5 attributes, and a PNG is read
straight from the zip in a millisecond, whereas h5py needs a seekable file and walking the 200 MB
HDF5 through the compressed zip stream takes half a minute. ``import firstgalaxydata`` is avoided:
it imports torchvision.

The images are 300 x 300 pixels of 8-bit intensity (clipped at 3 sigma and scaled to 0-255 by
the package's authors) at 1.8"/px centred on their RA/Dec. They carry no WCS; the FITS written
here gets a TAN WCS with the reference pixel at the array centre (150.5, 150.5), as SkyView
writes FIRST cutouts. The array is written as it is, row 0 first: compared with the SkyView FITS
cutouts of the same MiraBest sources, this orientation (north up, east left) correlates and the
flipped ones do not (tests/demo checks it on ../shared/data).

Everything optical is simulated, and labelled so: there is no optical survey in the install.
"""

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table

from hippo.io import atomic_path, iau_name
from hippo.morphology.data import package_file
from hippo.provenance import fits_provenance_cards

FIRST_PIXEL_DEG = 1.8 / 3600.0
FIRST_BEAM_DEG = 5.4 / 3600.0
CLASS_CODES = {"0": "FRI", "1": "FRII", "2": "COMP", "3": "BENT"}  # firstgalaxydata's class numbers
ZIP_NAME = "galaxy_data.zip"

# The simulated optical sky: galaxy counts of roughly SDSS depth (r < 22.5). As with FIRST and
# SDSS, a fifth of the hosts are fainter than the catalogue's limit: for those the right answer is
# "no counterpart", and a nearest-neighbour match picks an unrelated galaxy when one is close.
BACKGROUND_PER_DEG2 = 15000.0
MAGNITUDE_RANGE = (16.0, 22.5)
HOST_MAGNITUDE_RANGE = (16.0, 21.5)
HOST_VISIBLE_FRACTION = 0.8
HOST_OFFSET_SIGMA_ARCSEC = 0.7  # radio-optical position scatter of a true host (per coordinate)
RADIO_ERROR_ARCSEC = 0.5        # quoted errors: with 0.2" optical and a 0.5" floor, 0.73" in all
OPTICAL_ERROR_ARCSEC = 0.2
FIELD_RADIUS_ARCMIN = 3.0


@dataclass
class LabelledImage:
    """One image of firstgalaxydata: pixels, the position it is centred on, label and origin."""

    pixels: np.ndarray
    ra: float
    dec: float
    label: str
    split: str
    catalogue: str
    member: str

    @property
    def name(self):
        return iau_name(SkyCoord(self.ra * u.deg, self.dec * u.deg))


def firstgalaxydata_zip():
    """Path of firstgalaxydata's ``galaxy_data.zip``; InputError when the package is not installed."""
    return package_file(ZIP_NAME)


def _parse_member(member):
    """(ra, dec, label, split, catalogue) from ``galaxy_data/<split>/<class>/<ra>_<dec>_<code>_<cat>.png``."""
    parts = member.split("/")
    ra, dec, code, catalogue = parts[-1][:-len(".png")].split("_", 3)
    return float(ra), float(dec), CLASS_CODES[code], parts[1], catalogue


def list_labelled(split="test", archive=None):
    """Positions and labels of every image of a split, as a Table (no pixels read)."""
    archive = archive or firstgalaxydata_zip()
    with zipfile.ZipFile(archive) as bundle:
        members = sorted(m for m in bundle.namelist() if m.startswith(f"galaxy_data/{split}/") and m.endswith(".png"))
    rows = [(*_parse_member(m), m) for m in members]
    table = Table(rows=rows, names=("ra", "dec", "label", "split", "catalogue", "member"))
    table["source"] = [iau_name(c) for c in SkyCoord(table["ra"] * u.deg, table["dec"] * u.deg)]
    return table


def read_labelled(members, archive=None):
    """The images of the given zip members (8-bit arrays, as the package ships them)."""
    from PIL import Image

    archive = archive or firstgalaxydata_zip()
    images = []
    with zipfile.ZipFile(archive) as bundle:
        for member in members:
            pixels = np.array(Image.open(io.BytesIO(bundle.read(member))))
            images.append(LabelledImage(pixels, *_parse_member(member), member))
    return images


def first_header(image):
    """FITS header of a firstgalaxydata image: TAN WCS at 1.8"/px on its centre, FIRST's beam."""
    ny, nx = image.pixels.shape
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRVAL1"], header["CRVAL2"] = image.ra, image.dec
    header["CRPIX1"], header["CRPIX2"] = (nx + 1) / 2.0, (ny + 1) / 2.0
    header["CDELT1"], header["CDELT2"] = -FIRST_PIXEL_DEG, FIRST_PIXEL_DEG
    header["CUNIT1"], header["CUNIT2"] = "deg", "deg"
    header["RADESYS"], header["EQUINOX"] = "FK5", 2000.0
    header["BMAJ"], header["BMIN"], header["BPA"] = FIRST_BEAM_DEG, FIRST_BEAM_DEG, 0.0
    header["TELESCOP"], header["SURVEY"] = "VLA", "FIRST"
    header["BUNIT"] = ("", "8-bit intensity, clipped at 3 sigma (firstgalaxydata)")
    header["OBJECT"] = image.name
    header["FGDLABEL"] = (image.label, "published morphology (firstgalaxydata)")
    header["FGDSPLIT"] = (image.split, "firstgalaxydata split")
    header["FGDCAT"] = (image.catalogue, "catalogue the label comes from")
    header["ORIGIN"] = ("firstgalaxydata " + image.member.split("/", 1)[1])[:68]
    header["COMMENT"] = "Real VLA FIRST 1.4 GHz image (Becker, White & Helfand 1995) from the"
    header["COMMENT"] = "firstgalaxydata package (Griese et al. 2023); WCS written by hippo demo:"
    header["COMMENT"] = "1.8 arcsec/px TAN centred on the package's RA/Dec (given to 0.001 deg)."
    return header


def write_first_fits(image, path, command="demo"):
    """Write a firstgalaxydata image as FITS (float32) with WCS and provenance; returns the path."""
    return write_fits(fits.PrimaryHDU(image.pixels.astype(np.float32), first_header(image)), path, command)


def write_fits(hdu, path, command="demo"):
    """Write ``hdu`` atomically with the provenance cards of ``command`` added; returns the path."""
    for keyword, value, comment in fits_provenance_cards(command):
        hdu.header[keyword] = (value, comment) if comment else value
    with atomic_path(path) as tmp:
        hdu.writeto(tmp)
    return Path(path)


def simulate_optical(radio, seed=20260101):
    """A simulated optical catalogue around radio sources, with the truth of which object is the host.

    Each radio source has a host galaxy offset by a Gaussian of 0.7" per coordinate; 80 % of
    the hosts are in the catalogue (r = 16-21.5 mag), the others are too faint for it. Every
    field of 3' radius gets unrelated galaxies at 15,000 per deg^2 with Euclidean-like counts
    (N(<m) rising as 10^(0.4 m)) between r = 16 and 22.5.

    Parameters
    ----------
    radio : Table
        With ``source``, ``ra``, ``dec`` (degrees).
    seed : int
        The random generator's seed: the same catalogue every run.

    Returns
    -------
    optical : Table
        ``id, ra, dec, ra_err, dec_err, r_mag`` (errors in arcsec; the ids say ``sim``: nothing
        here is observed).
    truth : Table
        ``source, host_id, host_ra, host_dec, offset_arcsec``: the true host of each radio source
        (``host_id`` empty where the host is too faint to be in the catalogue).
    """
    rng = np.random.default_rng(seed)
    ra0, dec0 = np.asarray(radio["ra"], float), np.asarray(radio["dec"], float)
    offsets = rng.normal(0.0, HOST_OFFSET_SIGMA_ARCSEC, size=(len(radio), 2)) / 3600.0
    host_ra = ra0 + offsets[:, 0] / np.cos(np.radians(dec0))
    host_dec = dec0 + offsets[:, 1]
    host_mag = rng.uniform(*HOST_MAGNITUDE_RANGE, size=len(radio))
    visible = rng.uniform(size=len(radio)) < HOST_VISIBLE_FRACTION

    field_area = np.pi * (FIELD_RADIUS_ARCMIN / 60.0) ** 2
    counts = rng.poisson(BACKGROUND_PER_DEG2 * field_area, size=len(radio))
    centre = np.repeat(np.arange(len(radio)), counts)
    radius = FIELD_RADIUS_ARCMIN / 60.0 * np.sqrt(rng.uniform(size=centre.size))
    angle = rng.uniform(0, 2 * np.pi, size=centre.size)
    background_dec = dec0[centre] + radius * np.sin(angle)
    background_ra = ra0[centre] + radius * np.cos(angle) / np.cos(np.radians(dec0[centre]))
    # Inverse transform of N(<m) proportional to 10^(0.4 m) between the magnitude limits.
    low, high = 10 ** (0.4 * np.array(MAGNITUDE_RANGE))
    background_mag = 2.5 * np.log10(rng.uniform(low, high, size=centre.size))

    ra = np.concatenate([host_ra[visible], background_ra]) % 360.0
    dec = np.concatenate([host_dec[visible], background_dec])
    order = np.lexsort((dec, ra))  # hosts must not stand out by their place in the table
    ids = np.empty(ra.size, dtype=object)
    ids[order] = [f"sim{i:06d}" for i in range(ra.size)]
    optical = Table({"id": ids.astype(str), "ra": ra, "dec": dec,
                     "ra_err": np.full(ra.size, OPTICAL_ERROR_ARCSEC), "dec_err": np.full(ra.size, OPTICAL_ERROR_ARCSEC),
                     "r_mag": np.round(np.concatenate([host_mag[visible], background_mag]), 2)})[order]
    host_ids = np.full(len(radio), "", dtype=object)
    host_ids[visible] = ids[:int(visible.sum())]
    optical.meta["comments"] = ["SIMULATED optical catalogue written by hippo demo (not observed data)"]
    truth = Table({"source": np.asarray(radio["source"]).astype(str), "host_id": host_ids.astype(str),
                   "host_ra": host_ra % 360.0, "host_dec": host_dec,
                   "offset_arcsec": np.round(np.hypot(*offsets.T) * 3600.0, 3)})
    return optical, truth


def simulate_optical_image(optical, ra, dec, size_arcmin=3.0, pixel_arcsec=0.4, seeing_arcsec=1.4,
                           seed=7):
    """A simulated r-band image (nanomaggies) of the catalogue around (ra, dec), as a PrimaryHDU.

    Point-like galaxies blurred by the seeing on Gaussian sky noise, on a north-up TAN grid of
    its own (0.4"/px, centred 10" away from the radio image centre, so that contours must be
    reprojected onto it).
    """
    rng = np.random.default_rng(seed)
    n = int(round(size_arcmin * 60 / pixel_arcsec)) | 1
    centre_dec = dec + 10.0 / 3600.0
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRVAL1"], header["CRVAL2"] = ra, centre_dec
    header["CRPIX1"] = header["CRPIX2"] = (n + 1) / 2.0
    header["CDELT1"], header["CDELT2"] = -pixel_arcsec / 3600.0, pixel_arcsec / 3600.0
    header["CUNIT1"], header["CUNIT2"] = "deg", "deg"
    header["RADESYS"] = "ICRS"
    header["BUNIT"] = "nanomaggy"
    header["FILTER"] = "r"
    header["OBJECT"] = "SIMULATED optical image"
    header["COMMENT"] = "SIMULATED by hippo demo from its simulated optical catalogue: not observed data."
    from astropy.wcs import WCS

    wcs = WCS(header)
    x, y = wcs.world_to_pixel(SkyCoord(np.asarray(optical["ra"]) * u.deg, np.asarray(optical["dec"]) * u.deg))
    inside = (x > -10) & (x < n + 10) & (y > -10) & (y < n + 10)
    sigma = seeing_arcsec / 2.3548 / pixel_arcsec
    flux = 10 ** (-0.4 * (np.asarray(optical["r_mag"])[inside] - 22.5))  # nanomaggies
    yy, xx = np.mgrid[0:n, 0:n]
    image = rng.normal(0.0, 0.01, size=(n, n))
    for xi, yi, fi in zip(x[inside], y[inside], flux):
        box = slice(max(int(yi) - 12, 0), int(yi) + 13), slice(max(int(xi) - 12, 0), int(xi) + 13)
        image[box] += fi / (2 * np.pi * sigma ** 2) * np.exp(
            -((xx[box] - xi) ** 2 + (yy[box] - yi) ** 2) / (2 * sigma ** 2))
    return fits.PrimaryHDU(image.astype(np.float32), header)
