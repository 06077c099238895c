"""Tables in every format SPEC names; RA/Dec/ID found by name or UCD; bad rows set aside with a reason."""

import numpy as np
import pytest
from astropy.table import Table

from hippo.errors import InputError, UsageError
from hippo.io import atomic_path, iau_name, parse_coordinate, read_positions, read_table, write_table


@pytest.mark.parametrize("suffix", [".csv", ".ecsv", ".fits", ".vot", ".xml", ".parquet"])
def test_every_format_round_trips_positions(tmp_path, suffix):
    table = Table({"Source_Name": ["a", "b"], "RAJ2000": [10.5, 359.9], "DEJ2000": [-5.25, 89.5]})
    path = tmp_path / f"cat{suffix}"
    write_table(table, path)
    positions = read_positions(path)
    assert list(positions.table["name"]) == ["a", "b"]
    np.testing.assert_allclose(positions.table["ra"], [10.5, 359.9])
    np.testing.assert_allclose(positions.table["dec"], [-5.25, 89.5])


@pytest.mark.parametrize("suffix", [".vot", ".xml"])
def test_votable_output_says_which_hippo_run_wrote_it(tmp_path, suffix):
    from astropy.io.votable import parse

    from hippo.provenance import add_provenance

    table = Table({"name": ["J1512+4540", "J0000+0000"], "label": ["FRII", "FRI"], "p_FRII": [0.93, 0.12]})
    add_provenance(table, "classify", {"model": "firstgalaxydata-cnn", "inputs": 2})
    path = tmp_path / f"classified{suffix}"
    write_table(table, path)

    infos = [(info.name, info.value) for info in parse(path, verify="exception").resources[0].infos]
    assert ("HIPPOCMD", "classify") in infos
    assert dict(infos)["HIPPOVER"] == table.meta["HIPPOVER"]
    history = [value for name, value in infos if name == "HISTORY"]
    assert history[:2] == ["hippo classify model=firstgalaxydata-cnn", "hippo classify inputs=2"]
    assert history[2].startswith("hippo classify software: python ") and "astropy " in history[2]
    assert history[3].startswith("hippo classify ran on ")
    back = Table.read(path)
    assert back.colnames == ["name", "label", "p_FRII"]
    assert list(back["name"]) == ["J1512+4540", "J0000+0000"] and list(back["label"]) == ["FRII", "FRI"]
    np.testing.assert_allclose(back["p_FRII"], [0.93, 0.12])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # still written atomically


def test_ucd_wins_over_names(tmp_path):
    table = Table({"ra": [1.0], "dec": [1.0], "alpha_host": [20.0], "delta_host": [30.0]})
    table["alpha_host"].meta["ucd"] = "pos.eq.ra;meta.main"
    table["delta_host"].meta["ucd"] = "pos.eq.dec;meta.main"
    write_table(table, tmp_path / "ucd.vot")
    positions = read_positions(tmp_path / "ucd.vot")
    assert positions.table["ra"][0] == 20.0 and positions.table["dec"][0] == 30.0


def test_sexagesimal_columns_are_read_as_hours_and_degrees(tmp_path):
    path = tmp_path / "sexa.csv"
    path.write_text("name,ra,dec\nM87,12:30:49.42,+12:23:28.0\n")
    positions = read_positions(path)
    assert positions.table["ra"][0] == pytest.approx(187.70592, abs=1e-5)
    assert positions.table["dec"][0] == pytest.approx(12.391111, abs=1e-5)


