"""HIPPO: multi-wavelength source characterisation for radio astronomers.

Every CLI command has a Python twin with the same parameters::

    import hippo
    hippo.cutout(ra=228.1133, dec=45.6739, survey=["FIRST"], size="4.5arcmin", output="cutouts")
    hippo.classify(["cutouts/"], output="labels.csv")

The twins are imported lazily, so ``import hippo`` (and ``hippo --help``) stays fast and never
imports torch. Subpackages are named by capability (``cutouts``, ``overlays``, ``morphology``,
``crossmatch``, ...) so that they never shadow the functions of the same verb.
"""

import importlib

from hippo._version import __version__

# public name -> "module:attribute"
_API = {
    "surveys": "hippo.archive:surveys",
    "cutout": "hippo.cutouts:cutout",
    "overlay": "hippo.overlays:overlay",
    "classify": "hippo.morphology:classify",
    "evaluate": "hippo.morphology:evaluate",
    "train": "hippo.morphology:train",
    "xmatch": "hippo.crossmatch:xmatch",
    "backup": "hippo.transfer:backup",
    "verify": "hippo.transfer:verify",
    "restore": "hippo.transfer:restore",
    "batch_classify": "hippo.batch:batch_classify",
    "batch_cutout": "hippo.batch:batch_cutout",
    "inspect": "hippo.inspection:inspect",
    "demo": "hippo.demonstration:demo",
    "Store": "hippo.store:Store",
    "read_image": "hippo.io:read_image",
    "read_positions": "hippo.io:read_positions",
    "HippoError": "hippo.errors:HippoError",
    "InputError": "hippo.errors:InputError",
}

__all__ = ["__version__", *_API]


def __getattr__(name):
    try:
        target = _API[name]
    except KeyError:
        raise AttributeError(f"module 'hippo' has no attribute {name!r}") from None
    module_name, attribute = target.split(":")
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
