"""``hippo demo``: the whole chain, offline, on real FIRST images that ship with the install.

Inputs: a handful of real VLA FIRST images from the ``firstgalaxydata`` package (written as FITS
with a WCS), the positions of all 200 sources of its test split as a radio catalogue, and a
simulated optical catalogue and image (there is no optical survey in the install; everything
simulated says so). Then, each step timed and recorded in one catalogue store: cutouts, morphology
classification, a radio-optical cross-match checked against the simulation's truth, an overlay of
radio contours on the optical image, a backup of the products to a local directory and its deep
verification. The summary says where everything is.
"""

import contextlib
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hippo.errors import EXIT_OK, EXIT_PARTIAL, InputError, UsageError

MARKER = ".hippo-demo"          # marks a directory written by the demo (its own entries are replaced)
DEMO_ENTRIES = (MARKER, "data", "products", "backup")  # all the demo writes at the top of its directory
IMAGES_PER_CLASS = 2            # FIRST images written as FITS, classified and cut
CUTOUT_SIZE = "3arcmin"
XMATCH_RADIUS = "5arcsec"
OVERLAY_SIZE = "2.5arcmin"
MARKER_RADIUS_ARCSEC = 30.0     # optical objects marked on the overlay: the candidates near the source
FIRST_CONTOURS = [1, 2, 4, 8, 16, 32, 64, 128]  # 8-bit units; 1 is the 3-sigma clip of the source image


@dataclass
class Step:
    """One step of the demo: what it did and how long it took."""

    name: str
    seconds: float = 0.0
    status: str = "ok"            # ok, skipped, failed
    lines: list = field(default_factory=list)


