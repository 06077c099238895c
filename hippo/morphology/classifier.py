"""A trained classifier on disk (weights + JSON card) and the batched inference that uses it.

Loading imports torch; everything else in ``hippo`` stays torch-free. One ``Classifier`` serves
any number of images: the model is loaded once, and batches of files are read, preprocessed and
classified by a pool of forked workers (one network pass per batch).
"""

import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
from astropy.table import Table

from hippo.errors import HippoError, InputError
from hippo.io.fitsfiles import fits_stem
from hippo.io.images import NOT_TOTAL_INTENSITY, SINGULAR_WCS, is_singular, short_reason
from hippo.morphology import ood
from hippo.morphology.calibration import probabilities
# Imported here, not where it is used: a forked worker would import it afresh (~0.16 s) on every
# classify_files call.
from hippo.morphology.fastread import read_for_classification
from hippo.morphology.preprocess import prepare
from hippo.provenance import sha256_file

CLASSES = ("FRI", "FRII", "BENT", "COMP")
WEIGHTS_FILE = "model.pt"
CARD_FILE = "model.json"
SPEC_COLUMNS = ("source", "ra", "dec", "label", "p_fri", "p_frii", "p_bent", "p_comp", "confidence", "flag",
                "message")
# SPEC's columns, then where the row came from: files of one name in two folders, or a.fits and
# a.fits.gz, are one ``source`` and two inputs.
OUTPUT_COLUMNS = SPEC_COLUMNS + ("input",)


def default_model_dir():
    """The shipped model: ``hippo/models`` in an installed wheel, ``models/`` of the source tree otherwise."""
    package_dir = Path(__file__).resolve().parents[1]
    for candidate in (package_dir / "models", package_dir.parent / "models"):
        if (candidate / CARD_FILE).is_file():
            return candidate
    raise HippoError(f"no trained model found (looked in {package_dir / 'models'} and {package_dir.parent / 'models'}); "
                     f"train one with 'hippo train -o DIR' and pass --model DIR")


