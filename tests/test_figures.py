import os

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

from tfg_lib import figures  # noqa: E402


def test_save_figure_writes_png_pdf_csv(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 2])
    written = figures.save_figure(fig, "line", data={"x": [0, 1], "y": [1, 2]}, directory=tmp_path)
    assert [path.name for path in written] == ["line.png", "line.pdf", "line.csv"]
    assert (tmp_path / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "line.pdf").read_bytes()[:5] == b"%PDF-"
    assert pd.read_csv(tmp_path / "line.csv").to_dict("list") == {"x": [0, 1], "y": [1, 2]}


def test_save_figure_is_byte_stable(tmp_path):
    outputs = []
    for folder in ("a", "b"):
        fig, ax = plt.subplots()
        ax.bar(["x", "y"], [3, 4])
        figures.save_figure(fig, "bars", data={"v": [3, 4]}, directory=tmp_path / folder)
        outputs.append([(tmp_path / folder / f"bars.{suffix}").read_bytes() for suffix in ("png", "pdf")])
    assert outputs[0] == outputs[1]


def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    fig, _ = plt.subplots()

    def broken_savefig(*args, **kwargs):
        with open(args[0], "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        figures.save_figure(fig, "broken", directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_output_dir_reads_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(figures.FIGURES_DIR_VARIABLE, str(tmp_path / "staged"))
    assert figures.output_dir() == tmp_path / "staged"
    assert (tmp_path / "staged").is_dir()


@pytest.mark.parametrize(("language", "expected"), [("en", "Rank"), ("es", "Rango")])
def test_tr_picks_language(language, expected):
    assert figures.tr(language, "Rank", "Rango") == expected


def test_tr_rejects_unknown_language():
    with pytest.raises(ValueError, match="language='fr'"):
        figures.tr("fr", "Rank", "Rango")


@pytest.mark.parametrize("stem", ["", "a/b", ".hidden"])
def test_invalid_stem_is_rejected(tmp_path, stem):
    with pytest.raises(ValueError, match="stem"):
        figures.save_table({"a": [1]}, stem, directory=tmp_path)


def test_written_files_follow_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        figures.save_table({"a": [1]}, "modes", directory=tmp_path)
    finally:
        os.umask(previous)
    assert (tmp_path / "modes.csv").stat().st_mode & 0o777 == 0o644
