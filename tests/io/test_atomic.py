"""Atomic writes: outputs get the mode of any new file, also when many threads write at once."""

import os
from concurrent.futures import ThreadPoolExecutor

from hippo.io import atomic_write_bytes


def test_parallel_atomic_writes_all_get_the_umask_mode(tmp_path):
    previous = os.umask(0o002)
    try:
        paths = [tmp_path / f"out{i}.bin" for i in range(400)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda path: atomic_write_bytes(path, b"x"), paths))
    finally:
        os.umask(previous)
    modes = {oct(path.stat().st_mode & 0o777) for path in paths}
    assert modes == {oct(0o664)}
