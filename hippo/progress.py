"""Progress bars on a terminal, silence in batch (``--quiet`` or no TTY), as SPEC asks."""

import sys


class _Silent:
    """What a progress bar offers, doing nothing: silent runs never import tqdm."""

    def __init__(self, iterable=None):
        self._iterable = iterable

    def __iter__(self):
        return iter(self._iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def update(self, n=1):
        pass

    def close(self):
        pass


def progress(iterable=None, *, total=None, desc=None, quiet=False, unit="it", unit_scale=False):
    """Wrap ``iterable`` in a progress bar shown only when stderr is a terminal and not ``quiet``.

    ``unit_scale`` shows large counts as k, M, ... (for bytes: KB, MB, ...).
    """
    if quiet or not sys.stderr.isatty():
        return _Silent(iterable)
    # tqdm.std, not tqdm.auto: without ipywidgets the notebook flavour warns in every Jupyter cell.
    from tqdm.std import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, unit_scale=unit_scale, leave=False,
                dynamic_ncols=True)
