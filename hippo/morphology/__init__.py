"""Radio morphology FRI / FRII / BENT / COMP: classify images, evaluate and train the model.

``classify``, ``evaluate`` and ``train`` are the Python twins of ``hippo classify``,
``hippo evaluate`` and ``hippo train``; ``load_classifier`` gives the loaded model itself (its
``classify_images`` takes ``hippo.io.Image`` objects; the benches pass it to ``classify``).
Torch is imported only when a model is loaded or trained.
"""

import contextlib
import logging
import os
import time
from pathlib import Path

import numpy as np

from hippo.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, InputError, UsageError
from hippo.morphology import ood
from hippo.provenance import add_provenance, software_versions
from hippo.io.atomic import check_writable
from hippo.io.fitsfiles import as_path_list, find_fits_files
from hippo.morphology.classifier import (CLASSES, Classifier, default_threads, error_row,
                                         load_classifier, prepare_or_reason, rows_to_table,
                                         unreadable_source_name)

__all__ = ["CLASSES", "Classifier", "classify", "evaluate", "load_classifier", "train"]

log = logging.getLogger("hippo.morphology")


def classify(inputs=(), output=None, model=None, survey=None, catalogue=None, size="4.8arcmin", batch_size=64,
             threads=None, workers=None, store=None, quiet=False, ra_col=None, dec_col=None, id_col=None,
             classifier=None):
    """Classify radio images as FRI, FRII, BENT or COMP.

    Parameters
    ----------
    inputs : str, Path or a list of them
        FITS files, or directories searched recursively for ``.fits``, ``.fits.gz``, ``.fits.fz``.
    output : str or Path, optional
        Table to write (format by extension); None writes nothing.
    model : str or Path, optional
        Model directory from ``train`` (default: the shipped model).
    survey, catalogue : optional
        Instead of files: cut ``size`` around each position of ``catalogue`` from ``survey``
        (anything ``hippo.archive.get_survey`` accepts).
    batch_size : int
        Most images per network pass (files go 8 at a time: more leave the CPU cache).
    threads : int, optional
        Torch threads (default: available cores, at most 4).
    workers : int, optional
        Threads reading and preprocessing files (default: as ``threads``).
    store : str, Store or None
        Also write the rows and this run's provenance into the catalogue store.
    quiet : bool
        No progress bar.
    classifier : Classifier, optional
        An already loaded model (skips loading).

    Returns
    -------
    astropy.table.Table
        One row per input: source, ra, dec, label, p_fri, p_frii, p_bent, p_comp, confidence,
        flag (``ok``, ``uncertain``, ``ood`` or ``error``), message, input. ``source`` is the
        source's name (the file name without its FITS suffix, a ``hippo cutout`` product's OBJECT,
        or the catalogue's name), in error rows too; ``input`` is where the row came from: the file
        as given (a file found in a directory: the directory as given joined with its path
        inside), or ``<survey> at <catalogue> row <n>`` for positions cut from a survey.

    Raises
    ------
    InputError
        When no input could be used at all (each failure is a row otherwise), or when ``store``
        or ``output`` cannot be used (found before any work).
    """
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if (survey is None) != (catalogue is None):
        raise UsageError("--survey and --catalogue go together (positions cut from a survey)")
    inputs = as_path_list(inputs)
    if survey is None and not inputs:
        raise UsageError("give FITS files or directories, or --survey S --catalogue FILE")
    if survey is not None and inputs:
        raise UsageError("give FITS files or directories, or --survey S --catalogue FILE, not both")
    threads = threads or default_threads()
    started, started_at = time.perf_counter(), time.time()
    if output is not None:  # found now, not once every image is classified
        from hippo.io.tables import table_format

        table_format(output)
        check_writable(output)
    from hippo.store import store_session

    # The store is opened before any work, as every command does: one that cannot be used must not
    # be found out after the output has been written.
    with contextlib.nullcontext() if store is None else store_session(store) as database:
        classifier = classifier or load_classifier(model, threads=threads)
        if survey is not None:
            table, stored_inputs, run_inputs = _classify_positions(classifier, survey, catalogue, size, ra_col,
                                                                   dec_col, id_col, batch_size)
        else:
            table, stored_inputs, run_inputs = _classify_files(classifier, inputs, batch_size, workers or threads,
                                                               quiet)
        table.meta.update({"model": classifier.name, "seconds": round(time.perf_counter() - started, 3)})
        failed = failures(table, positions=survey is not None)
        if failed and len(failed) == len(table):
            raise InputError(*failed[0]) if len(table) == 1 else InputError(
                f"all {len(table)} inputs", f"none could be classified (first: {failed[0][0]}: {failed[0][1]})")
        if output is not None:
            from hippo.io import write_table

            positions = {} if survey is None else {"survey": str(survey), "catalogue": str(catalogue),
                                                   "size": str(size)}
            add_provenance(table, "classify", {"model": classifier.name, "model_dir": str(classifier.model_dir),
                                               "inputs": len(table), **positions})
            write_table(table, output)
        if database is not None:
            _record(database, table, classifier, stored_inputs, run_inputs, failed, started_at,
                    {"model": str(classifier.model_dir), "batch_size": batch_size, "threads": threads,
                     "workers": workers or threads, "survey": None if survey is None else str(survey),
                     "catalogue": None if catalogue is None else str(catalogue),
                     "size": None if survey is None else str(size)})
    return table


