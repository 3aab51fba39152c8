"""Tables behind the exploration figures, against brute-force loops, and the figures themselves."""

from __future__ import annotations

from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from tfg_lib.aifr.datasets import CACD, LFW, face_transform, make_face_fixture
from tfg_lib.aifr.datasets import exploration


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = make_face_fixture(tmp_path_factory.mktemp("faces"), "cacd", identities=5, image_size=24, seed=1)
    return CACD(root, transform=face_transform(size=16), index_dir=root.parent / "index", progress=False)


def test_images_per_identity_matches_counter(faces):
    table = exploration.images_per_identity(faces.samples)
    expected = Counter(faces.labels.tolist())
    assert dict(zip(table["identity"], table["images"])) == expected
    assert table["images"].sum() == len(faces)


def test_age_ranges_match_loop(faces):
    table = exploration.age_ranges(faces.samples).set_index("identity")
    for identity in np.unique(faces.labels):
        ages = [age for label, age in zip(faces.labels, faces.ages) if label == identity]
        assert table.loc[identity, "youngest"] == min(ages)
        assert table.loc[identity, "oldest"] == max(ages)
        assert table.loc[identity, "age_range"] == max(ages) - min(ages)


def test_age_distribution_counts(faces):
    fig, table = exploration.plot_age_distribution(faces.samples, language="es")
    assert dict(zip(table["age"], table["images"])) == Counter(np.floor(faces.ages).tolist())
    assert fig.axes[0].get_xlabel() == "Edad (años)"
    plt.close(fig)


@pytest.mark.parametrize("plot", [exploration.plot_images_per_identity, exploration.plot_age_distribution,
                                  exploration.plot_age_ranges])
def test_plots_handle_missing_ages(plot):
    samples = pd.DataFrame({"path": ["a", "b", "c"], "name": ["x", "x", "y"],
                            "identity": [0, 0, 1], "age": [np.nan] * 3})
    fig, table = plot(samples, title="t")
    assert len(fig.axes) == 1
    assert isinstance(table, pd.DataFrame)
    plt.close(fig)


def test_identity_grid_picks_widest_range(faces):
    ranges = exploration.age_ranges(faces.samples)
    widest = ranges.sort_values(["age_range", "identity"], ascending=[False, True])["identity"].iloc[0]
    fig, table = exploration.plot_identity_across_ages(faces, columns=4)
    assert (table["identity"] == widest).all()
    assert table["age"].is_monotonic_increasing
    assert len(table) == min(4, int((faces.labels == widest).sum()))
    plt.close(fig)


def test_identity_grid_without_ages(tmp_path):
    root = make_face_fixture(tmp_path / "lfw", "lfw", identities=3, image_size=24)
    dataset = LFW(root, index_dir=tmp_path / "index", progress=False)
    fig, table = exploration.plot_identity_across_ages(dataset, identity=1, columns=3)
    assert (table["identity"] == 1).all()
    plt.close(fig)


def test_identity_grid_rejects_unknown_identity(faces):
    with pytest.raises(ValueError, match="identity=99"):
        exploration.plot_identity_across_ages(faces, identity=99)


def test_tables_reject_foreign_frame():
    with pytest.raises(ValueError, match="lacks the columns"):
        exploration.images_per_identity(pd.DataFrame({"label": [1]}))
