"""The shipped classifier on real images: labels, invariance, uncertain/ood flags, outputs, errors."""

import csv
import json
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import hippo
from hippo.errors import UsageError
from hippo.io import Image, read_image
from hippo.morphology import CLASSES, load_classifier

COLUMNS = ["source", "ra", "dec", "label", "p_fri", "p_frii", "p_bent", "p_comp", "confidence", "flag", "message",
           "input"]  # SPEC's columns, then the input each row came from
WISE = "first_wise/2279p454_ac51-w1-int-3_ra228.11333333333332_dec45.67388888888889_asec480.000.fits"


@pytest.fixture(scope="module")
def classifier():
    return load_classifier(threads=1)


@pytest.fixture(scope="module")
def labelled_raw_files(shared_data):
    """20 raw FIRST FITS files of sources with a firstgalaxydata label (5 per class where there are)."""
    rows = [r for r in csv.DictReader(open(shared_data / "first_mirabest" / "index.csv")) if r["fgd_label"]]
    chosen = []
    for label in ("FRI", "FRII", "BENT"):
        chosen += [r for r in rows if r["fgd_label"] == label][:7]
    return [(shared_data / "first_mirabest" / r["file"], r["fgd_label"]) for r in chosen]


def test_classify_labels_real_first_fits_files(labelled_raw_files, hippo_cli, tmp_path):
    output = tmp_path / "labels.csv"
    result = hippo_cli("classify", *[p for p, _ in labelled_raw_files], "-o", output, "--threads", "1")
    assert result.returncode == 0, result.stderr
    table = Table.read(output, format="ascii.csv")
    assert table.colnames == COLUMNS
    assert len(table) == len(labelled_raw_files)
    probabilities = np.array([table[c] for c in ("p_fri", "p_frii", "p_bent", "p_comp")]).T
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(table["confidence"], probabilities.max(axis=1))
    agree = np.mean([label == truth for label, (_, truth) in zip(table["label"], labelled_raw_files)])
    assert agree >= 0.7
    assert set(table["flag"]) <= {"ok", "uncertain"}
    # The source is at the image centre: these SkyView cutouts are centred on the host.
    first = read_image(labelled_raw_files[0][0])
    ra, dec = first.wcs.pixel_to_world_values(149.5, 149.5)
    assert table["ra"][0] == pytest.approx(float(ra), abs=1e-9)
    assert table["dec"][0] == pytest.approx(float(dec), abs=1e-9)


def test_probabilities_are_the_same_for_every_rotation_and_flip(classifier, labelled_raw_files):
    image = read_image(labelled_raw_files[8][0])
    views = []
    for flipped in (image.data, image.data[:, ::-1]):
        for turns in range(4):
            views.append(Image(data=np.ascontiguousarray(np.rot90(flipped, turns)), wcs=image.wcs,
                               header=image.header, path=f"view{len(views)}"))
    table = classifier.classify_images(views)
    probabilities = np.array([table[c] for c in ("p_fri", "p_frii", "p_bent", "p_comp")]).T
    np.testing.assert_allclose(probabilities, np.repeat(probabilities[:1], 8, axis=0), atol=1e-5)