class _Steps:
    """Runs the steps, times them and prints one line per step as it finishes."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.done = []

    def say(self, text):
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def run(self, name, function, *arguments):
        step = Step(name)
        started = time.perf_counter()
        try:
            function(step, *arguments)
        except _Skip as skip:
            step.status = "skipped"
            step.lines = [str(skip)]
        except Exception as exc:  # one step failing must not hide what the others show
            if name == "inputs" or out_of_space(exc):  # a full disk fails every later step too
                raise
            step.status = "failed"
            step.lines = [f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"]
        step.seconds = time.perf_counter() - started
        self.done.append(step)
        self.say(f"[{step.seconds:6.1f} s] {name}: " + ("; ".join(step.lines) if step.lines else step.status))


class _Skip(Exception):
    """A step that cannot run in this install (no trained model): skipped, and said so."""


def demo(output="hippo-demo", quiet=False):
    """Run the whole HIPPO chain offline on data that ships with the install.

    Parameters
    ----------
    output : str or Path
        Directory to write into (created). An existing directory is replaced only when an
        earlier demo wrote it; anything else there is refused.
    quiet : bool
        Print nothing; the summary is still returned.

    Returns
    -------
    dict
        ``output``, ``store`` (paths), ``steps`` (list of :class:`Step`), ``tables`` (rows per
        store table) and ``seconds`` (total).

    Examples
    --------
    >>> import hippo
    >>> summary = hippo.demo("hippo-demo")                              # doctest: +SKIP
    >>> summary["tables"]["classifications"]                            # doctest: +SKIP
    8
    """
    from hippo.demonstration.data import firstgalaxydata_zip
    from hippo.store import Store

    firstgalaxydata_zip()  # before writing anything: without the images there is no demo
    root, created = _prepare_output(Path(output))
    started = time.perf_counter()
    steps = _Steps(quiet)
    steps.say(f"HIPPO demo into {root}/ (offline; inputs: real FIRST images from firstgalaxydata, "
              f"a SIMULATED optical sky)")
    context = {"root": root, "data": root / "data", "products": root / "products", "backup": root / "backup"}
    try:
        with Store.open(context["products"] / "hippo.db") as store:
            context["store"] = store
            for name, function in _STEPS:
                steps.run(name, function, context)
            store = context["store"]  # the backup step reopens it
            tables = {name: store.count(name) for name in store.tables()}
            store.close()
    except BaseException as exc:
        _remove_what_was_written(root, created)  # no half-built demo: it would pass for a finished one
        if out_of_space(exc):
            raise InputError(root, "no space left on device") from exc
        raise
    total = time.perf_counter() - started
    summary = {"output": root, "store": context["products"] / "hippo.db", "steps": steps.done,
               "tables": tables, "seconds": total}
    if not quiet:
        print(format_summary(summary), flush=True)
    return summary


def _prepare_output(root):
    """The output directory, emptied of an earlier demo's own folders (and only those), and the
    topmost directory made for it (None when it existed).

    Anything else in it is the user's: the demo refuses to run rather than delete it, even in a
    directory an earlier demo wrote (``-o .`` once, then files of one's own beside it).
    """
    created = None
    for ancestor in (root, *root.parents):
        if ancestor.exists():
            break
        created = ancestor
    if root.exists():
        if not root.is_dir():
            raise UsageError(f"-o {root}: exists and is not a directory")
        present = sorted(entry.name for entry in root.iterdir())
        if present:
            if MARKER not in present:
                raise UsageError(f"-o {root}: exists and is not an earlier demo's directory; give a new one")
            foreign = [name for name in present if name not in DEMO_ENTRIES]
            if foreign:
                raise UsageError(f"-o {root}: holds files the demo did not write ({', '.join(foreign[:3])}"
                                 f"{', ...' if len(foreign) > 3 else ''}); give a new directory or move them")
    try:
        if root.exists():
            for name in present:
                _remove(root / name)
        root.mkdir(parents=True, exist_ok=True)
        (root / MARKER).write_text("written by hippo demo; the next demo into this directory replaces it\n")
    except OSError as exc:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise InputError(root, "no space left on device" if out_of_space(exc)
                         else f"cannot write here ({exc.strerror or exc})") from None
    return root.resolve(), created


def _remove(entry):
    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


def _remove_what_was_written(root, created):
    """Remove what this demo wrote: the directories made for it, or, in a directory that was
    there before (empty, or an earlier demo's, emptied), only the demo's own entries."""
    if created is not None:
        shutil.rmtree(created, ignore_errors=True)
        return
    for name in DEMO_ENTRIES:
        with contextlib.suppress(OSError):
            _remove(root / name)


def out_of_space(exc):
    """A full disk (or quota), as an OSError, an SQLite error or an InputError that says so."""
    from hippo.io.atomic import disk_full

    text = str(exc).lower()
    return disk_full(exc) or "no space left on device" in text or "database or disk is full" in text


# -- the steps, in order --------------------------------------------------------------------------

def _inputs(step, context):
    """Real FIRST images as FITS, the radio catalogue, the simulated optical catalogue and image."""
    from hippo.demonstration import data
    from hippo.io import write_table

    store, folder = context["store"], context["data"]
    archive = data.firstgalaxydata_zip()
    labelled = data.list_labelled("test", archive)
    chosen = [row["member"] for label in ("FRI", "FRII", "BENT", "COMP")
              for row in labelled[labelled["label"] == label][:IMAGES_PER_CLASS]]
    with store.run("demo inputs", {"split": "test", "images_per_class": IMAGES_PER_CLASS},
                   inputs=[archive]) as recorded:
        images = data.read_labelled(chosen, archive)
        first_dir = folder / "first"
        paths = [data.write_first_fits(image, first_dir / f"{image.name}.fits") for image in images]
        radio = labelled["source", "ra", "dec", "label", "catalogue"]
        # Position errors in arcsec, as the likelihood ratio needs them: together with the optical
        # ones and the matcher's 0.5" astrometric floor they add up to the simulated host scatter.
        radio["ra_err"] = radio["dec_err"] = np.full(len(radio), data.RADIO_ERROR_ARCSEC)
        radio.meta["comments"] = ["FIRST radio sources of the firstgalaxydata test split (positions to 0.001 deg)"]
        write_table(radio, folder / "radio.csv")
        optical, truth = data.simulate_optical(radio)
        write_table(optical, folder / "optical_SIMULATED.csv")
        write_table(truth, folder / "optical_truth_SIMULATED.csv")
        sources = radio["source", "ra", "dec"]
        sources["origin"] = "firstgalaxydata test split"
        store.insert("sources", sources, run_id=recorded.id, replace_on="source")
        # The overlay's source: an FRII whose (simulated) host made it into the optical catalogue.
        has_host = {source for source, host in zip(truth["source"], truth["host_id"]) if host}
        showcase = next(image for image in images if image.label == "FRII" and image.name in has_host)
        hdu = data.simulate_optical_image(optical, showcase.ra, showcase.dec)
        data.write_fits(hdu, folder / "optical_image_SIMULATED.fits")
    context.update(images=images, first_paths=paths, first_dir=first_dir, radio=folder / "radio.csv",
                   optical=folder / "optical_SIMULATED.csv", truth=truth, showcase=showcase,
                   optical_image=folder / "optical_image_SIMULATED.fits")
    counts = ", ".join(f"{sum(i.label == label for i in images)} {label}" for label in ("FRI", "FRII", "BENT", "COMP"))
    step.lines = [f"{len(paths)} real FIRST images as FITS ({counts}) in {_rel(first_dir, context)}/",
                  f"radio catalogue of {len(radio)} FIRST sources",
                  f"SIMULATED optical catalogue of {len(optical)} objects (with its truth) and image"]


def _cutouts(step, context):
    from astropy.table import Table

    from hippo.cutouts import cutout

    targets = Table({"name": [i.name for i in context["images"]], "ra": [i.ra for i in context["images"]],
                     "dec": [i.dec for i in context["images"]]})
    folder = context["products"] / "cutouts"
    table = cutout(catalogue=targets, survey=[str(context["first_dir"])], size=CUTOUT_SIZE, output=folder,
                   store=context["store"], quiet=True)
    ok = int(np.sum(np.asarray(table["status"]) == "ok"))
    step.lines = [f"{ok}/{len(table)} FIRST cutouts of {CUTOUT_SIZE} in {_rel(folder, context)}/"]


def _classification(step, context):
    from hippo.errors import HippoError
    from hippo.morphology import classify
    from hippo.morphology.classifier import default_model_dir

    try:
        default_model_dir()
    except HippoError:
        raise _Skip("skipped: no trained model ships with this install (models/ holds no weights yet)") from None
    output = context["products"] / "classifications.csv"
    table = classify([str(p) for p in context["first_paths"]], output=output, store=context["store"], quiet=True)
    published = {image.name: image.label for image in context["images"]}
    labels = dict(zip(np.asarray(table["source"]).astype(str), np.asarray(table["label"]).astype(str)))
    agree = sum(labels.get(name) == label for name, label in published.items())
    flags = np.asarray(table["flag"]).astype(str)
    counted = ", ".join(f"{int(np.sum(flags == flag))} {flag}" for flag in ("ok", "uncertain", "ood", "error")
                        if np.any(flags == flag))
    step.lines = [f"{len(table)} images classified, {agree}/{len(published)} labels agree with the published "
                  f"ones; flags: {counted} -> {_rel(output, context)}"]


def _crossmatch(step, context):
    from hippo.crossmatch import xmatch

    output = context["products"] / "xmatch.csv"
    pairs = xmatch(context["radio"], context["optical"], method="lr", radius=XMATCH_RADIUS, mag_col="r_mag",
                   output=output, store=context["store"])
    score = score_matches(pairs, context["truth"])
    reliability = np.nanmedian(np.asarray(pairs["reliability"], float))
    step.lines = [f"likelihood ratio (median reliability {reliability:.3f}): {score['matched']} of {score['sources']} radio sources matched "
                  f"within {XMATCH_RADIUS}, {score['correct']} to their true (simulated) host and {score['wrong']} "
                  f"to an unrelated galaxy; {score['left_alone']} of the {score['hostless']} whose host is below "
                  f"the catalogue's limit rightly left unmatched -> {_rel(output, context)}"]


def score_matches(pairs, truth):
    """How a cross-match fared against the simulation's truth (rank-1 pairs only).

    Returns a dict: ``sources``, ``matched``, ``correct`` (to the true host), ``wrong`` (to another
    object), ``hostless`` (sources whose host is not in the catalogue) and ``left_alone`` (of those,
    the ones left unmatched).
    """
    best = pairs[np.asarray(pairs["rank"]) == 1]
    found = dict(zip(np.asarray(best["radio_id"]).astype(str), np.asarray(best["optical_id"]).astype(str)))
    true_host = dict(zip(np.asarray(truth["source"]).astype(str),
                         ["" if np.ma.is_masked(h) else str(h) for h in truth["host_id"]]))
    hostless = [source for source, host in true_host.items() if not host]
    return {"sources": len(true_host), "matched": len(found),
            "correct": sum(bool(host) and found.get(source) == host for source, host in true_host.items()),
            "wrong": sum(source in found and found[source] != host for source, host in true_host.items()),
            "hostless": len(hostless), "left_alone": sum(source not in found for source in hostless)}


def _overlay(step, context):
    from astropy.table import Table

    from hippo.io import read_table
    from hippo.overlays import overlay

    showcase = context["showcase"]
    contour_image = next(p for p in context["first_paths"] if p.stem == showcase.name)
    optical = read_table(context["optical"])
    near = _within(optical, showcase.ra, showcase.dec, MARKER_RADIUS_ARCSEC)
    markers = Table({"id": optical["id"][near], "ra": optical["ra"][near], "dec": optical["dec"][near]})
    output = context["products"] / "overlays" / f"{showcase.name}.png"
    overlay(context["optical_image"], contours=[contour_image], levels=FIRST_CONTOURS, catalogue=markers,
            output=output, size=OVERLAY_SIZE, ra=showcase.ra, dec=showcase.dec,
            title=f"{showcase.name} ({showcase.label}): FIRST on SIMULATED r band", store=context["store"],
            source=showcase.name)
    step.lines = [f"FIRST contours of {showcase.name} ({showcase.label}) on the SIMULATED optical image, "
                  f"the {int(near.sum())} optical objects within {MARKER_RADIUS_ARCSEC:.0f}\" marked -> "
                  f"{_rel(output, context)}"]


def _backup(step, context):
    from hippo.transfer import backup, verify
    from hippo.transfer.backup import backups_row

    from hippo.store import Store

    products, destination = context["products"], context["backup"]
    # The backup reads the store's own file: no connection may be open meanwhile (closing another
    # descriptor of the file drops its POSIX locks; see Store.run_at). It is opened again after.
    store_path = context["store"].path
    context["store"].close()
    try:
        with Store.run_at(store_path, "backup", {"src": str(products), "dest": str(destination)}) as recorded:
            first = backup(products, destination, quiet=True)
            with Store.open(store_path) as store:
                store.insert("backups", [backups_row(products, destination, first)], run_id=recorded.id)
            recorded.exit_status = EXIT_PARTIAL if first["failures"] else EXIT_OK
        # Recording the backup changed the store; an incremental pass sends just that, so that the
        # backup holds the store with its own record and `hippo verify` agrees after the demo.
        second = backup(products, destination, quiet=True)
        check = verify(products, destination, deep=True, quiet=True)
    finally:
        context["store"] = Store.open(store_path)  # for the summary's counts
    failures = first["failures"] + second["failures"]
    step.status = "ok" if check["ok"] and not failures else "failed"
    verdict = "verify --deep: every file matches" if check["ok"] else \
        f"verify --deep: {len(check['problems'])} PROBLEMS, first {check['problems'][0]}"
    step.lines = [f"{first['files']} files ({first['send_bytes'] / 1e6:.1f} MB) of {_rel(products, context)}/ "
                  f"-> {_rel(destination, context)}/, then an incremental pass sent {second['send_files']} "
                  f"(the store's record of the backup); {verdict}"]
    if failures:
        step.lines.append(f"{len(failures)} files not backed up, first {failures[0]}")


_STEPS = [("inputs", _inputs), ("cutouts", _cutouts), ("classification", _classification),
          ("cross-match", _crossmatch), ("overlay", _overlay), ("backup", _backup)]


def _within(table, ra, dec, radius_arcsec):
    ra_t, dec_t = np.radians(np.asarray(table["ra"], float)), np.radians(np.asarray(table["dec"], float))
    ra0, dec0 = np.radians(ra), np.radians(dec)
    cos_sep = np.sin(dec0) * np.sin(dec_t) + np.cos(dec0) * np.cos(dec_t) * np.cos(ra_t - ra0)
    return np.degrees(np.arccos(np.clip(cos_sep, -1, 1))) * 3600.0 <= radius_arcsec


def _rel(path, context):
    return str(Path(path).relative_to(context["root"]))


# What the demo writes, as the summary lists it (only what exists).
_PRODUCTS = [
    ("data/first/", "real FIRST images (firstgalaxydata) as FITS, the demo's inputs"),
    ("data/radio.csv", "radio catalogue: the 200 FIRST sources of the test split"),
    ("data/optical_SIMULATED.csv", "SIMULATED optical catalogue (and its truth beside it)"),
    ("data/optical_image_SIMULATED.fits", "SIMULATED optical image of one field"),
    ("products/cutouts/", "cutouts, one folder per source, and the index cutouts.csv"),
    ("products/classifications.csv", "classifier labels, probabilities and flags"),
    ("products/xmatch.csv", "cross-match pairs with likelihood ratio and reliability"),
    ("products/overlays/", "radio contours on the optical image (PNG)"),
    ("products/hippo.db", "the catalogue store: every result and every run's provenance"),
    ("backup/", "backup of products/ (hippo restore backup/ DIR rebuilds it)"),
]


def format_summary(summary):
    """The closing summary a user reads: where everything is, rows in the store, time per step."""
    root = summary["output"]
    lines = ["", f"HIPPO demo finished in {summary['seconds']:.1f} s. Everything is under {root}/:"]
    for relative, what in _PRODUCTS:
        if (root / relative).exists():
            lines.append(f"  {relative:<34} {what}")
    lines += ["", "Steps:"]
    for step in summary["steps"]:
        lines.append(f"  {step.name:<15} {step.status:<8} {step.seconds:6.1f} s")
    lines += ["", "Rows in the store (" + str(summary["store"]) + "):",
              "  " + ", ".join(f"{name} {count}" for name, count in summary["tables"].items()), "",
              "Next: hippo store info --store " + str(summary["store"]) + "   |   "
              "hippo inspect --store " + str(summary["store"])]
    return "\n".join(lines)
