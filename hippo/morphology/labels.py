"""A user's own labelled images: a table that names FITS files and their true class.

``hippo evaluate --labels TABLE`` scores a model on these instead of the data set's splits, so
that a held-out sample of real cutouts (another survey, another catalogue's classes) is judged
with the same metrics. Pure Python and numpy: reading the table does not load the model.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hippo.errors import InputError
from hippo.io.columns import ID_NAMES, find_column
from hippo.io.fitsfiles import find_fits_files, fits_stem, path_kind

LABEL_COLUMNS = ("label", "class", "morphology", "true_label", "type")
FILE_COLUMNS = ("file", "path", "filename", "fits", "image")
# Spellings found in the literature's tables, after removing spaces, '-' and '_' and upper-casing.
# Wide-angle, narrow-angle and head-tail sources are BENT, as firstgalaxydata has them.
_CLASS_OF = {"FRI": "FRI", "FR1": "FRI", "FRII": "FRII", "FR2": "FRII", "BENT": "BENT", "BENTTAIL": "BENT",
             "WAT": "BENT", "NAT": "BENT", "HT": "BENT", "HEADTAIL": "BENT", "COMP": "COMP", "COMPACT": "COMP"}


@dataclass
class LabelledFiles:
    """The usable rows of a label table: FITS paths, source names, true classes (as in CLASSES)."""

    paths: list
    names: list
    labels: list
    # (row or input, reason) for each row whose file is not found, or input that is not FITS
    skipped: list = field(default_factory=list)
    # (row, reason) for each row left out on purpose: no label, or a class the model does not know
    left_out: list = field(default_factory=list)
    unlabelled: int = 0  # input files the table has no row for


def class_name(text):
    """The class (``FRI``, ``FRII``, ``BENT``, ``COMP``) a label spells, or None."""
    return _CLASS_OF.get(re.sub(r"[\s_\-]", "", str(text)).upper())


def read_labelled_files(table_path, inputs=(), file_col=None, label_col=None, id_col=None):
    """The files and true classes a label table gives.

    Without ``inputs`` each row names its file (``file_col``; a relative path is taken from the
    table's folder). With ``inputs`` (files or directories of FITS) each row is matched to the
    input file of the same name without its FITS suffix, by ``id_col`` or else by the file
    column's name, or else to the one file in a folder of that name (``hippo cutout`` output).
    Rows without a label or with one that is not one of the four classes (``HYBRID``, ``?``) are
    left out with a reason; rows whose file is not among the inputs are skipped with a reason;
    the rest are scored.
    """
    from hippo.io.tables import EMPTY_TABLE, read_table

    table_path = Path(table_path)
    table = read_table(table_path)
    if len(table) == 0:
        raise InputError(table_path, EMPTY_TABLE)
    label_name = find_column(table, label_col, None, LABEL_COLUMNS, "label", True, table_path)
    id_name = find_column(table, id_col, "meta.id", ID_NAMES, "id", False, table_path)
    file_name = find_column(table, file_col, None, FILE_COLUMNS, "file", not inputs or id_name is None, table_path)
    if inputs:
        files, missing = find_fits_files(inputs)
        by_name, by_folder = {}, {}
        for path in files:
            by_name.setdefault(fits_stem(path), []).append(path)
            # hippo cutout writes DIR/<source>/<survey>.fits: the folder carries the source's name
            by_folder.setdefault(Path(path).parent.name, []).append(path)
        skipped = list(missing)
    else:
        by_name, by_folder, skipped = None, None, []
    paths, names, labels, left_out, matched = [], [], [], [], set()
    for number, row in enumerate(table, start=1):
        file_text = _cell(row, file_name)
        name = _cell(row, id_name) if id_name else fits_stem(file_text)
        where = f"{table_path} row {number}" + (f" ({name})" if name else "")
        given = _cell(row, label_name)
        label = class_name(given)
        if label is None:
            left_out.append((where, "no label" if not given else f"label {given!r} is not FRI, FRII, BENT or COMP"))
            continue
        if by_name is None:
            if not file_text:  # Path("") would be the table's own folder
                skipped.append((where, "no file given"))
                continue
            path = Path(file_text)
            path = path if path.is_absolute() else table_path.parent / path
            kind, reason = path_kind(path)
            if kind != "file":  # a link loop, dangling link or FIFO: said so, and never opened
                skipped.append((str(path), reason or "is a directory, not a FITS file"))
                continue
        elif not name:
            skipped.append((where, f"no {'id' if id_name else 'file'} given"))
            continue
        else:
            candidates = by_name.get(name) or by_folder.get(name, [])
            if len(candidates) != 1:
                skipped.append((where, "no input file or folder of that name" if not candidates else
                                f"{len(candidates)} input files of that name ({candidates[0]}, {candidates[1]}): "
                                f"give one survey's files"))
                continue
            path = candidates[0]
            matched.add(path)
        paths.append(path)
        names.append(name)
        labels.append(label)
    if not paths:
        first = (skipped + left_out)[0]
        raise InputError(table_path, f"no row can be scored (first: {first[0]}: {first[1]})")
    unlabelled = 0 if by_name is None else sum(1 for group in by_name.values() for path in group if path not in matched)
    return LabelledFiles(paths=paths, names=names, labels=labels, skipped=skipped, left_out=left_out,
                         unlabelled=unlabelled)


def _cell(row, column):
    """A table cell as stripped text; '' for a masked (empty) cell or no column."""
    if column is None or np.ma.is_masked(row[column]):
        return ""
    return str(row[column]).strip()


def true_class_indices(labels, classes):
    """Class indices (into ``classes``) of class names."""
    return np.array([classes.index(label) for label in labels], dtype=int)
