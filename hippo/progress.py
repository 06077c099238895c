"""Progress bars on a terminal, silence in batch (``--quiet`` or no TTY), as SPEC asks."""

import sys

# tqdm.std, not tqdm.auto: without ipywidgets the notebook flavour warns in every Jupyter cell.
from tqdm.std import tqdm


def progress(iterable=None, *, total=None, desc=None, quiet=False, unit="it"):
    """Wrap ``iterable`` in a progress bar shown only when stderr is a terminal and not ``quiet``."""
    disable = quiet or not sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=disable, unit=unit, leave=False,
                dynamic_ncols=True)
