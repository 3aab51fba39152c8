from pathlib import Path

from tfg_lib.pipeline.cache import cache_key, dependency_files
from tfg_lib.pipeline.notebook_format import new_notebook, write_notebook

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "tfg_lib"


def notebook_importing(tmp_path, source):
    path = tmp_path / "n.ipynb"
    write_notebook(new_notebook("notebooks/n.ipynb", "N", "", "language: str = 'en'", [("code", source)]), path)
    return path


def relative(files):
    return {path.relative_to(PACKAGE_ROOT).as_posix() for path in files}


def test_dependencies_follow_imports_and_parent_packages(tmp_path):
    path = notebook_importing(tmp_path, "from tfg_lib.aifr import exploration")
    found = relative(dependency_files(path, PACKAGE_ROOT))
    # exploration imports ..figures; importing tfg_lib.aifr runs both parent __init__ files.
    assert {"__init__.py", "aifr/__init__.py", "aifr/exploration.py", "figures.py"} <= found
    assert not any(name.startswith("expressivity/") for name in found)
    assert not any(name.startswith("pipeline/") for name in found)


def test_dependencies_of_plain_module_import(tmp_path):
    path = notebook_importing(tmp_path, "import tfg_lib.figures as figures\nimport numpy")
    assert relative(dependency_files(path, PACKAGE_ROOT)) == {"__init__.py", "figures.py"}


def test_dependencies_resolve_relative_imports(tmp_path):
    path = notebook_importing(tmp_path, "from tfg_lib.pipeline.runner import Runner")
    found = relative(dependency_files(path, PACKAGE_ROOT))
    assert {"pipeline/runner.py", "pipeline/cache.py", "pipeline/parameters.py", "figures.py"} <= found


def test_cache_key_changes_with_each_input(tmp_path):
    path = notebook_importing(tmp_path, "import tfg_lib.figures")
    dependencies = dependency_files(path, PACKAGE_ROOT)
    base = cache_key(path, '{"seed":0}', dependencies, {"data": "a"}, PACKAGE_ROOT.parent)
    assert base == cache_key(path, '{"seed":0}', dependencies, {"data": "a"}, PACKAGE_ROOT.parent)
    assert base != cache_key(path, '{"seed":1}', dependencies, {"data": "a"}, PACKAGE_ROOT.parent)
    assert base != cache_key(path, '{"seed":0}', dependencies, {"data": "b"}, PACKAGE_ROOT.parent)
    assert base != cache_key(path, '{"seed":0}', dependencies[:-1], {"data": "a"}, PACKAGE_ROOT.parent)
    path.write_text(path.read_text().replace("import tfg_lib.figures", "import tfg_lib.figures  # edited"))
    assert base != cache_key(path, '{"seed":0}', dependencies, {"data": "a"}, PACKAGE_ROOT.parent)


def test_fingerprint_skips_output_parameters(tmp_path):
    from tfg_lib.pipeline.provenance import data_fingerprint

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jpg").write_bytes(b"x")
    (tmp_path / "runs").mkdir()
    (tmp_path / "study.db").write_bytes(b"y")
    parameters = {"cacd_root": "data", "run_root": "runs", "storage": "study.db", "language": "en", "missing": "nope"}
    fingerprint = data_fingerprint(parameters, tmp_path, embedded_data=False)
    assert list(fingerprint) == ["cacd_root"]
    (tmp_path / "data" / "b.jpg").write_bytes(b"z")
    assert data_fingerprint(parameters, tmp_path, embedded_data=False) != fingerprint


def test_git_state_ignores_figures(tmp_path):
    import subprocess

    from tfg_lib.pipeline.provenance import git_state

    def git(*arguments):
        subprocess.run(["git", *arguments], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.csv").write_text("1\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-qm", "start")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "figures" / "a.csv").write_text("2\n")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_state(tmp_path)["dirty"] is True
    assert len(git_state(tmp_path)["commit"]) == 40
