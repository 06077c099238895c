"""What every survey offers (``cutout``, ``describe``), and where HIPPO keeps its caches."""

import os
from pathlib import Path

from hippo.cutouts.cut import cut_failed
from hippo.errors import UsageError


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

        Raises
        ------
        Exception
            When the cut fails: an unreadable file (InputError), a failed download (RemoteError)...;
            ``cutouts`` hands such a failure back as a Cutout of status ``error`` instead.
        """
        raise NotImplementedError

    def cutouts(self, coords, size, pixel_scale=None, resampling="interp"):
        """Cutouts at many positions, in order (subclasses vectorise where they can).

        One Cutout per position, always: a cut that fails (an unreadable or truncated file, a
        failed download, any exception) is yielded with status ``error`` and a message naming the
        input and the reason, and the positions after it are still cut. Usage errors (a bad
        ``size``, ``pixel_scale`` or ``resampling``) raise UsageError.
        """
        for coord in coords:
            yield self.cutout_or_error(coord, size, pixel_scale, resampling)

    def cutout_or_error(self, coord, size, pixel_scale=None, resampling="interp"):
        """``cutout``, with a failure (other than a usage error) as a Cutout of status ``error``."""
        try:
            return self.cutout(coord, size, pixel_scale, resampling)
        except UsageError:
            raise
        except Exception as exc:
            return cut_failed(exc, self.name)

    def identity(self):
        """What this survey input is now, so that a re-run can tell whether an earlier cutout was cut
        from the same data (``hippo cutout`` writes it as HIPPOSRC): here the kind and name; local
        surveys add what changes when their files do. Raises OSError when the input is gone."""
        return f"{self.kind} {self.name}"

    def describe(self):
        """One row for ``hippo surveys``: name, kind, location, coverage, pixel scale, radio."""
        return {"name": self.name, "kind": self.kind, "location": "", "coverage": "",
                "pixel_scale_arcsec": self.pixel_scale_arcsec, "radio": self.is_radio}

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"