def exit_status(table):
    """SPEC's exit status of a classification from its rows: 0, 3 when some inputs failed, 2 when
    every one did (where :func:`classify` raises), for a local run and a merged batch alike."""
    failed = int(np.sum(np.asarray(table["flag"]) == "error"))
    return EXIT_OK if not failed else EXIT_USAGE if failed == len(table) else EXIT_PARTIAL


def failures(table, positions=False):
    """(input, reason) of each error row, as the command line lists them: the file as given, or
    the source's name for positions cut from a survey (the reason names the catalogue row)."""
    return [(str(row["source"] if positions else row["input"]), str(row["message"]))
            for row in table if row["flag"] == "error"]


def _absolute(item):
    """A path that exists as an absolute path (a store outlives the directory a command ran in)."""
    return str(Path(item).absolute()) if Path(item).exists() else str(item)


def _classify_files(classifier, inputs, batch_size, workers, quiet):
    """The rows of FITS files, the inputs the store records for them, and the files the run read."""
    from hippo.progress import progress

    files, missing = find_fits_files(inputs)
    rows = [error_row(unreadable_source_name(item), reason, str(item)) for item, reason in missing]
    with progress(total=len(files), desc="classify", quiet=quiet, unit="image") as bar:
        rows.extend(classifier.classify_files(files, batch_size=batch_size, workers=workers, progress=bar.update))
    table = rows_to_table(rows)
    return table, [str(item) for item in table["input"]], [str(p) for p in files]


def _classify_positions(classifier, survey, catalogue, size, ra_col, dec_col, id_col, batch_size):
    from hippo.archive import get_survey
    from hippo.io import read_positions

    positions = read_positions(catalogue, ra_col, dec_col, id_col)
    chosen = get_survey(survey)
    reason_no_data = f"survey {chosen.name or survey} has no data here"
    names = [str(n) for n in positions.table["name"]]
    ra = np.asarray(positions.table["ra"], dtype=float)
    dec = np.asarray(positions.table["dec"], dtype=float)
    rows = []
    for start in range(0, len(names), batch_size):
        chunk = slice(start, start + batch_size)
        cuts = chosen.cutouts(positions.coords[chunk], size)
        results = [_prepared_cut(cut, ra_deg, dec_deg, reason_no_data)
                   for ra_deg, dec_deg, cut in zip(ra[chunk], dec[chunk], cuts)]
        rows.extend(classifier.rows_or_errors(results, names[chunk]))
    table = rows_to_table(rows)
    table["ra"] = np.where(np.isfinite(np.asarray(table["ra"], float)), table["ra"], ra)
    table["dec"] = np.where(np.isfinite(np.asarray(table["dec"], float)), table["dec"], dec)
    if positions.rejected:
        # One row per catalogue row (SPEC): a row without a usable position is an error row in its place.
        for number, name, reason in positions.rejected:
            table.insert_row(number - 1, error_row(name, f"{catalogue} row {number}: {reason}"))
    # Each row's input: the survey at a catalogue row (numbered from 1, as the messages number them).
    survey_name = str(survey) if isinstance(survey, (str, os.PathLike)) else chosen.name
    catalogue_name = str(catalogue) if isinstance(catalogue, (str, os.PathLike)) else "table"
    table["input"] = [f"{survey_name} at {catalogue_name} row {number}" for number in range(1, len(table) + 1)]
    stored = [f"{_absolute(survey_name)} at {_absolute(catalogue_name)} row {number}"
              for number in range(1, len(table) + 1)]
    return table, stored, [survey_name, catalogue_name]


