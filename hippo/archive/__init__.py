"""Surveys HIPPO cuts from: local FITS images, directories of tiles, remote SkyView/hips2fits surveys.

``get_survey(name_or_path)`` turns what a user typed after ``--survey`` into a Survey;
``surveys()`` lists what is available (``hippo surveys``).
"""

import json
import os
from pathlib import Path

from astropy.table import Table

from hippo.archive.base import Survey, cache_dir
from hippo.archive.local import LocalImageSurvey, TileDirectorySurvey
from hippo.archive.remote import REMOTE_SURVEYS, RemoteError, RemoteSurvey, lookup_remote
from hippo.errors import InputError, UsageError
from hippo.io.fitsfiles import as_path_list

__all__ = ["LocalImageSurvey", "RemoteError", "RemoteSurvey", "Survey", "TileDirectorySurvey", "cache_dir",
           "configured_surveys", "get_survey", "surveys"]


def configured_surveys():
    """Local surveys configured by name: ``HIPPO_SURVEYS`` (``NAME=PATH`` separated by ``os.pathsep``)
    and ``surveys.json`` (``{"NAME": "PATH"}``) in the user config dir (``$HIPPO_CONFIG_DIR``)."""
    configured = {}
    config_root = os.environ.get("HIPPO_CONFIG_DIR")
    if not config_root:
        from platformdirs import user_config_dir

        config_root = user_config_dir("hippo")
    config_file = Path(config_root) / "surveys.json"
    if config_file.is_file():
        try:
            names = json.loads(config_file.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(config_file, f"not valid JSON ({exc}); expected {{\"NAME\": \"PATH\"}}") from None
        if not isinstance(names, dict):
            raise InputError(config_file, f"not a JSON object of NAME: PATH (a JSON {type(names).__name__})")
        configured.update({str(k): str(v) for k, v in names.items()})
    for item in os.environ.get("HIPPO_SURVEYS", "").split(os.pathsep):
        if "=" in item:
            name, path = item.split("=", 1)
            configured[name.strip()] = path.strip()
    return configured


def get_survey(name_or_path, *, timeout=60.0, retries=2, offline=None, option="--survey"):
    """The survey a user named: a FITS file, a directory of FITS tiles, a configured or remote name.

    Parameters
    ----------
    name_or_path : str, Path or Survey
        A path to a FITS image (``.fits``, ``.fits.gz``, ``.fits.fz``) or to a directory of them;
        a configured local survey name (``configured_surveys``); a remote name (``FIRST``,
        ``NVSS``, ``DSS2``, ``WISE``, ``2MASS-K``, ``SDSS-r``, ...; see ``surveys()``);
        ``skyview:<any SkyView survey>`` or ``hips:<any HiPS id>``.
    timeout, retries, offline
        For remote surveys: seconds per HTTP answer, further attempts, cache-only mode.
    option : str
        The command-line option that named the survey, for error messages (``--reproject-to``).

    Returns
    -------
    Survey
        With ``.cutout(coord, size, pixel_scale=None)`` returning an object with ``.data``,
        ``.wcs``, ``.header`` and ``.status`` (``ok``, ``partial`` or ``no_coverage``).

    Examples
    --------
    >>> from hippo.io import parse_coordinate
    >>> survey = get_survey("../shared/data/lotss_dr1/P205+55-mosaic.fits")      # doctest: +SKIP
    >>> survey.cutout(parse_coordinate(205.05, 54.9), "1arcmin").status           # doctest: +SKIP
    'ok'
    """
    if isinstance(name_or_path, Survey):
        return name_or_path
    text = str(name_or_path).strip()
    if not text:
        raise UsageError(f"{option}: empty survey name")
    try:
        configured = configured_surveys()
    except InputError:
        # a broken surveys.json matters only where the text could be a configured name
        if not _looks_like_path(text):
            raise
        configured = {}
    label = None
    if text in configured:
        label, text = text, configured[text]
    path = Path(text).expanduser()
    if path.is_dir():
        return TileDirectorySurvey(path, name=label)
    if path.is_file():
        return LocalImageSurvey(path, name=label)
    if lookup_remote(text) is not None:
        return RemoteSurvey(text, timeout=timeout, retries=retries, offline=offline)
    if label is not None:
        raise InputError(text, f"configured survey {label!r} points to a path that does not exist")
    if _looks_like_path(text):
        raise InputError(text, "no such file or directory")
    raise UsageError(f"{option} {text!r}: not a FITS file, a directory of tiles or a known survey "
                     f"(see 'hippo surveys')")


def _looks_like_path(text):
    """Whether a --survey value names a file or directory (existing or not) rather than a survey name."""
    return (Path(text).expanduser().exists() or any(sep in text for sep in ("/", os.sep))
            or text.lower().endswith((".fits", ".fz", ".gz", ".fit")))


def surveys(local=None, output=None):
    """The surveys HIPPO can cut from, as a table (``hippo surveys``).

    Parameters
    ----------
    local : str, Path or a list of them, optional
        Also describe these paths (FITS files or tile directories); configured local surveys are
        always listed.
    output : str or Path, optional
        Also write the table there (format by extension), with HIPPO's provenance.

    Returns
    -------
    astropy.table.Table
        Columns ``name, kind, location, coverage, pixel_scale_arcsec, radio``. A local survey that
        cannot be used is listed with the reason (``unusable: ...``), as are the unusable tiles of
        a tile directory; ``meta["problems"]`` has one ``<path>: <reason>`` line for each, and
        ``meta["unusable_paths"]`` the ``local`` paths that cannot be used at all.
    """
    rows = []
    for name, path in configured_surveys().items():
        rows.append(_describe_or_explain(name, path))
    paths = [_describe_or_explain(None, path) for path in as_path_list(local)]
    rows.extend(paths)
    for name in REMOTE_SURVEYS:
        rows.append(RemoteSurvey(name).describe())
    names = ["name", "kind", "location", "coverage", "pixel_scale_arcsec", "radio"]
    table = Table(rows=[[row[n] for n in names] for row in rows], names=names,
                  dtype=[str, str, str, str, float, bool])
    if output is not None:
        from hippo.io import write_table
        from hippo.provenance import add_provenance

        write_table(add_provenance(table.copy(), "surveys", {"local": [str(path) for path in as_path_list(local)]}),
                    output)
    table.meta["problems"] = [problem for row in rows for problem in row.get("problems", ())]
    table.meta["unusable_paths"] = [row["location"] for row in paths if row.get("unusable")]
    return table


def _describe_or_explain(name, path):
    try:
        survey = get_survey(path)
        if name:
            survey.name = name
        return survey.describe()
    except Exception as exc:  # a broken configured survey is listed with the reason, not fatal
        return {"name": name or str(path), "kind": "local", "location": str(path),
                "coverage": f"unusable: {exc}", "pixel_scale_arcsec": float("nan"), "radio": False, "unusable": True,
                "problems": [str(exc) if isinstance(exc, InputError) else f"{path}: {exc}"]}