def test_images_unlike_the_training_data_are_flagged_ood_with_a_reason(classifier, shared_data):
    nvss = read_image(shared_data / "first_nvss_pairs" / "NVSS_1408+0050_II.fits.fz")
    wise = read_image(shared_data / WISE)
    unitless_header = wise.header.copy()
    del unitless_header["BUNIT"]
    wise_without_units = Image(data=wise.data, wcs=wise.wcs, header=unitless_header, path="wise_no_bunit")
    first = read_image(shared_data / "first_mirabest" / "100_010.451-009.284_0.0529_0080.60.fits.fz")
    noise = np.random.default_rng(3).normal(0.0, 1.5e-4, first.data.shape).astype(np.float32)
    blank = Image(data=noise, wcs=first.wcs, header=first.header, path="blank")
    table = classifier.classify_images([nvss, wise, wise_without_units, blank],
                                       names=["nvss", "wise", "wise_no_bunit", "blank"])
    assert list(table["flag"]) == ["ood"] * 4
    # no confident label on an input unlike the training data: "don't know" probabilities
    np.testing.assert_allclose(np.array([table[c] for c in ("p_fri", "p_frii", "p_bent", "p_comp")]), 0.25)
    np.testing.assert_allclose(table["confidence"], 0.25)
    messages = dict(zip(table["source"], table["message"]))
    assert "pixel scale 15" in messages["nvss"]
    assert "'DN'" in messages["wise"]
    assert "background 16.3 sigma from zero and no BUNIT card" in messages["wise_no_bunit"]
    assert "blank field" in messages["blank"]


def test_an_infrared_image_without_units_is_ood_wherever_it_is_cut_and_first_without_units_is_not(
        classifier, shared_data, labelled_raw_files):
    """Nine 5' crops of the AllWISE W1 image without BUNIT, as they are and sky-subtracted: three of
    them used to get labels flagged only `uncertain` (their fields are less crowded than the centre's)."""
    wise = read_image(shared_data / WISE)
    header = wise.header.copy()
    del header["BUNIT"]
    crops = []
    for y in (110, 175, 240):
        for x in (110, 175, 240):
            window = (slice(y - 110, y + 110), slice(x - 110, x + 110))
            data = np.asarray(wise.data[window], dtype=np.float32)
            for sky in (0.0, float(np.median(data))):
                crops.append(Image(data=data - sky, wcs=wise.wcs[window], header=header,
                                   path=f"w1_{y}_{x}{'_sky_subtracted' if sky else ''}"))
    table = classifier.classify_images(crops)
    assert list(table["flag"]) == ["ood"] * len(crops)
    reasons = " ".join(table["message"])
    assert reasons.count("sigma from zero and no BUNIT card") == 9  # the crops with their sky
    assert "more separate sources above 5 sigma than below -5 sigma" in reasons  # the sky-subtracted ones

    # real FIRST images lose nothing to these checks: without BUNIT they get the same answers
    first = [read_image(path) for path, _ in labelled_raw_files]
    unitless = []
    for image in first:
        header = image.header.copy()
        del header["BUNIT"]
        unitless.append(Image(data=image.data, wcs=image.wcs, header=header, path=image.path))
    with_units, without_units = classifier.classify_images(first), classifier.classify_images(unitless)
    assert list(without_units["flag"]) == list(with_units["flag"]) and "ood" not in list(with_units["flag"])
    np.testing.assert_allclose(without_units["confidence"], with_units["confidence"])


def test_zero_filled_blank_sky_is_treated_as_no_data(classifier, labelled_raw_files):
    """SkyView pads the sky beyond a survey's edge with zeros: a cutout whose left 110 columns are
    zero gets the answer of the same cutout with NaN there (before: the zeros pulled the noise down
    and counted as sky, so one label was flagged `ok` with a third of the field missing)."""
    images = []
    for path, _ in labelled_raw_files[:8]:
        image = read_image(path)
        for fill in (np.nan, 0.0):
            data = np.array(image.data, dtype=np.float32)
            data[:, :110] = fill
            images.append(Image(data=data, wcs=image.wcs, header=image.header, path=f"{path.name}_{fill}"))
    table = classifier.classify_images(images)
    nan_filled, zero_filled = table[0::2], table[1::2]
    np.testing.assert_allclose(zero_filled["confidence"], nan_filled["confidence"], atol=1e-6)
    assert list(zero_filled["flag"]) == list(nan_filled["flag"])
    assert all("emission beyond the image is unseen" in m or "below the threshold" in m
               for m in zero_filled["message"])