def _prepared_cut(cut, ra_deg, dec_deg, reason_no_data):
    """The model input of a survey cutout around (ra, dec), or the reason (str) there is none.

    A cut that failed (an unreadable tile, a failed download) comes back from the survey with
    status ``error`` and a message naming the input and the reason: that source gets an error
    row, the others are classified.
    """
    if cut.status == "no_coverage":
        return reason_no_data
    if cut.status == "error":
        return cut.message
    return prepare_or_reason(_image_of(cut), (float(ra_deg), float(dec_deg)))


def _image_of(cut):
    from hippo.io import Image

    return Image(data=cut.data, wcs=cut.wcs, header=cut.header, path=str(cut.origin))


def _record(database, table, classifier, stored_inputs, run_inputs, failed, started_at, parameters):
    files = sorted({item for item in run_inputs if Path(item).is_file()})
    with database.run("classify", parameters, inputs=files, started=started_at) as recorded:
        store_classification_rows(database, table, recorded.id, classifier.name, stored_inputs)
        for name, reason in failed:  # into the run's log: what the user saw on stderr
            recorded.note(f"error: {name}: {reason}")
        recorded.exit_status = 3 if failed else 0


def store_classification_rows(database, table, run_id, model_name, row_inputs):
    """The store rows of a classify run (local or a merged batch): every row, with its model and
    input, into ``classifications``, and each classified source with its position into ``sources``
    (what ``hippo store cone`` searches). Returns the number of classifications.

    ``row_inputs`` replace the table's ``input`` column in the store: a file or directory is stored
    by its absolute path, as a store outlives the directory a command was run from (a batch's jobs
    read absolute paths too).
    """
    rows = table.copy()
    rows["model"] = model_name
    rows["input"] = [_absolute(item) for item in row_inputs]
    located = [row for row in table if row["flag"] != "error" and np.isfinite(row["ra"]) and np.isfinite(row["dec"])]
    sources = {row["source"]: {"source": row["source"], "ra": float(row["ra"]), "dec": float(row["dec"]),
                               "origin": "classify"} for row in located}
    database.insert("sources", list(sources.values()), run_id=run_id, replace_on="source")
    return database.insert("classifications", rows, run_id=run_id)


