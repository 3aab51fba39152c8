import numpy as np
import pytest

from tfg_lib.aifr import exploration


def test_class_counts_match_bincount():
    labels = np.array([3, 1, 3, 3, 0, 1])
    table = exploration.class_counts(labels)
    assert table["class"].tolist() == [0, 1, 3]
    assert table["images"].tolist() == [1, 2, 3]


def test_mean_images_match_loop():
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(12, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, size=12)
    classes, means = exploration.mean_images(images, labels)
    for label, mean in zip(classes, means):
        members = [images[i].astype(float) for i in range(len(labels)) if labels[i] == label]
        np.testing.assert_allclose(mean, sum(members) / len(members))


def test_mean_image_hand_example():
    # Two 1x2 images of class 0: [0, 10] and [20, 30] average to [10, 20].
    images = np.array([[[0, 10]], [[20, 30]], [[5, 5]]], dtype=np.uint8)
    classes, means = exploration.mean_images(images, np.array([0, 0, 1]))
    np.testing.assert_array_equal(means[0], [[10.0, 20.0]])
    np.testing.assert_array_equal(means[1], [[5.0, 5.0]])


def test_example_grid_table_lists_distinct_members():
    images = np.zeros((30, 2, 2))
    labels = np.repeat([0, 1, 2], 10)
    fig, table = exploration.plot_example_grid(images, labels, per_class=4, seed=1)
    assert len(table) == 12
    for label, group in table.groupby("class"):
        assert group["index"].is_unique
        assert (labels[group["index"]] == label).all()


def test_mismatched_labels_are_rejected():
    with pytest.raises(ValueError, match="labels must have shape"):
        exploration.mean_images(np.zeros((3, 2, 2)), np.zeros(4))
