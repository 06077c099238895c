"""Benchmark: ``hippo xmatch`` vs the astropy script a user would write vs STILTS ``tskymatch2``.

100,000 radio x 1,000,000 optical sources (simulated: ~70% of the radio sources have a host in
the optical catalogue), FITS in a temporary directory; every tool runs as a whole process
(start-up and imports included), reads both FITS files, matches each radio source to its nearest
optical source within 5 arcsec and writes a FITS table. Prints the median wall time of each and
the ratios (above 1: hippo is faster), and checks that the three agree on the pairs.

    nice -n 10 python bench/bench_xmatch.py [--repeats 3]
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from astropy.table import Table

from _timing import timed

ASTROPY_SCRIPT = textwrap.dedent("""
    import sys
    import astropy.units as u
    from astropy.coordinates import SkyCoord, match_coordinates_sky
    from astropy.table import Table

    radio, optical = Table.read(sys.argv[1]), Table.read(sys.argv[2])
    index, separation, _ = match_coordinates_sky(SkyCoord(radio["RA"], radio["DEC"], unit="deg"),
                                                 SkyCoord(optical["ra"], optical["dec"], unit="deg"))
    keep = separation < 5 * u.arcsec
    Table({"radio_id": radio["Source_Name"][keep], "optical_id": optical["objid"][index[keep]],
           "separation_arcsec": separation[keep].arcsec}).write(sys.argv[3], overwrite=True)
""")


def make_catalogues(directory, n_radio=100_000, n_optical=1_000_000, seed=3):
    """A 25 deg^2 field: optical sources uniform, radio sources on 70% of hosts with ~1" scatter."""
    rng = np.random.default_rng(seed)
    ra0, dec0, side = 150.0, 2.0, 5.0
    optical_ra = ra0 + rng.uniform(-side / 2, side / 2, n_optical) / np.cos(np.radians(dec0))
    optical_dec = dec0 + rng.uniform(-side / 2, side / 2, n_optical)
    Table({"objid": np.arange(n_optical, dtype=np.int64) + 10 ** 12, "ra": optical_ra, "dec": optical_dec,
           "mag": rng.uniform(16, 24.5, n_optical).astype(np.float32)}).write(directory / "optical.fits")
    hosts = rng.choice(n_optical, int(0.7 * n_radio), replace=False)
    lone = n_radio - len(hosts)
    error = rng.uniform(0.3, 1.5, n_radio)
    radio_ra = np.concatenate([optical_ra[hosts], ra0 + rng.uniform(-side / 2, side / 2, lone)])
    radio_dec = np.concatenate([optical_dec[hosts], dec0 + rng.uniform(-side / 2, side / 2, lone)])
    radio_ra = radio_ra + rng.normal(0, 1, n_radio) * error / 3600 / np.cos(np.radians(radio_dec))
    radio_dec = radio_dec + rng.normal(0, 1, n_radio) * error / 3600
    Table({"Source_Name": np.array([f"ILTJ{i:08d}" for i in range(n_radio)]), "RA": radio_ra, "DEC": radio_dec,
           "E_RA": error, "E_DEC": error}).write(directory / "radio.fits")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="hippo-bench-xmatch-"))
    try:
        make_catalogues(scratch)
        radio, optical = scratch / "radio.fits", scratch / "optical.fits"
        (scratch / "astropy_match.py").write_text(ASTROPY_SCRIPT)
        commands = {
            "hippo": [sys.executable, "-m", "hippo", "xmatch", str(radio), str(optical), "--method", "nn",
                      "--radius", "5arcsec", "-o", str(scratch / "hippo.fits"), "--quiet"],
            "astropy": [sys.executable, str(scratch / "astropy_match.py"), str(radio), str(optical),
                        str(scratch / "astropy.fits")],
        }
        if shutil.which("stilts"):
            commands["stilts"] = ["stilts", "tskymatch2", f"in1={radio}", f"in2={optical}", "ra1=RA", "dec1=DEC",
                                  "ra2=ra", "dec2=dec", "error=5", "find=best1", "join=1and2",
                                  f"out={scratch / 'stilts.fits'}"]
        else:
            print("stilts not found (Debian package stilts): STILTS skipped")
        times = {name: [] for name in commands}
        for _ in range(options.repeats):
            for name, command in commands.items():
                times[name].append(timed(command))
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, median in medians.items():
            runs = ", ".join(f"{t:.2f}" for t in times[name])
            print(f"{name:8s} median {median:.2f} s  (runs: {runs})")
        for peer in ("astropy", "stilts"):
            if peer in medians:
                print(f"ratio {peer}/hippo: {medians[peer] / medians['hippo']:.2f}x")
        hippo_pairs = Table.read(scratch / "hippo.fits")
        astropy_pairs = Table.read(scratch / "astropy.fits")
        same = (len(hippo_pairs) == len(astropy_pairs)
                and np.all(hippo_pairs["optical_id"].astype(np.int64) == astropy_pairs["optical_id"]))
        print(f"pairs: hippo {len(hippo_pairs)}, astropy {len(astropy_pairs)}"
              + (f", stilts {len(Table.read(scratch / 'stilts.fits'))}" if "stilts" in commands else "")
              + ("; hippo and astropy agree pair for pair" if same else "; hippo and astropy DIFFER"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
