"""The tutorials in notebooks/ run from top to bottom (nbclient, a real kernel) and are stored clean."""

from pathlib import Path

import nbformat
import pytest

from tests.conftest import SHARED_DATA, run_hippo

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """One demo run for all the tutorials (each would otherwise make its own)."""
    output = tmp_path_factory.mktemp("notebook-demo") / "hippo-demo"
    result = run_hippo("demo", "--quiet", "-o", output)
    assert (output / "products" / "hippo.db").exists(), result.stderr
    return output


def _execute(notebook_path, workdir, demo_dir, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("HIPPO_DEMO_DIR", str(demo_dir))
    monkeypatch.setenv("HIPPO_SHARED_DATA", str(SHARED_DATA))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(notebook_path, as_version=4)
    NotebookClient(notebook, kernel_name="python3", timeout=300, startup_timeout=120,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return notebook


def _text(notebook):
    """Everything the notebook printed or displayed as text."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_there_are_at_least_three_tutorials():
    assert [p.name[:3] for p in NOTEBOOKS][:3] == ["01_", "02_", "03_"]


@pytest.mark.parametrize("notebook_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(notebook_path):
    notebook = nbformat.read(notebook_path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{notebook_path.name}: outputs not stripped"
    assert "widgets" not in notebook.metadata


def test_cutouts_and_overlays_tutorial(tmp_path, demo_dir, monkeypatch):
    notebook = _execute(NOTEBOOKS[0], tmp_path, demo_dir, monkeypatch)
    text = _text(notebook)
    # 2' at 1.8"/px: 67 pixels, the position within half a pixel of pixel 33 (the notebook asserts it).
    assert " ok (67, 67) position at pixel (33." in text
    assert "does not cover the field shown" not in text  # the overlay has its contours
    from PIL import Image

    with Image.open(tmp_path / "tutorial-output" / "overlay.png") as figure:
        assert min(figure.size) >= 500
    assert len(list((tmp_path / "tutorial-output" / "cutouts").glob("*/first.fits"))) == 8
    if (SHARED_DATA / "first_wise").is_dir():
        assert (tmp_path / "tutorial-output" / "real_overlay.png").exists()


def test_classification_tutorial(tmp_path, demo_dir, monkeypatch):
    from hippo.errors import HippoError

    try:
        from hippo.morphology.classifier import default_model_dir
        default_model_dir()
    except (ImportError, HippoError) as exc:
        pytest.skip(f"no classifier in this version ({exc})")
    notebook = _execute(NOTEBOOKS[1], tmp_path, demo_dir, monkeypatch)
    text = _text(notebook)
    assert "labels agree with the published ones" in text
    assert "flag ood: " in text


def test_crossmatch_store_backup_tutorial(tmp_path, demo_dir, monkeypatch):
    notebook = _execute(NOTEBOOKS[2], tmp_path, demo_dir, monkeypatch)
    text = _text(notebook)
    assert "verify: every file matches" in text
    assert "tutorial.db rows equal: True" in text
    assert "the second 0" in text  # the second backup sent nothing
    assert "'runs': 3" in text  # one recorded run per method