def test_bad_rows_are_set_aside_with_row_number_and_reason(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("id,ra,dec\ngood,10,10\nbadra,400,10\nbaddec,10,-91\nnan,abc,10\nempty,,\nalso_good,0,0\n")
    positions = read_positions(path)
    assert list(positions.table["name"]) == ["good", "also_good"]
    reasons = {name: reason for _, name, reason in positions.rejected}
    assert reasons == {"badra": "RA outside 0..360 deg", "baddec": "Dec outside -90..+90 deg",
                       "nan": "RA 'abc' is not a number or a sexagesimal angle",
                       "empty": "RA/Dec missing or not a number"}
    assert [row for row, _, _ in positions.rejected] == [2, 3, 4, 5]


def test_a_sexagesimal_typo_is_set_aside_naming_the_field_the_value_and_the_part(tmp_path):
    path = tmp_path / "typos.csv"
    path.write_text("name,ra,dec\nt1,15:12:27.2,+45:40:26\nt2,15:12:2x.2,+45:40:26\nt3,15:72:27.2,+45:40:26\n"
                    "t4,15:12:27.2,+45:40:96\nt5,25:00:00,+45:40:26\nt6,15 12 27.2,+45d40m26s\n")
    positions = read_positions(path)
    assert list(positions.table["name"]) == ["t1", "t6"]
    assert [(row, reason) for row, _, reason in positions.rejected] == [
        (2, "RA '15:12:2x.2' is not a number or a sexagesimal angle"),
        (3, "RA '15:72:27.2' is not a valid sexagesimal angle (minutes >= 60)"),
        (4, "Dec '+45:40:96' is not a valid sexagesimal angle (seconds >= 60)"),
        (5, "RA '25:00:00' is not a valid sexagesimal angle (hours >= 24)")]


@pytest.mark.parametrize("content, reason", [
    (b"", "empty table (the file is empty)"),
    (b"\n \n", "empty table (the file is empty)"),
    (b"name,ra,dec\n", "empty table (no rows)"),
    (b"name;ra;dec\nsrcA;228.1133;45.6739\n", "only one column found: the table seems to use ';' as delimiter "
                                              "(HIPPO reads comma-separated CSV; save it with ',')"),
    (b"name,ra,dec\na,1,2\n\"b,3,4\nc,5,6\n", "unterminated quote on line 3: the rest of the file would be read "
                                             "as one value"),
    (b"name,ra,dec\nJos\xe9,1,2\n", "not UTF-8 text (byte 0xe9 at offset 15): save it as UTF-8"),
])
def test_a_csv_that_cannot_be_read_as_meant_says_why(tmp_path, content, reason):
    path = tmp_path / "cat.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as raised:
        read_positions(path)
    assert str(raised.value) == f"{path}: {reason}"


def test_a_table_path_that_is_a_fifo_or_a_link_loop_says_so_and_is_not_opened(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.csv")  # opening it would wait for a writer forever
    (tmp_path / "loop.fits").symlink_to("loop.fits")
    with pytest.raises(InputError, match="pipe.csv: not a regular file \\(a FIFO\\)"):
        read_table(tmp_path / "pipe.csv")
    with pytest.raises(InputError, match="loop.fits: symbolic link loop"):
        read_table(tmp_path / "loop.fits")


def test_a_utf16_csv_is_read_and_a_literal_quote_is_no_unterminated_one(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("id,ra,dec\r\n007,228.1133,45.6739\r\n7,228.12,45.68\r\n".encode("utf-16"))
    positions = read_positions(path)
    assert list(positions.table["name"]) == ["007", "7"] and positions.table["ra"][0] == pytest.approx(228.1133)
    path = tmp_path / "arcsec.csv"
    path.write_text("name,ra,dec\nx,15h12m27.2s,45d40m26\"\n")  # one quote, the arcseconds' mark
    assert read_positions(path).table["dec"][0] == pytest.approx(45.673889)


def test_table_without_positions_says_which_columns_to_name(tmp_path):
    path = tmp_path / "nopos.csv"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(InputError, match=r"nopos.csv: no RA column found .*--ra-col"):
        read_positions(path)


def test_unreadable_and_unknown_tables(tmp_path):
    bad = tmp_path / "broken.fits"
    bad.write_bytes(b"SIMPLE  =  nonsense")
    with pytest.raises(InputError, match="broken.fits: cannot read as fits table"):
        read_table(bad)
    with pytest.raises(UsageError, match="unknown table format"):
        read_table(tmp_path / "cat.xlsx")
    with pytest.raises(InputError, match="no such file"):
        read_table(tmp_path / "absent.csv")


def test_write_to_unwritable_place_is_a_clean_error_and_leaves_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write here"):
        write_table(Table({"a": [1]}), blocker / "sub" / "out.csv")


def test_failed_write_leaves_the_old_file_intact_and_no_temporary(tmp_path):
    out = tmp_path / "out.fits"
    write_table(Table({"a": [1]}), out)
    before = out.read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_bytes(b"half a FITS file")
            raise RuntimeError("writer died mid-way")
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.fits"]


def test_coordinates_parse_and_name_like_the_iau():
    coord = parse_coordinate("228.1133", "45.6739")
    assert iau_name(coord) == "J151227.19+454026.0"
    assert iau_name(parse_coordinate("00:00:00.999", "-00:30:00")) == "J000000.99-003000.0"
    for ra, dec, reason in [(361, 0, "RA 361"), (10, 95, "Dec 95"),
                            ("abc", "def", "RA 'abc' is not a number or a sexagesimal angle; Dec 'def' is not"),
                            ("15:72:27", "+45:00:00", r"RA '15:72:27' is not a valid sexagesimal angle \(minutes"),
                            (float("nan"), 0, "finite")]:
        with pytest.raises(InputError, match=reason):
            parse_coordinate(ra, dec)


def test_real_lotss_source_list(shared_data):
    positions = read_positions(shared_data / "lotss_dr1" / "catalog_shimwell_reduced.srl.fits")
    assert len(positions) == 12093 and not positions.rejected
    assert positions.table["name"][0].startswith("ILTJ")


def test_negative_ra_is_the_minus_180_to_180_convention(tmp_path):
    path = tmp_path / "west.csv"
    path.write_text("name,ra,dec\nwest,-5.0,10\nfar,-400,10\n")
    positions = read_positions(path)
    assert list(positions.table["name"]) == ["west"] and positions.table["ra"][0] == pytest.approx(355.0)
    assert [reason for _, _, reason in positions.rejected] == ["RA outside 0..360 deg"]


@pytest.mark.parametrize("unit,ra", [("h", 10.0), ("hourangle", 10.0), ("deg", 150.0), ("rad", np.radians(150.0))])
def test_numeric_ra_is_converted_by_its_unit_hours_too(tmp_path, unit, ra):
    table = Table({"name": ["a"], "ra": [ra], "dec": [2.0]})
    table["ra"].unit = unit
    write_table(table, tmp_path / "cat.ecsv")
    assert read_positions(tmp_path / "cat.ecsv").table["ra"][0] == pytest.approx(150.0)


def test_a_position_unit_that_is_not_an_angle_is_an_error_naming_column_and_unit(tmp_path):
    table = Table({"name": ["a"], "ra": [150.0], "dec": [2.0]})
    table["dec"].unit = "h"
    write_table(table, tmp_path / "cat.ecsv")
    with pytest.raises(InputError, match=r"cat.ecsv: Dec column 'dec' has unit 'h', which is not an angle"):
        read_positions(tmp_path / "cat.ecsv")


def test_masked_values_are_parquet_nulls_and_read_back_masked(tmp_path):
    import pyarrow.parquet
    from astropy.table import MaskedColumn

    table = Table({"n": MaskedColumn([1, 0], mask=[False, True], dtype=np.int64),
                   "x": MaskedColumn([1.5, 0.0], mask=[False, True]),
                   "s": MaskedColumn(["", ""], mask=[False, True])})
    write_table(table, tmp_path / "t.parquet")
    arrow = pyarrow.parquet.read_table(tmp_path / "t.parquet")
    assert arrow.column_names == ["n", "x", "s"]  # no n.mask beside n
    assert arrow.to_pydict() == {"n": [1, None], "x": [1.5, None], "s": ["", None]}
    back = read_table(tmp_path / "t.parquet")
    assert back["n"].dtype.kind == "i" and list(back["n"].mask) == [False, True]
    assert list(back["x"].mask) == [False, True] and list(back["s"].mask) == [False, True] and back["s"][0] == ""


def test_fits_takes_text_that_is_not_ascii_as_utf8(tmp_path):
    write_table(Table({"name": ["Müller", "☃"], "plain": ["a", "b"], "ra": [1.0, 2.0]}), tmp_path / "t.fits")
    back = read_table(tmp_path / "t.fits")
    assert list(back["name"]) == ["Müller", "☃"] and list(back["plain"]) == ["a", "b"]


def test_a_masked_or_blank_id_is_named_by_its_position_not_dashes():
    from astropy.table import MaskedColumn

    table = Table({"name": MaskedColumn(["A", "x", "  "], mask=[False, True, False]),
                   "ra": [150.0, 150.1, 150.2], "dec": [2.0, 2.1, 2.2]})
    names = list(read_positions(table).table["name"])
    assert names[0] == "A" and names[1].startswith("J100024") and names[2].startswith("J100048")


def test_leading_zero_ids_are_kept_beside_a_field_over_128_kib(tmp_path):
    from hippo.io.tables import keep_leading_zeros

    note = "x" * (200 * 1024)
    (tmp_path / "cat.csv").write_text(f"id,ra,dec,note\n007,10.0,2.0,{note}\n7,11.0,2.0,short\n")
    table = read_table(tmp_path / "cat.csv")
    assert list(keep_leading_zeros(table, tmp_path / "cat.csv", "id")["id"]) == ["007", "7"]
    assert table["note"][0] == note


def test_position_ids_with_leading_zeros_name_their_sources_as_written(tmp_path):
    """`hippo cutout --catalogue` names folders by id: 0000 and 0001 were cut into folders 0 and 1."""
    catalogue = tmp_path / "ids.csv"
    catalogue.write_text("id,ra,dec\n0000,228.1133,45.6739\n0001,228.12,45.68\n7,228.13,45.69\n")
    assert list(read_positions(catalogue).table["name"]) == ["0000", "0001", "7"]
