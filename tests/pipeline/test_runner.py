import json
import os
import time

import pandas as pd
import pytest

from tfg_lib.pipeline import cli
from tfg_lib.pipeline.parameters import ParameterError
from tfg_lib.pipeline.profiles import ProfileError
from tfg_lib.pipeline.runner import NotebookNotFoundError, Runner

RAISES = [
    ("code", "value = 1"),
    ("code", 'raise RuntimeError("planned failure")'),
]
WRITES_THEN_RAISES = [
    ("code", "from tfg_lib import figures"),
    ("code", 'figures.save_table({"a": [1]}, "broken_table")'),
    ("code", 'raise ValueError("after writing")'),
]


def make_runner(root):
    return Runner(root, progress=False)


def forbid_execution(monkeypatch):
    import papermill

    def fail(*args, **kwargs):
        raise AssertionError("a kernel was started although the request was invalid")

    monkeypatch.setattr(papermill, "execute_notebook", fail)


def test_plan_merges_profile_and_override(sandbox):
    runner = make_runner(sandbox)
    (plan,) = runner.plan(["tiny"], "full", [(None, "seed", 4)])
    assert plan.parameters == {"seed": 4, "scale": 2.5, "language": "en"}


def test_unknown_parameter_fails_before_execution(sandbox, monkeypatch, capsys):
    forbid_execution(monkeypatch)
    status = cli.main(["--root", str(sandbox), "run", "tiny", "-p", "sede=3"])
    assert status == cli.EXIT_INVALID
    message = capsys.readouterr().err
    assert "tiny.ipynb" in message
    assert "'sede'" in message


def test_wrong_type_fails_before_execution(sandbox, monkeypatch, capsys):
    forbid_execution(monkeypatch)
    status = cli.main(["--root", str(sandbox), "run", "-p", "seed=1.5"])
    assert status == cli.EXIT_INVALID
    message = capsys.readouterr().err
    assert "'seed' expects int" in message
    assert "tiny.ipynb" in message


def test_unknown_profile_and_notebook_fail(sandbox, monkeypatch):
    forbid_execution(monkeypatch)
    runner = make_runner(sandbox)
    with pytest.raises(ProfileError, match="unknown profile 'fast'"):
        runner.plan(["tiny"], "fast")
    with pytest.raises(NotebookNotFoundError, match="does not exist"):
        runner.plan(["missing"], "quick")
    assert cli.main(["--root", str(sandbox), "run", "notebooks/missing.ipynb"]) == cli.EXIT_INVALID


def test_profile_naming_missing_notebook_fails(sandbox):
    (sandbox / "notebooks" / "profiles.yaml").write_text("quick:\n  gone.ipynb: {}\n")
    with pytest.raises(ProfileError, match="gone.ipynb"):
        make_runner(sandbox).plan([], "quick")


def test_scoped_override_applies_to_one_notebook(sandbox, add_notebook):
    add_notebook("other.ipynb", "language: str = 'en'", [])
    runner = make_runner(sandbox)
    plans = runner.plan([], "quick", [("tiny", "seed", 9)])
    by_name = {plan.name: plan.parameters for plan in plans}
    assert by_name["tiny.ipynb"]["seed"] == 9
    assert "seed" not in by_name["other.ipynb"]
    with pytest.raises(ParameterError, match="other.ipynb"):
        runner.plan([], "quick", [(None, "seed", 9)])


def test_run_writes_figures_manifest_and_skips_when_fresh(sandbox):
    runner = make_runner(sandbox)
    (outcome,) = runner.run(runner.plan(["tiny"], "quick", [(None, "seed", 7)]), "quick")
    assert outcome.status == "ok", outcome.error
    assert outcome.files == ["tiny_table.csv"]
    assert pd.read_csv(sandbox / "figures" / "tiny_table.csv").to_dict("list") == {"seed": [7], "scale": [1.0]}

    manifest = json.loads((sandbox / "figures" / "manifest.json").read_text())
    entry = manifest["files"]["tiny_table.csv"]
    assert entry["notebook"] == "tiny.ipynb"
    assert entry["parameters"] == {"seed": 7, "scale": 1.0, "language": "en"}
    assert entry["profile"] == "quick"
    assert {"git_commit", "git_dirty", "package_version", "data_fingerprint", "sha256"} <= set(entry)
    assert (sandbox / "build" / "executed" / "quick" / "tiny.ipynb").is_file()

    (again,) = runner.run(runner.plan(["tiny"], "quick", [(None, "seed", 7)]), "quick")
    assert again.status == "skipped"
    (changed,) = runner.run(runner.plan(["tiny"], "quick", [(None, "seed", 8)]), "quick")
    assert changed.status == "ok"