def test_sky_beyond_the_data_sets_9_arcmin_field_does_not_change_the_answer(classifier, labelled_raw_files):
    """The data set's images were clipped on the noise of their 9' field: a 300 x 300 FIRST cutout set
    in a 600 x 600 image whose outer ring is three times noisier gets exactly its own answer."""
    image = read_image(labelled_raw_files[3][0])
    noisy = np.random.default_rng(7).normal(0.0, 3 * float(np.nanstd(image.data)), (600, 600))
    noisy[150:450, 150:450] = image.data
    wcs = image.wcs.deepcopy()
    wcs.wcs.crpix = np.asarray(wcs.wcs.crpix) + 150
    wide = Image(data=noisy.astype(np.float32), wcs=wcs, header=image.header, path="wide")
    table = classifier.classify_images([image, wide])
    assert table["label"][0] == table["label"][1]
    np.testing.assert_allclose(table["confidence"][1], table["confidence"][0], atol=1e-6)


def test_an_image_covering_little_of_the_field_gets_no_confident_label(classifier, labelled_raw_files):
    image = read_image(labelled_raw_files[0][0])

    def centre_crop(half):
        data = image.data[150 - half:150 + half, 150 - half:150 + half]
        return Image(data=data, wcs=image.wcs[150 - half:150 + half, 150 - half:150 + half], header=image.header,
                     path=f"crop{2 * half}")

    # 18" (0.4 % of the model's 4.8' field), 3.6' (56 %) and the whole 9' image.
    table = classifier.classify_images([centre_crop(5), centre_crop(60), image])
    stamp, small, whole = table
    assert stamp["flag"] == "ood" and "covers 0% of the model's 4.8' field" in stamp["message"]
    assert stamp["confidence"] == pytest.approx(0.25)
    assert small["flag"] == "uncertain" and "covers 56%" in small["message"]
    assert whole["message"] == "" or "covers" not in whole["message"]


def test_galactic_and_b1950_images_are_placed_on_the_sky_correctly(classifier, labelled_raw_files, tmp_path):
    """The same FIRST source reprojected onto galactic TAN axes, and its header rewritten in FK4 B1950:
    positions come back in ICRS and the label is the one of the original image."""
    from astropy.coordinates import FK4, SkyCoord
    from astropy.wcs import WCS
    from reproject import reproject_interp

    original = read_image(labelled_raw_files[1][0])
    ra, dec = (float(v) for v in original.wcs.pixel_to_world_values(149.5, 149.5))
    centre = SkyCoord(ra, dec, unit="deg")
    galactic = WCS(naxis=2)
    galactic.wcs.ctype = ["GLON-TAN", "GLAT-TAN"]
    galactic.wcs.crval = [centre.galactic.l.deg, centre.galactic.b.deg]
    galactic.wcs.crpix = [150.5, 150.5]
    galactic.wcs.cdelt = [-0.0005, 0.0005]
    data, _ = reproject_interp((original.data, original.wcs), galactic, shape_out=(300, 300))
    b1950 = original.wcs.deepcopy()
    old = centre.transform_to(FK4(equinox="B1950"))
    b1950.wcs.crval = [old.ra.deg, old.dec.deg]
    b1950.wcs.radesys, b1950.wcs.equinox = "FK4", 1950.0
    b1950.wcs.crpix = [150.5, 150.5]
    views = [original, Image(data=data.astype(np.float32), wcs=galactic, header=original.header, path="galactic"),
             Image(data=original.data, wcs=b1950, header=original.header, path="b1950")]
    table = classifier.classify_images(views)
    for row in table:
        assert SkyCoord(row["ra"], row["dec"], unit="deg").separation(centre).arcsec < 0.1
    assert len(set(table["label"])) == 1
    # Ecliptic axes (which astropy's wcs_to_celestial_frame reads as ICRS): the centre still lands right.
    from astropy.coordinates import BarycentricMeanEcliptic

    ecliptic = original.wcs.deepcopy()
    on_ecliptic = centre.transform_to(BarycentricMeanEcliptic(equinox="J2000"))
    ecliptic.wcs.ctype = ["ELON-TAN", "ELAT-TAN"]
    ecliptic.wcs.crval = [on_ecliptic.lon.deg, on_ecliptic.lat.deg]
    ecliptic.wcs.crpix = [150.5, 150.5]
    row = classifier.classify_images([Image(data=original.data, wcs=ecliptic, header=original.header,
                                            path="ecliptic")])[0]
    assert SkyCoord(row["ra"], row["dec"], unit="deg").separation(centre).arcsec < 0.1