def evaluate(split=None, model=None, threads=None, classifier=None, labels=None, inputs=(), file_col=None,
             label_col=None, id_col=None, output=None, workers=None, quiet=True):
    """Metrics of a model on a split of the labelled FIRST data set, or on labelled FITS files.

    Parameters
    ----------
    split : {"valid", "test"}, optional
        Split of the data set (default valid).
    model : str or Path, optional
        Model directory (default: the shipped model).
    labels : str or Path, optional
        Instead of a split: a table of FITS files and their true classes (``FRI``, ``FRII``,
        ``BENT``, ``COMP``; ``Compact``, ``FR1``, ``WAT``, ``HT``... are understood), e.g. a
        held-out sample of real cutouts. Each file goes through ``classify`` as any input would.
    inputs : list of str or Path, optional
        With ``labels``: FITS files or directories, matched to the table's rows by name
        (``id_col``, else the file column without its suffix). Without them the table's file
        column gives each file, relative to the table's folder.
    output : str or Path, optional
        With ``labels``: write the classification rows with ``true_label`` and ``correct``.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``macro_f1``, ``ece``, ``per_class`` (precision, recall, f1, support),
        ``confusion`` (rows true, columns predicted, order FRI FRII BENT COMP), ``reliability``
        (per confidence bin) and ``model``; on a split also ``uncertain_fraction``,
        ``accuracy_when_ok`` and ``ood_fraction``; on labelled files also ``flags`` (counts),
        ``accuracy_when_ok``, ``skipped`` (input, reason: files missing or unreadable),
        ``left_out`` (row, reason: no label, or a class other than the four) and ``unlabelled``
        (input files without a row).
    """
    if labels is not None:
        if split is not None:
            raise UsageError("--split and --labels exclude each other (a split of the data set, or your files)")
        return _evaluate_labelled_files(labels, inputs, model, threads, classifier, file_col, label_col, id_col,
                                        output, workers, quiet)
    if inputs:
        raise UsageError("FITS inputs need --labels TABLE (their true classes)")
    split = split or "valid"
    from hippo.morphology.calibration import classification_metrics, reliability
    from hippo.morphology.data import load_split

    if split not in ("valid", "test", "train"):
        raise UsageError(f"--split {split!r}: use valid or test")
    classifier = classifier or load_classifier(model, threads=threads)
    labelled = load_split(split)
    probs, features = classifier.predict_arrays(labelled.images)
    metrics = classification_metrics(probs, labelled.labels, CLASSES)
    metrics["reliability"] = reliability(probs, labelled.labels)
    confident = probs.max(axis=1) >= classifier.uncertain_threshold
    metrics["uncertain_fraction"] = round(float(1 - confident.mean()), 4)
    metrics["accuracy_when_ok"] = round(float((probs.argmax(1) == labelled.labels)[confident].mean()), 4) \
        if confident.any() else None
    distances = ood.feature_distance(classifier.ood_state, features)
    metrics["ood_fraction"] = round(float((distances > classifier.ood_state["feature_distance_max"]).mean()), 4)
    metrics["split"] = split
    metrics["model"] = classifier.name
    return metrics


def _evaluate_labelled_files(labels, inputs, model, threads, classifier, file_col, label_col, id_col, output,
                             workers, quiet):
    """``evaluate(labels=...)``: classify the table's files as ``classify`` would and score the rows.

    An ``ood`` row is scored by the label it gives (the network's own answer) at the confidence it
    reports (uniform, 0.25): "don't know" is a wrong answer, not an abstention that flatters the
    accuracy. Files that cannot be read are reported in ``skipped`` and not scored.
    """
    from hippo.morphology.calibration import classification_metrics, reliability
    from hippo.morphology.labels import read_labelled_files, true_class_indices

    labelled = read_labelled_files(labels, inputs, file_col=file_col, label_col=label_col, id_col=id_col)
    threads = threads or default_threads()
    classifier = classifier or load_classifier(model, threads=threads)
    from hippo.progress import progress

    with progress(total=len(labelled.paths), desc="evaluate", quiet=quiet, unit="image") as bar:
        # classify_files keeps the order and gives an unreadable or missing file an error row.
        table = rows_to_table(list(classifier.classify_files(labelled.paths, workers=workers or threads,
                                                             progress=bar.update)))
    table["source"] = labelled.names
    table["true_label"] = labelled.labels
    flags = np.asarray(table["flag"]).astype(str)
    scored = flags != "error"
    unreadable = [(str(path), message) for path, message, bad in zip(labelled.paths, table["message"], ~scored) if bad]
    if not scored.any():
        raise InputError(labels, f"none of its {len(table)} files could be classified "
                                 f"(first: {unreadable[0][0]}: {unreadable[0][1]})")
    given = np.array([CLASSES.index(label) if flag != "error" else -1 for label, flag in zip(table["label"], flags)])
    truth = true_class_indices(labelled.labels, CLASSES)
    table["correct"] = given == truth
    probs = np.stack([np.asarray(table[f"p_{name.lower()}"], dtype=float) for name in CLASSES], axis=1)[scored]
    metrics = classification_metrics(probs, truth[scored], CLASSES, predicted=given[scored])
    metrics["reliability"] = reliability(probs, truth[scored], predicted=given[scored])
    ok = flags[scored] == "ok"
    metrics["flags"] = {flag: int((flags == flag).sum()) for flag in ("ok", "uncertain", "ood", "error")}
    metrics["accuracy_when_ok"] = round(float((given == truth)[scored][ok].mean()), 4) if ok.any() else None
    metrics["skipped"] = [{"input": item, "reason": reason} for item, reason in labelled.skipped + unreadable]
    metrics["left_out"] = [{"row": row, "reason": reason} for row, reason in labelled.left_out]
    metrics["unlabelled"] = labelled.unlabelled
    metrics["labels"] = str(labels)
    metrics["model"] = classifier.name
    if output is not None:
        from hippo.io import write_table

        add_provenance(table, "evaluate", {"model": classifier.name, "labels": str(labels), "files": len(table)})
        write_table(table, output)
    return metrics


