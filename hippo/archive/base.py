"""What every survey offers (``cutout``, ``describe``), and where HIPPO keeps its caches."""

import os
from pathlib import Path


def cache_dir(*parts):
    """HIPPO's cache directory (``$HIPPO_CACHE_DIR``, else the user cache dir), created on use."""
    root = os.environ.get("HIPPO_CACHE_DIR")
    if not root:
        from platformdirs import user_cache_dir

        root = user_cache_dir("hippo")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


class Survey:
    """A survey HIPPO can cut from: a local image, a directory of tiles, or a remote service.

    Subclasses set ``name`` (used in output file names), ``kind`` (``local``, ``tiles``,
    ``remote``) and implement ``cutout``; ``is_radio`` decides contours versus image in overlays.
    """

    name = ""
    kind = ""
    is_radio = False
    pixel_scale_arcsec = None

    def cutout(self, coord, size, pixel_scale=None, resampling="interp"):
        """Cut around ``coord`` (SkyCoord).

        Parameters
        ----------
        coord : astropy.coordinates.SkyCoord
        size : str, Quantity or float
            Width and height (plain numbers are arcsec).
        pixel_scale : str, Quantity, float or None
            None: the survey's own pixels; else resample onto a centred TAN grid of that pixel size.
        resampling : {"interp", "exact"}
            Interpolation (display) or flux-conserving (photometry), when resampling.

        Returns
        -------
        hippo.cutouts.Cutout
            With ``.data``, ``.wcs``, ``.header`` and ``.status`` (``ok``, ``partial``, ``no_coverage``).
        """
        raise NotImplementedError

    def cutouts(self, coords, size, pixel_scale=None, resampling="interp"):
        """Cutouts at many positions, in order (subclasses vectorise where they can)."""
        for coord in coords:
            yield self.cutout(coord, size, pixel_scale, resampling)

    def describe(self):
        """One row for ``hippo surveys``: name, kind, location, coverage, pixel scale, radio."""
        return {"name": self.name, "kind": self.kind, "location": "", "coverage": "",
                "pixel_scale_arcsec": self.pixel_scale_arcsec, "radio": self.is_radio}

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"