def default_threads():
    """Torch threads: the cores this process may use, at most 4 (small convolutions scale no further)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:
        available = os.cpu_count() or 1
    return max(1, min(available, 4))


def load_classifier(path=None, threads=None):
    """Load a trained classifier.

    Parameters
    ----------
    path : str or Path, optional
        A model directory written by ``hippo train`` (``model.pt`` + ``model.json``); default the
        shipped model.
    threads : int, optional
        Torch intra-op threads (default: the available cores, at most 4).

    Returns
    -------
    Classifier
    """
    model_dir = Path(path) if path is not None else default_model_dir()
    card_path = model_dir / CARD_FILE
    if not card_path.is_file() or not (model_dir / WEIGHTS_FILE).is_file():
        raise InputError(model_dir, f"not a model directory (needs {WEIGHTS_FILE} and {CARD_FILE})")
    try:
        card = json.loads(card_path.read_text())
    except ValueError as exc:
        raise InputError(card_path, f"not a valid model card ({exc})") from None
    return Classifier(model_dir, card, threads=threads)


class Classifier:
    """FRI/FRII/BENT/COMP classifier with temperature-scaled probabilities and uncertain/ood flags."""

    def __init__(self, model_dir, card, threads=None):
        import torch

        from hippo.morphology.network import MorphologyNet

        torch.set_num_threads(threads or default_threads())
        self.model_dir = Path(model_dir)
        self.card = card
        self.name = card.get("name", self.model_dir.name)
        self.temperature = float(card["temperature"])
        self.uncertain_threshold = float(card["uncertain_threshold"])
        # The feature statistics as arrays once, not converted from JSON lists on every batch.
        self.ood_state = {key: np.asarray(value) if key in ("class_means", "precision") else value
                          for key, value in card["ood"].items()}
        self.network = MorphologyNet(**card["network"])
        weights = self.model_dir / WEIGHTS_FILE
        if card.get("weights_sha256") and sha256_file(weights) != card["weights_sha256"]:
            raise InputError(weights, f"not the weights its card describes ({CARD_FILE} names other weights: "
                                      f"the directory holds files of two trainings; train again)")
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            self.network.load_state_dict(state)
        except Exception as exc:
            raise InputError(self.model_dir / WEIGHTS_FILE, f"weights do not load ({exc})") from None
        # Batch norms folded into the convolutions and channels-last memory: ~2x faster on CPU
        # (oneDNN), the same probabilities to ~1e-6 (logits to ~1e-5).
        self.network.fuse_for_inference().to(memory_format=torch.channels_last)

    def predict_arrays(self, arrays):
        """Temperature-scaled probabilities (N, 4) and pooled features of prepared inputs (N, 160, 160)."""
        import torch

        batch = torch.from_numpy(np.ascontiguousarray(arrays, dtype=np.float32))[:, None]
        logits, features = self.network.logits_and_features(batch)
        return probabilities(logits.numpy(), self.temperature), features.numpy()

    def rows_for(self, prepared_list, names, inputs=None):
        """Output rows (dicts) for already prepared inputs, one network pass; ``inputs`` fills the
        ``input`` column (default empty)."""
        if not prepared_list:
            return []
        probs, features = self.predict_arrays(np.stack([p.array for p in prepared_list]))
        distances = ood.feature_distance(self.ood_state, features)
        rows = []
        inputs = inputs or [""] * len(names)
        for name, given, prepared, p, distance in zip(names, inputs, prepared_list, probs, distances):
            best = int(np.argmax(p))
            confidence = float(p[best])
            reason = ood.input_reason(self.ood_state, prepared) or ood.feature_reason(self.ood_state, distance)
            if reason:
                # The network's probabilities mean nothing for an input unlike its training data:
                # report "don't know" (uniform), and keep its raw answer in the message only.
                flag = "ood"
                message = f"{reason}; the network's own answer ({CLASSES[best]} {confidence:.2f}) is not to be trusted"
                p = np.full(len(CLASSES), 1.0 / len(CLASSES))
                confidence = float(p[best])
            elif confidence < self.uncertain_threshold:
                flag = "uncertain"
                message = f"confidence {confidence:.2f} below the threshold {self.uncertain_threshold:.2f} chosen on valid"
            elif prepared.coverage < ood.CONFIDENT_COVERAGE:
                flag, message = "uncertain", "emission beyond the image is unseen"
            else:
                flag, message = "ok", ""
            if prepared.coverage < 0.99 and flag != "ood":
                message = (message + "; " if message else "") + (
                    f"image covers {100 * prepared.coverage:.0f}% of the model's field")
            rows.append({"source": name, "ra": prepared.ra, "dec": prepared.dec, "label": CLASSES[best],
                         "p_fri": float(p[0]), "p_frii": float(p[1]), "p_bent": float(p[2]), "p_comp": float(p[3]),
                         "confidence": confidence, "flag": flag, "message": message, "input": given})
        return rows

    def classify_images(self, images, names=None, positions=None):
        """Classify ``hippo.io.Image`` objects; returns a Table with SPEC's columns, one row per image.

        Parameters
        ----------
        images : list of hippo.io.Image
        names : list of str, optional
            ``source`` column (default: ``source_name``: the file name without its FITS suffix, or
            the OBJECT of a ``hippo cutout`` product).
        positions : list of (ra, dec) in degrees or None, optional
            Where the source is in each image (default: the position a ``hippo cutout`` product
            was cut at, else the image centre).

        The ``input`` column holds each image's ``path`` (empty for an image without one).
        """
        names = names or [source_name(image.path, image.header) for image in images]
        positions = positions or [requested_position(image.header) for image in images]
        return rows_to_table(self.rows_or_errors([prepare_or_reason(image, position)
                                                  for image, position in zip(images, positions)], names,
                                                 [str(image.path or "") for image in images]))

    def rows_or_errors(self, results, names, inputs=None):
        """Output rows for ``results`` (each a Prepared, or the reason (str) its input failed), in
        order: one network pass over the prepared ones, an error row for each failure; ``inputs``
        fills the ``input`` column (default empty)."""
        inputs = inputs or [""] * len(names)
        ready = [index for index, item in enumerate(results) if not isinstance(item, str)]
        classified = iter(self.rows_for([results[i] for i in ready], [names[i] for i in ready],
                                        [inputs[i] for i in ready]))
        return [error_row(name, item, given) if isinstance(item, str) else next(classified)
                for name, given, item in zip(names, inputs, results)]

    def classify_files(self, paths, batch_size=64, workers=2, progress=None):
        """Classify FITS files; yields one output row (dict) per path, in order.

        Files go through in batches of ``min(batch_size, 8)``: each read, preprocessed and
        classified in one network pass. On 25 or more at once the pixels just prepared and the
        activations leave the CPU cache (~30 % more time per file on one core); small batches
        also let the workers finish together. With ``workers`` > 1 the batches are shared by
        forked worker processes, each classifying whole batches on one torch thread (FITS
        decoding holds the GIL; a pool that only read files left a core idle while this
        process ran the network).
        """
        paths = [str(path) for path in paths]
        size = min(batch_size, _NETWORK_CHUNK)
        batches = [paths[start:start + size] for start in range(0, len(paths), size)]
        if workers < 2 or len(batches) < 2 or "fork" not in multiprocessing.get_all_start_methods():
            for batch in batches:
                yield from self._classify_batch(batch)
                if progress is not None:
                    progress(len(batch))
            return
        global _FORKED_CLASSIFIER
        _FORKED_CLASSIFIER = self  # inherited by the forked workers, never pickled
        pool = multiprocessing.get_context("fork").Pool(min(workers, len(batches)), initializer=_worker_start)
        try:
            for batch, rows in zip(batches, pool.imap(_classify_batch_in_worker, batches)):
                yield from rows
                if progress is not None:
                    progress(len(batch))
        finally:
            pool.terminate()
            _FORKED_CLASSIFIER = None

    def _classify_batch(self, paths):
        """Output rows of one batch of FITS files: each read and preprocessed, one network pass.
        Every row, failed or not, is named as its source and holds its path in ``input``."""
        results, names = zip(*(_prepare_path(path) for path in paths))
        return self.rows_or_errors(list(results), list(names), list(paths))


_FORKED_CLASSIFIER = None
_NETWORK_CHUNK = 8  # files per batch (and network pass) in classify_files


def _worker_start():
    """Worker start: one torch thread per worker process, so that the workers share the cores,
    and glibc's malloc told to keep freed memory for reuse.

    Left to itself, glibc returns each freed image and activation buffer (hundreds of kB) to the
    kernel and faults fresh zeroed pages in for the next file: ~330 page faults and 1-3 ms of
    system time per file in a worker (measured; none once the memory is kept). The workers are
    HIPPO's own processes, so changing their allocator touches no one else's.
    """
    import ctypes

    import torch

    torch.set_num_threads(1)
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 256 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 512 << 20)
    except (OSError, AttributeError):  # not glibc (macOS, musl): the default allocator it is
        pass


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def _classify_batch_in_worker(paths):
    return _FORKED_CLASSIFIER._classify_batch(paths)


def _prepare_image(image, position):
    if image.wcs is None:
        raise InputError(image.path, "no celestial WCS: the classifier needs to know the pixel scale")
    if is_singular(image.wcs):
        raise InputError(image.path, SINGULAR_WCS)
    stokes = str(image.header.get("STOKES", "I")).strip().upper()
    if stokes in NOT_TOTAL_INTENSITY:
        raise InputError(image.path, f"a Stokes {stokes} image: the classifier needs total intensity (Stokes I)")
    ra, dec = position if position is not None else (None, None)
    try:
        return prepare(image, ra, dec)
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise InputError(image.path, f"cannot be resampled to the model's grid ({short_reason(exc)})") from None


def prepare_or_reason(image, position=None):
    """Prepared input of one image, or the reason (str) it cannot be used."""
    try:
        return _prepare_image(image, position)
    except InputError as exc:
        return exc.reason


def _prepare_path(path):
    """Prepared input of one file, or the reason (str) it cannot be used; and the source's name."""
    try:
        image = read_for_classification(path)
        return _prepare_image(image, requested_position(image.header)), source_name(path, image.header)
    except InputError as exc:
        return exc.reason, unreadable_source_name(path)