def _check_model_output(output):
    """A model directory ``train`` may write: new, empty, or holding an earlier model (replaced).

    Anything else in it is the user's, and a file where the directory should be is a slip: both
    are refused before any training, not discovered after it.
    """
    from hippo.morphology.classifier import CARD_FILE, WEIGHTS_FILE

    if output.exists() and not output.is_dir():
        raise UsageError(f"-o {output}: exists and is not a directory")
    if output.is_dir():
        # what a training writes: weights, card, README, and partial files of a killed one
        ours = [p.name for p in output.iterdir() if p.name in (WEIGHTS_FILE, CARD_FILE, "README.md")
                or (p.name.startswith(".") and ".part" in p.name)]  # atomic_path's temporary names
        foreign = sorted(p.name for p in output.iterdir() if p.name not in ours)
        # a README.md without a card is not a model's: someone else's notes
        if "README.md" in ours and not (output / CARD_FILE).is_file():
            foreign.insert(0, "README.md")
        if foreign:
            raise UsageError(f"-o {output}: holds files that are not a HIPPO model ({', '.join(foreign[:3])}"
                             f"{', ...' if len(foreign) > 3 else ''}); give a new or empty directory")
    ancestor = output
    while not ancestor.exists():  # created when the model is written; checked now
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"-o {output}: cannot be written ({ancestor} is not a writable directory)")


def train(output, epochs=40, seed=0, width=24, batch_size=32, learning_rate=3e-3, per_class=None, threads=None,
          quiet=False, name=None, store=None):
    """Train a classifier on the labelled FIRST data set and write it to ``output``.

    Trains on ``train``, keeps the epoch (raw or moving-average weights) with the best ``valid``
    accuracy, fits the temperature, the uncertain threshold and the OOD thresholds on ``valid``,
    and writes ``model.pt``,
    ``model.json`` (the machine-readable card) and ``README.md`` (the model card).

    Parameters
    ----------
    output : str or Path
        Model directory to write.
    epochs, seed, width, batch_size, learning_rate
        Training length, random seed, network width, batch size, peak learning rate (one-cycle).
    per_class : int, optional
        Use only this many training images per class (smoke runs).
    threads : int, optional
        Torch threads.
    store : str, Path or Store, optional
        Record the run (parameters, the labelled data set's archive with its checksum, the valid
        metrics and the training log) in this catalogue store.

    Returns
    -------
    dict
        The model card.
    """
    if epochs < 1:
        raise UsageError("--epochs must be at least 1")
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise UsageError(f"--learning-rate must be a positive number, not {learning_rate!r}")
    if seed < 0:
        raise UsageError(f"--seed must be 0 or more, not {seed}")
    _check_model_output(Path(output))  # before the training, not after it
    options = dict(epochs=epochs, seed=seed, width=width, batch_size=batch_size, learning_rate=learning_rate,
                   per_class=per_class, threads=threads, name=name)
    if store is None:
        return _train(output, **options)
    from hippo.morphology.data import package_file
    from hippo.store import store_session

    with store_session(store) as database, \
            database.run("train", dict(options, output=str(output)), inputs=[package_file()]) as recorded:
        card = _train(output, **options)
        valid = card["metrics"]["valid"]
        recorded.note(f"model {card['name']} written to {output}: valid accuracy {valid['accuracy']:.3f}, "
                      f"macro F1 {valid['macro_f1']:.3f}, ECE {valid['ece']:.3f}, weights SHA-256 "
                      f"{card.get('weights_sha256', '?')}")
        recorded.exit_status = 0
    return card