def test_a_cd_matrix_finer_grid_and_swapped_axes_give_the_reference_answer(classifier, labelled_raw_files):
    """The same FIRST image repackaged: upsampled 2x with a CD matrix (0.9"/px, block-averaged back
    by the classifier), and with its axes transposed (CTYPE1 = DEC--TAN, legal FITS)."""
    from astropy.coordinates import SkyCoord
    from astropy.wcs import WCS

    original = read_image(labelled_raw_files[2][0])
    header = original.wcs.to_header()
    fine = WCS(naxis=2)
    fine.wcs.ctype, fine.wcs.crval = list(original.wcs.wcs.ctype), list(original.wcs.wcs.crval)
    fine.wcs.crpix = (np.asarray(original.wcs.wcs.crpix) - 0.5) * 2 + 0.5
    fine.wcs.cd = np.diag(np.asarray(original.wcs.wcs.cdelt) / 2)
    upsampled = np.repeat(np.repeat(original.data, 2, axis=0), 2, axis=1)
    swapped = WCS(naxis=2)
    swapped.wcs.ctype = [header["CTYPE2"], header["CTYPE1"]]
    swapped.wcs.crval = [header["CRVAL2"], header["CRVAL1"]]
    swapped.wcs.crpix = [header["CRPIX2"], header["CRPIX1"]]
    swapped.wcs.cdelt = [header["CDELT2"], header["CDELT1"]]
    views = [original, Image(data=upsampled, wcs=fine, header=original.header, path="fine_cd"),
             Image(data=np.ascontiguousarray(original.data.T), wcs=swapped, header=original.header, path="swapped")]
    reference, *others = classifier.classify_images(views)
    for row in others:
        assert row["label"] == reference["label"] and row["confidence"] == pytest.approx(reference["confidence"], abs=0.01)
        assert SkyCoord(row["ra"], row["dec"], unit="deg").separation(
            SkyCoord(reference["ra"], reference["dec"], unit="deg")).arcsec < 0.5


def test_a_low_confidence_label_is_flagged_uncertain(classifier, labelled_raw_files):
    image = read_image(labelled_raw_files[0][0])
    table = classifier.classify_images([image] * 2)
    threshold = classifier.uncertain_threshold
    for row in table:
        assert row["flag"] == ("uncertain" if row["confidence"] < threshold else "ok")


def test_partial_failure_reports_each_bad_input_and_exits_3(labelled_raw_files, hippo_cli, tmp_path):
    not_fits = tmp_path / "notes.fits"
    not_fits.write_text("not a FITS file")
    good = labelled_raw_files[0][0]
    result = hippo_cli("classify", good, tmp_path / "missing.fits", not_fits, "--json", "--threads", "1")
    assert result.returncode == 3
    rows = json.loads(result.stdout)
    flags = {row["input"]: row["flag"] for row in rows}
    assert flags[str(not_fits)] == "error" and flags[str(tmp_path / "missing.fits")] == "error"
    # an error row is named as any other: the source's name, and the file as given in input
    assert {row["source"] for row in rows if row["flag"] == "error"} == {"notes", "missing"}
    assert sum(flag in ("ok", "uncertain") for flag in flags.values()) == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors[0] == f"error: {tmp_path / 'missing.fits'}: no such file or directory"
    assert errors[1].startswith(f"error: {not_fits}: not a") and "FITS file" in errors[1]
    assert len(errors) == 2 and "Traceback" not in result.stderr