def test_touching_a_dependency_reruns(sandbox):
    runner = make_runner(sandbox)
    plans = runner.plan(["tiny"], "quick")
    assert runner.run(plans, "quick")[0].status == "ok"
    figures_module = sandbox / "tfg_lib" / "figures.py"
    assert figures_module.resolve() in [path.resolve() for path in plans[0].dependencies]
    stat = figures_module.stat()
    future = time.time_ns() + 1_000_000_000
    os.utime(figures_module, ns=(stat.st_atime_ns, future))
    try:
        assert runner.run(runner.plan(["tiny"], "quick"), "quick")[0].status == "ok"
    finally:
        os.utime(figures_module, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_deleted_output_reruns(sandbox):
    runner = make_runner(sandbox)
    runner.run(runner.plan(["tiny"], "quick"), "quick")
    (sandbox / "figures" / "tiny_table.csv").unlink()
    assert runner.run(runner.plan(["tiny"], "quick"), "quick")[0].status == "ok"


def test_failing_notebook_reports_cell_and_leaves_no_files(sandbox, add_notebook, capsys):
    add_notebook("broken.ipynb", "language: str = 'en'", WRITES_THEN_RAISES)
    status = cli.main(["--root", str(sandbox), "run", "broken", "--no-progress"])
    assert status == cli.EXIT_FAILED
    message = capsys.readouterr().err
    assert "broken.ipynb" in message
    assert "cell 5" in message  # title, setup, parameters, then the three cells above
    assert "ValueError: after writing" in message
    assert 'raise ValueError("after writing")' in message
    assert not (sandbox / "figures" / "broken_table.csv").exists()
    assert not list((sandbox / "build" / "staging").iterdir())


def test_failure_does_not_stop_other_notebooks(sandbox, add_notebook):
    add_notebook("raises.ipynb", "language: str = 'en'", RAISES)
    runner = make_runner(sandbox)
    outcomes = {outcome.notebook: outcome for outcome in runner.run(runner.plan([], "quick"), "quick")}
    assert outcomes["raises.ipynb"].status == "failed"
    assert "RuntimeError: planned failure" in outcomes["raises.ipynb"].error
    assert outcomes["tiny.ipynb"].status == "ok"


def test_kernel_that_cannot_start_is_reported(sandbox):
    runner = Runner(sandbox, kernel_name="no-such-kernel", progress=False)
    (outcome,) = runner.run(runner.plan(["tiny"], "quick"), "quick")
    assert outcome.status == "failed"
    assert "could not be executed" in outcome.error
    assert "no-such-kernel" in outcome.error


def test_list_shows_parameters_and_profiles(sandbox, capsys):
    assert cli.main(["--root", str(sandbox), "list"]) == 0
    output = capsys.readouterr().out
    assert "notebooks/tiny.ipynb" in output
    assert "scale: float = 1.0" in output
    assert "[full] scale=2.5" in output


def test_unsupported_language_fails_before_execution(sandbox, monkeypatch, capsys):
    forbid_execution(monkeypatch)
    assert cli.main(["--root", str(sandbox), "run", "tiny", "-p", "language=fr"]) == cli.EXIT_INVALID
    message = capsys.readouterr().err
    assert "'language' is 'fr'" in message
    assert "en, es" in message


def test_missing_data_folder_fails_before_execution(sandbox, add_notebook, monkeypatch, capsys):
    forbid_execution(monkeypatch)
    add_notebook("reads.ipynb", 'language: str = "en"\ncacd_root: str = ""\nrun_root: str = ""', [])
    status = cli.main(["--root", str(sandbox), "run", "reads", "-p", "cacd_root=data/CACD2000",
                       "-p", "run_root=runs/none"])
    assert status == cli.EXIT_INVALID
    message = capsys.readouterr().err
    assert "'cacd_root'" in message
    assert str(sandbox / "data" / "CACD2000") in message
    assert "run_root" not in message  # an output folder need not exist yet


def test_existing_data_folder_is_accepted(sandbox, add_notebook):
    add_notebook("reads.ipynb", 'language: str = "en"\ncacd_root: str = ""', [])
    (sandbox / "data").mkdir()
    (plan,) = make_runner(sandbox).plan(["reads"], "quick", [(None, "cacd_root", "data")])
    assert plan.parameters["cacd_root"] == "data"
    assert "cacd_root" in plan.fingerprint
