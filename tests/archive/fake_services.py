"""A local HTTP server on 127.0.0.1 that plays SkyView and hips2fits: good, slow, failing and empty answers.

The answers are real FITS images built from the request (a TAN grid centred on the requested
position, with a Gaussian source there), so tests check geometry end to end through astroquery.
"""

import io
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

SURVEYS_FORM = """<html><body>
<form action="runquery.pl" method="get">
<input type="text" name="Position" value="">
<select name="survey" id="Radio:">
<option>VLA FIRST (1.4 GHz)</option><option>NVSS</option><option>TGSS ADR1</option><option>SUMSS 843 MHz</option>
</select>
<select name="survey" id="Optical:DSS">
<option>DSS</option><option>DSS2 Red</option><option>DSS2 Blue</option><option>DSS2 IR</option>
</select>
<select name="survey" id="Infrared:WISE">
<option>WISE 3.4</option><option>WISE 4.6</option><option>WISE 12</option><option>WISE 22</option>
<option>2MASS-J</option><option>2MASS-H</option><option>2MASS-K</option>
</select>
<select name="survey" id="Optical:SDSS"><option>SDSSg</option><option>SDSSr</option><option>SDSSi</option></select>
<input type="text" name="pixels" value="300">
<input type="submit" value="Submit">
</form></body></html>"""


class FakeSurveyServer:
    """``mode``: ``good``, ``slow`` (answers after ``delay`` s), ``failing`` (HTTP 500), ``empty``
    (a blank image), ``nolink`` (SkyView page without an image), ``flaky`` (the first
    ``failures`` image requests fail with 503, then good). ``fail_below_dec`` makes requests
    south of that Dec fail with 500 whatever the mode."""

    def __init__(self):
        self.mode = "good"
        self.delay = 3.0
        self.failures = 2
        self.fail_below_dec = None
        self.image_requests = []
        self.samplers = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def skyview_url(self):
        return f"http://127.0.0.1:{self.port}/current/cgi/basicform.pl"

    @property
    def hips2fits_url(self):
        return f"http://127.0.0.1:{self.port}/hips-image-services/hips2fits"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- answers ---------------------------------------------------------------------------

    def handle(self, request):
        parsed = urllib.parse.urlparse(request.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        if parsed.path.endswith("basicform.pl"):
            return self._send(request, 200, SURVEYS_FORM.encode(), "text/html")
        if parsed.path.endswith("runquery.pl"):
            if self.mode == "nolink":
                return self._send(request, 200, b"<html><body>No data</body></html>", "text/html")
            link = "/tempspace/fits/image.fits?" + urllib.parse.urlencode(query)
            return self._send(request, 200, f'<html><body><a href="{link}">FITS</a></body></html>'.encode(),
                              "text/html")
        if parsed.path.endswith("image.fits"):
            self.samplers.append(query.get("Sampler"))
            ra, dec = (float(v) for v in query["Position"].replace(",", " ").split())
            pixels = int(query["pixels"])
            size_deg = float(query["size"].split(",")[0])
            header = _tan_header(ra, dec, pixels, size_deg / pixels * 3600, radesys="FK5")
            return self._image(request, header, dec)
        if parsed.path.endswith("hips2fits"):
            header = fits.Header({k: v for k, v in json.loads(query["wcs"]).items() if not k.startswith("NAXIS")})
            sent = json.loads(query["wcs"])
            header["NAXIS1"], header["NAXIS2"] = sent["NAXIS1"], sent["NAXIS2"]
            return self._image(request, header, float(header["CRVAL2"]))
        return self._send(request, 404, b"not found", "text/plain")

    def _image(self, request, header, dec):
        with self.lock:
            self.image_requests.append(request.path)
            attempt = len(self.image_requests)
        if self.fail_below_dec is not None and dec < self.fail_below_dec:
            return self._send(request, 500, b"internal error", "text/plain")
        if self.mode == "slow":
            time.sleep(self.delay)
        if self.mode == "failing" or (self.mode == "flaky" and attempt <= self.failures):
            return self._send(request, 503 if self.mode == "flaky" else 500, b"server error", "text/plain")
        nx, ny = int(header["NAXIS1"]), int(header["NAXIS2"])
        if self.mode == "empty":
            data = np.zeros((ny, nx), np.float32)
        else:
            wcs = WCS(header)
            yy, xx = np.mgrid[0:ny, 0:nx]
            cx, cy = wcs.wcs.crpix[0] - 1, wcs.wcs.crpix[1] - 1
            data = (1e-4 + np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 8.0)).astype(np.float32)
        header = fits.Header([card for card in header.cards if not card.keyword.startswith("NAXIS")])
        header["BUNIT"] = "JY/BEAM"
        header["COMMENT"] = "played by the test server"
        buffer = io.BytesIO()
        fits.PrimaryHDU(data, header).writeto(buffer)
        # SkyView writes TAB characters into COMMENT cards: so does this server
        body = buffer.getvalue().replace(b"played by the", b"played\tby the")
        return self._send(request, 200, body, "application/fits")

    @staticmethod
    def _send(request, status, body, content_type):
        try:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)


def _tan_header(ra, dec, pixels, scale_arcsec, radesys="ICRS"):
    header = fits.Header()
    header.update({"NAXIS": 2, "NAXIS1": pixels, "NAXIS2": pixels, "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN",
                   "CRVAL1": ra, "CRVAL2": dec, "CRPIX1": (pixels + 1) / 2, "CRPIX2": (pixels + 1) / 2,
                   "CDELT1": -scale_arcsec / 3600, "CDELT2": scale_arcsec / 3600, "RADESYS": radesys,
                   "EQUINOX": 2000.0})
    return header