def test_each_row_names_its_input_as_given_also_in_the_store(labelled_raw_files, hippo_cli, tmp_path):
    """Files of one name in two folders are one source and two inputs; the store keeps them apart."""
    image = labelled_raw_files[0][0]
    for folder in ("dirA", "dirB"):
        (tmp_path / folder).mkdir()
        shutil.copyfile(image, tmp_path / folder / "x.fits.fz")
    shutil.copyfile(image, tmp_path / "x.fits.fz")
    result = hippo_cli("classify", "dirA", "dirB/", "x.fits.fz", "missing.fits", "-o", "out.csv", "--store", "h.db",
                       "--threads", "1", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    table = Table.read(tmp_path / "out.csv", format="ascii.csv")
    assert table.colnames == COLUMNS
    assert list(table["input"]) == ["missing.fits", "dirA/x.fits.fz", "dirB/x.fits.fz", "x.fits.fz"]
    assert list(table["source"]) == ["missing", "x", "x", "x"]  # an error row is named as any other
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        "error: missing.fits: no such file or directory"]
    from hippo.store import Store

    with Store.open(tmp_path / "h.db") as database:
        stored = database.table("classifications")
    assert list(stored["input"]) == ["missing.fits"] + [str(tmp_path / given) for given in table["input"][1:]]


def test_unreadable_cutout_products_are_named_by_their_source_folder_not_the_survey(classifier, labelled_raw_files,
                                                                                    tmp_path):
    # hippo cutout writes DIR/<source>/<survey>.fits: named by the file, every failed source of an
    # output would be called after the survey and hide the others in the store
    (tmp_path / "cutouts.csv").write_text("name,survey,ra,dec,path,status\n")
    for source in ("J100000+020000", "J100001+020010"):
        (tmp_path / source).mkdir()
        (tmp_path / source / "first.fits").write_bytes(b"not FITS at all")
    shutil.copyfile(labelled_raw_files[0][0], tmp_path / "good.fits.fz")  # one that can be read
    table = hippo.classify([tmp_path], classifier=classifier, quiet=True)
    assert list(table["source"]) == ["J100000+020000", "J100001+020010", "good"]
    assert list(table["flag"][:2]) == ["error", "error"]


