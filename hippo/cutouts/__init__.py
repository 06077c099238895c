"""Cutouts with exact WCS from local and remote surveys, reprojection onto common grids, batch runs.

- ``cut_image(image, coord, size, pixel_scale=None)``: the numerics, for an already-read image.
- ``cutout(...)``: the API twin of ``hippo cutout`` (many positions, many surveys, an index).
"""

from hippo.cutouts.cut import Cutout, cut_image, resample_image, write_cutout
from hippo.cutouts.driver import cutout

__all__ = ["Cutout", "cut_image", "cutout", "resample_image", "write_cutout"]
