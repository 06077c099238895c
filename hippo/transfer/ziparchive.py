"""Uncompressed (stored) zip archives built in memory from whole files, readable by any unzip.

zipfile.ZipFile costs about 30 µs of Python per member; for thousands of small files that is a
large share of a backup. The format for stored members without zip64 is simple enough to write
directly: a local header, the name and the bytes per member, then the central directory.
"""

import functools
import struct
import time
import zlib

MAX_MEMBERS = 0xFFFF  # beyond this (or 4 GiB) an archive would need zip64 records
MAX_BYTES = 0xFFFFFFFF
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")
_UTF8_NAME = 0x800


# The range a zip's DOS date field holds: 1980-01-01 00:00:00 to 2107-12-31 23:59:58 UTC.
_DOS_FIRST = 315532800
_DOS_LAST = 4354819198


@functools.lru_cache(maxsize=4096)  # files written together share their second
def dos_time(seconds):
    """(DOS time, DOS date) of a Unix time in whole seconds, in UTC, clamped to the years a zip
    can hold, 1980-2107 (the exact mtime lives in the manifest, and restore sets that one)."""
    year, month, day, hour, minute, second = time.gmtime(min(max(seconds, _DOS_FIRST), _DOS_LAST))[:6]
    return hour << 11 | minute << 5 | second // 2, (year - 1980) << 9 | month << 5 | day


def build_zip(members):
    """Bytes of a stored zip holding ``members``: ``(name, data, mtime_ns, mode)`` tuples."""
    if len(members) > MAX_MEMBERS:
        raise ValueError(f"{len(members)} members is more than a zip without zip64 holds")
    pieces, directory, offset = [], [], 0
    for name, data, mtime_ns, mode in members:
        encoded = name.encode()
        flags = 0 if encoded.isascii() else _UTF8_NAME
        crc, size, name_size = zlib.crc32(data), len(data), len(encoded)
        clock, date = dos_time(mtime_ns // 1_000_000_000)
        pieces += (_LOCAL.pack(b"PK\x03\x04", 20, 0, flags, 0, clock, date, crc, size, size, name_size, 0),
                   encoded, data)
        directory += (_CENTRAL.pack(b"PK\x01\x02", 20, 3, 20, 0, flags, 0, clock, date, crc, size, size,
                                    name_size, 0, 0, 0, 0, (0o100000 | mode) << 16, offset), encoded)
        offset += 30 + name_size + size  # 30: the local header's size
        if offset > MAX_BYTES:
            raise ValueError("a zip without zip64 holds at most 4 GiB")
    central = b"".join(directory)
    pieces += [central, _END.pack(b"PK\x05\x06", 0, 0, len(members), len(members), len(central), offset, 0)]
    return b"".join(pieces)