def test_a_store_or_output_that_cannot_be_used_is_refused_before_any_work(labelled_raw_files, hippo_cli, tmp_path):
    (tmp_path / "text.db").write_text("not a store, but a note of more than five hundred and twelve bytes " * 10)
    (tmp_path / "afile").write_text("")
    image = labelled_raw_files[0][0]
    for options, message in ((["-o", "x.csv", "--store", "text.db"],
                              "text.db: is not a HIPPO store (not an SQLite database)"),
                             (["-o", "afile/x.csv", "--store", "h.db"], "afile/x.csv: cannot write here (afile is "
                                                                        "a file, not a folder)"),
                             (["-o", "labels", "--store", "h.db"], "labels: unknown table format (use .csv, .ecsv, "
                                                                   ".fits, .vot/.xml or .parquet)")):
        result = hippo_cli("classify", image, *options, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.strip() == f"error: {message}"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["afile", "text.db"]  # no output, no store


def test_no_usable_input_is_a_one_line_error_with_exit_2(hippo_cli, tmp_path):
    result = hippo_cli("classify", tmp_path / "missing.fits")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'missing.fits'}: no such file or directory"
    result = hippo_cli("classify", tmp_path / "missing.fits", "--model", tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {tmp_path}: not a model directory") and "Traceback" not in result.stderr
    result = hippo_cli("classify", "--batch-size", "0", tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error:")


def test_fits_output_has_provenance_and_store_gets_rows_and_a_run(labelled_raw_files, hippo_cli, tmp_path):
    output, store = tmp_path / "labels.fits", tmp_path / "hippo.db"
    paths = [p for p, _ in labelled_raw_files[:3]]
    result = hippo_cli("classify", *paths, "-o", output, "--store", store, "--threads", "1")
    assert result.returncode == 0, result.stderr
    header = fits.getheader(output, 1)
    assert header["HIPPOCMD"] == "classify"
    table = Table.read(output)
    from hippo.store import Store

    with Store.open(store) as database:
        rows = database.table("classifications")
        runs = database.table("runs")
    assert sorted(rows["source"]) == sorted(str(s) for s in table["source"])
    assert set(rows["model"]) == {load_classifier().name}
    assert list(runs["command"]) == ["classify"] and list(runs["exit_status"]) == [0]
    # each classified source is in the store's source list, where a cone search finds it
    first = table[0]
    cone = hippo_cli("store", "cone", "--ra", str(first["ra"]), "--dec", str(first["dec"]), "--radius", "1arcsec",
                     "--store", store)
    assert cone.returncode == 0 and cone.stdout.splitlines()[1].split(",")[1] == first["source"]


def test_the_store_records_the_run_from_its_start_with_its_errors(labelled_raw_files, tmp_path):
    import time

    from hippo.morphology import classify
    from hippo.store import Store

    junk = tmp_path / "junk.fits"
    junk.write_text("not FITS")
    store = tmp_path / "hippo.db"
    before = time.time()
    classify([labelled_raw_files[0][0], junk], store=store, threads=1, quiet=True)
    took = time.time() - before
    with Store.open(store) as database:
        run = database.table("runs")[0]
    # The whole classification, not only the moment its rows were written.
    assert run["seconds"] >= 0.5 * took and run["exit_status"] == 3
    assert f"error: {junk}: not a" in run["log"]  # what the user saw, naming the file
    assert json.loads(run["parameters"])["threads"] == 1


def test_positions_cut_from_a_local_survey(shared_data, hippo_cli, tmp_path):
    survey = shared_data / "first_wise" / "FIRSTJ151227.2+454026_11.fits"
    catalogue = tmp_path / "positions.csv"
    catalogue.write_text("name,ra,dec\nJ1512+4540,228.1133,45.6739\nfar_away,10.0,-30.0\n")
    result = hippo_cli("classify", "--survey", survey, "--catalogue", catalogue, "--json", "--threads", "1")
    assert result.returncode == 3, result.stderr
    rows = {row["source"]: row for row in json.loads(result.stdout)}
    assert rows["J1512+4540"]["label"] in CLASSES and rows["J1512+4540"]["flag"] != "error"
    assert rows["J1512+4540"]["ra"] == pytest.approx(228.1133)
    assert rows["far_away"]["flag"] == "error" and rows["far_away"]["ra"] == pytest.approx(10.0)
    # the input of a position: the survey at the catalogue's row
    assert [rows[name]["input"] for name in ("J1512+4540", "far_away")] == [
        f"{survey} at {catalogue} row 1", f"{survey} at {catalogue} row 2"]


def test_catalogue_rows_without_a_usable_position_are_error_rows_in_place(shared_data, hippo_cli, tmp_path):
    survey = shared_data / "first_wise" / "FIRSTJ151227.2+454026_11.fits"
    catalogue = tmp_path / "positions.csv"
    catalogue.write_text("name,ra,dec\nbad_dec,228.1,95.0\nJ1512+4540,228.1133,45.6739\nempty,,\n"
                         "sexagesimal,15:12:27.19,+45:40:26.0\n")
    result = hippo_cli("classify", "--survey", survey, "--catalogue", catalogue, "--json", "--threads", "1")
    assert result.returncode == 3
    rows = json.loads(result.stdout)
    assert [row["source"] for row in rows] == ["bad_dec", "J1512+4540", "empty", "sexagesimal"]
    assert [row["flag"] == "error" for row in rows] == [True, False, True, False]
    assert rows[0]["message"] == f"{catalogue} row 1: Dec outside -90..+90 deg"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: bad_dec: {catalogue} row 1: Dec outside -90..+90 deg",
                      f"error: empty: {catalogue} row 3: RA/Dec missing or not a number"]


def test_worker_processes_give_the_rows_of_one_process_in_input_order(classifier, labelled_raw_files, tmp_path):
    """Batches classified by forked workers: same rows, same order, a bad file reported in its place."""
    bad = tmp_path / "truncated.fits"
    bad.write_bytes(labelled_raw_files[0][0].read_bytes()[:5000])
    paths = [path for path, _ in labelled_raw_files[:9]] + [bad] + [path for path, _ in labelled_raw_files[9:]]
    alone = list(classifier.classify_files(paths, batch_size=4, workers=1))
    forked = list(classifier.classify_files(paths, batch_size=4, workers=2))
    assert [row["source"] for row in forked] == [row["source"] for row in alone]
    assert forked[9]["flag"] == "error" and forked[9]["source"] == "truncated" and forked[9]["input"] == str(bad)
    for one, other in zip(alone, forked):
        assert one["label"] == other["label"] and one["flag"] == other["flag"]
        assert one["p_fri"] == pytest.approx(other["p_fri"], abs=1e-6, nan_ok=True)


def test_positions_on_a_truncated_tile_are_error_rows_and_the_rest_are_classified(shared_data, hippo_cli, tmp_path):
    rows = list(csv.DictReader(open(shared_data / "first_mirabest" / "index.csv")))[:4]
    tiles = tmp_path / "first_tiles"
    tiles.mkdir()
    for row in rows[1:]:
        (tiles / row["file"]).symlink_to(shared_data / "first_mirabest" / row["file"])
    broken = tiles / rows[0]["file"]  # headers intact (it is indexed), compressed data cut short
    content = (shared_data / "first_mirabest" / rows[0]["file"]).read_bytes()
    broken.write_bytes(content[:len(content) // 2])
    catalogue = tmp_path / "positions.csv"
    catalogue.write_text("name,ra,dec\n" + "".join(f"S{i},{row['host_ra']},{row['host_dec']}\n"
                                                    for i, row in enumerate(rows)))
    result = hippo_cli("classify", "--survey", tiles, "--catalogue", catalogue, "--json", "--threads", "1",
                       env={"HIPPO_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 3, result.stderr
    out = json.loads(result.stdout)
    assert [row["source"] for row in out] == ["S0", "S1", "S2", "S3"]
    assert out[0]["flag"] == "error" and out[0]["message"].startswith(f"{broken}: ")
    assert out[0]["ra"] == pytest.approx(float(rows[0]["host_ra"]))
    assert all(row["flag"] != "error" and row["label"] in CLASSES for row in out[1:])
    assert f"error: S0: {broken}: " in result.stderr and "Traceback" not in result.stderr


def test_cutouts_written_by_hippo_cutout_are_named_by_their_source(shared_data, classifier, tmp_path):
    """hippo cutout writes DIR/<source>/<survey>.fits: the rows must say which source, not which survey."""
    from hippo.cutouts import cutout
    from hippo.morphology import classify

    catalogue = Table({"name": ["J1512+4540", "J1512+4541"], "ra": [228.1133, 228.1100], "dec": [45.6739, 45.6800]})
    cutout(catalogue=catalogue, survey=[shared_data / "first_wise" / "FIRSTJ151227.2+454026_11.fits"],
           size="4.8arcmin", output=tmp_path / "cutouts")
    table = classify([tmp_path / "cutouts"], classifier=classifier, quiet=True)
    assert sorted(table["source"]) == ["J1512+4540", "J1512+4541"]
    images = [read_image(path) for path in sorted((tmp_path / "cutouts").rglob("*.fits"))]
    assert sorted(classifier.classify_images(images)["source"]) == ["J1512+4540", "J1512+4541"]
    # classified where they were cut (HIPPORA/HIPPODEC), not half a pixel away at the odd-sized
    # image's centre: the same answer as cutting from the survey at the catalogue's positions
    by_position = classify(survey=shared_data / "first_wise" / "FIRSTJ151227.2+454026_11.fits",
                           catalogue=catalogue, size="4.8arcmin", classifier=classifier, quiet=True)
    table.sort("source")
    for column in ("ra", "dec", "p_fri", "p_frii", "p_bent", "p_comp"):
        np.testing.assert_allclose(table[column], by_position[column], atol=1e-6)


def test_a_cutout_of_hippo_cutouts_default_size_is_not_held_back_for_coverage(classifier, labelled_raw_files):
    """hippo cutout's default 4.5' covers 89 % of the model's 4.8' field: classifiable as it is."""
    full = [read_image(path) for path, _ in labelled_raw_files]
    half = 75  # 151 px at 1.8"/px: 4.5'
    crops = [Image(data=image.data[150 - half:150 + half + 1, 150 - half:150 + half + 1],
                   wcs=image.wcs[150 - half:150 + half + 1, 150 - half:150 + half + 1], header=image.header,
                   path=image.path) for image in full]
    table = classifier.classify_images(crops)
    assert all("emission beyond the image is unseen" not in message for message in table["message"])
    assert "ok" in set(table["flag"])


def test_one_path_is_one_input_and_files_with_a_survey_are_refused(classifier, labelled_raw_files, tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    for path, _ in labelled_raw_files[:2]:
        (folder / path.name).symlink_to(path)
    assert len(hippo.classify(str(folder), classifier=classifier, quiet=True)) == 2  # not one row per character
    single = hippo.classify(labelled_raw_files[0][0], classifier=classifier, quiet=True)  # a Path
    assert len(single) == 1 and single["flag"][0] != "error"
    with pytest.raises(UsageError, match="not both"):
        hippo.classify([folder], survey=folder, catalogue=tmp_path / "positions.csv", classifier=classifier)


def test_a_polarisation_plane_is_refused_not_classified_as_total_intensity(labelled_raw_files, tmp_path):
    path, _ = labelled_raw_files[0]
    data, header = fits.getdata(path), fits.getheader(path, 1)
    for stokes, value in (("I", 1.0), ("V", 4.0)):
        cube = fits.PrimaryHDU(data[None].astype(np.float32))
        cube.header.update({k: header[k] for k in ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2",
                                                     "CDELT1", "CDELT2", "BUNIT") if k in header})
        cube.header.update(CTYPE3="STOKES", CRVAL3=value, CDELT3=1.0, CRPIX3=1.0)
        cube.writeto(tmp_path / f"stokes{stokes}.fits")
        cube.writeto(tmp_path / f"stokes{stokes}.fits.gz")
    table = hippo.classify(sorted(tmp_path.glob("stokes*")), quiet=True)
    flags = dict(zip(table["source"], table["flag"]))
    assert flags["stokesI"] != "error"
    errors = [row for row in table if row["flag"] == "error"]
    assert len(errors) == 2 and all("Stokes V" in row["message"] for row in errors)


def test_a_singular_pixel_matrix_is_an_error_row_not_an_empty_field(classifier, labelled_raw_files):
    original = read_image(labelled_raw_files[0][0])
    singular = original.wcs.deepcopy()
    singular.wcs.cd = [[-5e-4, 5e-4], [-5e-4, 5e-4]]  # both axes along one direction: no area
    row = classifier.classify_images([Image(data=original.data, wcs=singular, header=original.header,
                                            path="singular.fits")])[0]
    assert row["flag"] == "error" and "singular" in row["message"]
