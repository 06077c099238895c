"""The Apptainer recipe and the Jupyter kernel spec of containers/.

Apptainer cannot be installed where these tests run (no Debian or PyPI package), so the image is
never built here. Instead the recipe is parsed with spython, as Singularity Python reads it, and
its installs are checked against pyproject.toml and constraints.txt; the kernel spec is installed
with containers/install-kernel.sh and started under a stand-in ``singularity`` that runs the kernel
command line on the host, which proves its argument list starts a working kernel.
"""

import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from spython.main.parse.parsers import SingularityParser

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "containers" / "hippo.def"
BIND_POINTS = {"/users", "/scratch", "/idia", "/data"}


@pytest.fixture(scope="module")
def recipe():
    return SingularityParser(str(RECIPE)).recipe["spython-base"]


@pytest.fixture(scope="module")
def pip_installs(recipe):
    """Each ``pip install`` of %post as (options, requirements), continuation lines joined."""
    commands, current = [], ""
    for line in recipe.install:
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            commands.append(current.strip())
            current = ""
    installs = []
    for command in commands:
        if not command.startswith("pip install "):
            continue
        words = shlex.split(command)
        options, requirements, words = [], [], words[2:]
        while words:
            word = words.pop(0)
            if word.startswith("-"):
                options.append(word)
                if word in ("-c", "--constraint", "--index-url", "--extra-index-url"):
                    options.append(words.pop(0))
            else:
                requirements.append(word)
        installs.append((options, requirements))
    return installs


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _constraints():
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return {Requirement(line).name: Requirement(line) for line in lines if line.strip() and not line.startswith("#")}


def _named(installs):
    return {Requirement(r).name: (options, Requirement(r)) for options, reqs in installs
            for r in reqs if not r.startswith("/")}


def test_recipe_bootstraps_the_python_the_project_supports(recipe):
    assert recipe.fromHeader.startswith("python:3.11")
    assert Requirement(f"x{_project()['requires-python']}").specifier.contains("3.11")


def test_torch_is_the_cpu_build_pinned_in_constraints(pip_installs):
    options, torch = _named(pip_installs)["torch"]
    assert str(torch.specifier) == str(_constraints()["torch"].specifier) == "==2.13.0"
    assert options[options.index("--index-url") + 1].endswith("/whl/cpu")


def test_project_installed_from_its_copy_with_constraints_and_existing_extras(recipe, pip_installs):
    project_installs = [(o, r) for o, reqs in pip_installs for r in reqs if r.startswith("/opt/hippo")]
    assert len(project_installs) == 1
    options, requirement = project_installs[0]
    assert options[options.index("-c") + 1] == "/opt/hippo/constraints.txt"
    extras = Requirement("hippo" + requirement[len("/opt/hippo"):]).extras
    assert extras and extras <= set(_project()["optional-dependencies"])
    copied = {line.split()[0]: line.split()[1] for line in recipe.files}
    for needed in ("pyproject.toml", "constraints.txt", "README.md", "hippo", "models"):
        assert copied[needed] == f"/opt/hippo/{needed}"


def test_every_package_named_in_the_recipe_has_the_projects_bound(pip_installs):
    project = _project()
    declared = {Requirement(r).name: Requirement(r)
                for group in [project["dependencies"], *project["optional-dependencies"].values()] for r in group}
    named = _named(pip_installs)
    assert "ipykernel" in named
    for name, (options, requirement) in named.items():
        if name == "firstgalaxydata":
            # Not a declared dependency (it asks for torchvision): installed alone, at the tested version.
            assert "--no-deps" in options and str(requirement.specifier) == "==0.2.1"
            continue
        assert name in declared, f"{name} is installed by the recipe but not declared in pyproject.toml"
        pinned = _constraints().get(name)
        expected = pinned.specifier if pinned else declared[name].specifier
        assert requirement.specifier == expected, f"{name}: recipe {requirement.specifier}, project {expected}"


def test_bind_points_runscript_and_smoke_test(recipe):
    created = set()
    for line in recipe.install:
        if line.strip().startswith("mkdir -p"):
            created |= set(line.split()[2:])
    assert BIND_POINTS <= created
    assert recipe.cmd.strip() == 'exec hippo "$@"'
    tests = [line for line in recipe.install if "/tests.sh" in line]
    assert any("hippo --version" in line for line in tests)
    assert any("hippo demo" in line for line in tests)
    assert "PYTHONNOUSERSITE=1" in recipe.environ


def test_kernel_spec_installs_and_starts_a_kernel_that_imports_hippo(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    image = tmp_path / "images" / "hippo.sif"
    image.parent.mkdir()
    image.write_bytes(b"stand-in image")
    data_dir = tmp_path / "jupyter"
    env = {**os.environ, "JUPYTER_DATA_DIR": str(data_dir)}
    installed = subprocess.run([str(ROOT / "containers" / "install-kernel.sh"), str(image)], env=env,
                               capture_output=True, text=True, check=True)
    assert "installed the kernel 'hippo'" in installed.stdout
    spec = json.loads((data_dir / "kernels" / "hippo" / "kernel.json").read_text())
    assert spec["argv"] == ["singularity", "exec", str(image), "python", "-m", "ipykernel_launcher",
                            "-f", "{connection_file}"]
    assert spec["display_name"] == "HIPPO (hippo.sif)"

    # Stand-in for singularity: `singularity exec IMAGE CMD...` runs CMD on the host, `python`
    # being this interpreter (the image's own python cannot run here).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "singularity").write_text(
        f'#!/bin/sh\n[ "$1" = exec ] && [ -f "$2" ] || exit 64\nshift 3\nexec {shlex.quote(sys.executable)} "$@"\n')
    (bin_dir / "singularity").chmod(0o755)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import hippo; print(hippo.__version__)")])
    old_env = dict(os.environ)
    os.environ.update(JUPYTER_DATA_DIR=str(data_dir), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    try:
        NotebookClient(notebook, kernel_name="hippo", timeout=60, startup_timeout=60).execute()
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    from hippo import __version__
    assert notebook.cells[0].outputs[0]["text"].strip() == __version__


def test_install_kernel_refuses_a_missing_image(tmp_path):
    result = subprocess.run([str(ROOT / "containers" / "install-kernel.sh"), str(tmp_path / "nope.sif")],
                            env={**os.environ, "JUPYTER_DATA_DIR": str(tmp_path)}, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "no such image" in result.stderr
    assert not (tmp_path / "kernels").exists()
