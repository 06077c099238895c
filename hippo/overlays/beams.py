"""The restoring beam of a radio image: BMAJ/BMIN/BPA from the header, else the survey's known beam."""

from dataclasses import dataclass
from pathlib import Path

# Published resolutions (FWHM, arcsec) of the surveys HIPPO reads, used when a cutout service
# dropped the BMAJ/BMIN cards (SkyView does).
SURVEY_BEAMS_ARCSEC = {
    "FIRST": 5.4,   # Becker, White & Helfand 1995
    "NVSS": 45.0,   # Condon et al. 1998
    "LoTSS": 6.0,   # Shimwell et al. 2019 (DR1/DR2)
    "VLASS": 2.5,   # Lacy et al. 2020
    "SUMSS": 45.0,  # Mauch et al. 2003 (x cosec|dec|, ignored)
    "TGSS": 25.0,   # Intema et al. 2017
}


# Names (upper case) under which radio surveys appear in cutout indexes and stores.
RADIO_SURVEY_NAMES = tuple(name.upper() for name in SURVEY_BEAMS_ARCSEC) + (
    "LOFAR", "RACS", "EMU", "MIGHTEE", "WENSS", "GLEAM", "VLA", "ATCA", "MEERKAT", "ASKAP", "GMRT", "RADIO")


def is_radio_survey(name):
    """Whether a survey name (``FIRST``, ``NVSS``, ``LoTSS-DR2``, ``VLA FIRST (1.4 GHz)``...) is a radio survey."""
    words = str(name or "").upper().replace("-", " ").replace("_", " ").replace("(", " ").split()
    return any(word.startswith(radio) for word in words for radio in RADIO_SURVEY_NAMES)


def is_radio_header(header):
    """Whether a FITS header is a radio map's: Jy/beam units or a restoring beam (BMAJ)."""
    unit = str(header.get("BUNIT", "")).replace(" ", "").lower()
    return "beam" in unit or "BMAJ" in header


def is_radio_image(image):
    """Whether an image is a radio map: a known radio survey, or a beam in its header or BUNIT."""
    return survey_of(image) is not None or is_radio_header(image.header)


@dataclass(frozen=True)
class Beam:
    """A beam ellipse: FWHM axes in arcsec and position angle in degrees east of north."""

    major_arcsec: float
    minor_arcsec: float
    angle_deg: float
    origin: str  # "header" or the survey whose known beam was assumed


def survey_of(image):
    """The radio survey an image comes from (``FIRST``, ``NVSS``, ``LoTSS``, ...), or None.

    Read from the SURVEY card, else recognised from the header (TELESCOP, OBSERVER, FIELDNAM,
    pixel scale) or the file name, as cutout services write them.
    """
    header = image.header
    survey = str(header.get("SURVEY", "")).strip()
    for name in SURVEY_BEAMS_ARCSEC:
        if survey.upper().startswith(name.upper()):
            return name
    telescope = str(header.get("TELESCOP", "")).strip().upper()
    observer = str(header.get("OBSERVER", "")).strip().upper()
    if telescope == "LOFAR" or "LOTSS" in observer:
        return "LoTSS"
    if "NVSS" in observer:
        return "NVSS"
    if "FIRST" in str(header.comments["FIELDNAM"] if "FIELDNAM" in header else "").upper():
        return "FIRST"
    filename = Path(image.path).name.upper()
    for name in SURVEY_BEAMS_ARCSEC:
        if name.upper() in filename:
            return name
    if telescope == "VLA" and image.wcs is not None:
        scale = image.pixel_scale_arcsec
        if abs(scale - 1.8) < 0.05:
            return "FIRST"
        if abs(scale - 15.0) < 0.5:
            return "NVSS"
    return None


def beam_of(image):
    """The image's beam: from BMAJ/BMIN/BPA where the header has them, else the survey's; or None."""
    from_header = image.beam_deg
    if from_header is not None and from_header[0] > 0 and from_header[1] > 0:
        major, minor, angle = from_header
        return Beam(major * 3600.0, minor * 3600.0, angle, "header")
    survey = survey_of(image)
    if survey is None:
        return None
    size = SURVEY_BEAMS_ARCSEC[survey]
    return Beam(size, size, 0.0, survey)
