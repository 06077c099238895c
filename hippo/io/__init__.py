"""The one input/output layer every command uses: images, tables, coordinates, atomic writes."""

from hippo.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from hippo.io.coords import iau_name, parse_coordinate, validate_radec
from hippo.io.images import Image, read_image
from hippo.io.tables import (
    Positions,
    find_position_columns,
    read_positions,
    read_table,
    write_table,
)

__all__ = [
    "Image",
    "Positions",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "find_position_columns",
    "iau_name",
    "parse_coordinate",
    "read_image",
    "read_positions",
    "read_table",
    "validate_radec",
    "write_table",
]