def requested_position(header):
    """(RA, Dec) in degrees that ``hippo cutout`` was asked for (HIPPORA/HIPPODEC), or None.

    An odd-sized cutout's geometric centre is up to half a pixel from the source; classifying at
    the requested position gives what ``classify --survey`` gives for the same source."""
    if not _is_cutout_product(header):
        return None
    try:
        ra, dec = float(header["HIPPORA"]), float(header["HIPPODEC"])
    except (KeyError, TypeError, ValueError):
        return None
    return (ra, dec) if np.isfinite(ra) and np.isfinite(dec) else None


def source_name(path, header):
    """The name of the source in a FITS file: the file name without its suffix, except for a
    ``hippo cutout`` product (``DIR/<source>/<survey>.fits``), whose file is named after the
    survey and whose OBJECT card holds the source's name."""
    if _is_cutout_product(header) and str(header.get("OBJECT", "")).strip():
        return str(header["OBJECT"]).strip()
    return fits_stem(path)


def unreadable_source_name(path):
    """The source's name for a FITS file that cannot be read: :func:`source_name` without the
    header. A ``hippo cutout`` product (its output folder holds ``cutouts.csv``) is named by its
    folder, which stands for the OBJECT card: its file is named after the survey, and every failed
    source of one output would otherwise share that name (and hide each other in the store)."""
    path = Path(path)
    if (path.parent.parent / "cutouts.csv").is_file():
        return path.parent.name
    return fits_stem(path)


def _is_cutout_product(header):
    return str(header.get("HIPPOCMD", "")).strip() == "cutout"


def error_row(name, reason, given=""):
    """The output row of an input that could not be classified (``given``: its ``input``)."""
    return {"source": name, "ra": np.nan, "dec": np.nan, "label": "", "p_fri": np.nan, "p_frii": np.nan,
            "p_bent": np.nan, "p_comp": np.nan, "confidence": np.nan, "flag": "error", "message": reason,
            "input": given}


def rows_to_table(rows):
    """The output table from row dicts: SPEC's columns, then ``input`` (typed even when empty)."""
    types = {"source": str, "label": str, "flag": str, "message": str, "input": str}
    return Table({name: np.array([row[name] for row in rows], dtype=types.get(name, float))
                  if rows else np.array([], dtype=types.get(name, float)) for name in OUTPUT_COLUMNS})