def _train(output, epochs, seed, width, batch_size, learning_rate, per_class, threads, name):
    import torch

    from hippo.morphology.calibration import (choose_uncertain_threshold, classification_metrics, fit_temperature,
                                              probabilities, reaches_target, reliability)
    from hippo.morphology.card import preprocessing_description, save_model
    from hippo.morphology.data import data_identity, load_splits
    from hippo.morphology.training import DEFAULTS, fit, predict_logits
    from hippo.provenance import environment_summary, utc_now

    torch.set_num_threads(threads or default_threads())
    started, started_at, environment = time.perf_counter(), utc_now(), environment_summary()
    train_set, valid_set = load_splits("train", "valid")
    if per_class:
        rng = np.random.default_rng(seed)
        chosen = np.concatenate([rng.permutation(np.flatnonzero(train_set.labels == c))[:per_class]
                                 for c in range(len(CLASSES))])
        train_set = train_set.subset(np.sort(chosen))
    hyper = dict(DEFAULTS, epochs=epochs, width=width, batch_size=batch_size, learning_rate=learning_rate)
    network, history = fit(train_set, valid_set, seed=seed, **hyper)
    train_logits, train_features = predict_logits(network, train_set.images)
    valid_logits, valid_features = predict_logits(network, valid_set.images)
    temperature = fit_temperature(valid_logits, valid_set.labels)
    valid_probs = probabilities(valid_logits, temperature)
    valid_metrics = classification_metrics(valid_probs, valid_set.labels, CLASSES)
    valid_metrics["reliability"] = reliability(valid_probs, valid_set.labels)
    threshold = choose_uncertain_threshold(valid_probs, valid_set.labels)
    card = {
        "name": name or Path(output).name,
        "format": 1,
        "classes": list(CLASSES),
        "architecture": "MorphologyNet (hippo.morphology.network)",
        "network": network.config,
        "parameters": int(sum(p.numel() for p in network.parameters())),
        "preprocessing": preprocessing_description(),
        "temperature": temperature,
        "uncertain_threshold": threshold,
        "uncertain_target_reached": reaches_target(valid_probs, valid_set.labels, threshold),
        "ood": ood.fit_ood(train_features, train_set.labels, valid_features, train_set.occupied_fraction,
                           train_set.core_fwhm_arcsec),
        "training": {
            "data": "firstgalaxydata (Griese et al. 2023; FIRST images labelled FRI/FRII/Compact/Bent from "
                    "Gendre 2008/2010, MiraBest, Capetti 2017a/b, Baldi 2018, Proctor 2011), published "
                    "train/valid/test split (galaxy_data_h5.h5, Split_literature)",
            "data_identity": data_identity(),
            "run": {"started": started_at, **{key: environment[key] for key in ("host", "user", "argv")}},
            "n_train": len(train_set), "n_valid": len(valid_set), "per_class": per_class, "seed": seed,
            "hyperparameters": hyper, "history": history,
            "chosen_epoch": next(h["epoch"] for h in reversed(history) if h.get("chosen")),
            "chosen_weights": next(h["chosen"] for h in reversed(history) if h.get("chosen")),
            "seconds": time.perf_counter() - started, "threads": torch.get_num_threads(),
            "train_accuracy": round(float((train_logits.argmax(1) == train_set.labels).mean()), 4),
        },
        "metrics": {"valid": valid_metrics},
        "software": software_versions(),
    }
    save_model(output, network, card)
    log.debug("model written to %s (valid accuracy %.3f, temperature %.2f)", output, valid_metrics["accuracy"],
             temperature)
    return card
