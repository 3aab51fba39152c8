"""Augmentation to K: counts, determinism per item, and the transforms themselves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tfg_lib.aifr.datasets import CACD, augment_to_k, face_transform, make_face_fixture
from tfg_lib.aifr.datasets.augment import augment_image, item_generator


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = make_face_fixture(tmp_path_factory.mktemp("cacd"), "cacd", identities=6,
                             images_per_identity=(1, 5), image_size=24, seed=3)
    return CACD(root, transform=face_transform(size=20), index_dir=root.parent / "index", progress=False)


@pytest.mark.parametrize("K", [1, 3, 5, 8])
def test_counts_reach_k(faces, K):
    augmented = augment_to_k(faces, K, seed=0)
    before = np.bincount(faces.labels)
    after = np.bincount(augmented.labels, minlength=before.size)
    np.testing.assert_array_equal(after, np.maximum(before, K))
    assert len(augmented) == np.maximum(before, K).sum()


def test_copies_keep_source_identity_and_age(faces):
    augmented = augment_to_k(faces, 6, seed=0)
    table = augmented.samples
    assert table["augmented"].sum() == len(augmented) - len(faces)
    for row in table.itertuples():
        assert row.identity == faces.labels[row.source]
        assert row.age == faces.ages[row.source] or np.isnan(row.age)
    assert not table["augmented"].iloc[: len(faces)].any()


def test_originals_unchanged(faces):
    augmented = augment_to_k(faces, 6, seed=0)
    for index in (0, len(faces) - 1):
        assert torch.equal(augmented[index][0], faces[index][0])


def test_copies_deterministic_and_distinct(faces):
    first = augment_to_k(faces, 6, seed=11)
    again = augment_to_k(faces, 6, seed=11)
    other = augment_to_k(faces, 6, seed=12)
    copies = np.flatnonzero(first.augmented)
    # Reading in reverse order must not change an item: its randomness depends on its index.
    backwards = {index: again[int(index)][0] for index in copies[::-1]}
    for index in copies:
        assert torch.equal(first[int(index)][0], backwards[index])
    assert any(not torch.equal(first[int(i)][0], other[int(i)][0]) for i in copies)
    assert not torch.equal(first[int(copies[0])][0], first[int(copies[1])][0])


def test_workers_see_same_items(faces):
    augmented = augment_to_k(faces, 6, seed=2)
    loader = DataLoader(augmented, batch_size=len(augmented), shuffle=False, num_workers=0)
    images, identities, _ = next(iter(loader))
    for index in np.flatnonzero(augmented.augmented)[:4]:
        assert torch.equal(images[index], augmented[int(index)][0])
    np.testing.assert_array_equal(identities.numpy(), augmented.labels)


def test_subset_of_augmented(faces):
    augmented = augment_to_k(faces, 4, seed=0)
    part = augmented.subset([len(augmented) - 1])
    assert part.labels.tolist() == [augmented.labels[-1]]


def test_item_generators_independent():
    draws = {float(torch.rand(1, generator=item_generator(0, index))) for index in range(50)}
    assert len(draws) == 50
    assert float(torch.rand(1, generator=item_generator(5, 7))) == float(torch.rand(1, generator=item_generator(5, 7)))


def test_flip_only_gives_image_or_mirror():
    image = torch.arange(2 * 4 * 5, dtype=torch.float32).reshape(2, 4, 5)
    outcomes = set()
    for index in range(20):
        out = augment_image(image, item_generator(0, index), crop_scale=(1.0, 1.0), brightness=0.0, contrast=0.0)
        if torch.equal(out, image):
            outcomes.add("same")
        elif torch.equal(out, image.flip(-1)):
            outcomes.add("mirror")
        else:
            outcomes.add("other")
    assert outcomes == {"same", "mirror"}


def test_augment_keeps_shape_and_dtype():
    image = torch.rand(3, 17, 13)
    out = augment_image(image, item_generator(1, 1))
    assert out.shape == image.shape
    assert out.dtype == image.dtype
    assert torch.isfinite(out).all()


def test_brightness_range():
    image = torch.ones(1, 6, 6)
    factors = [float(augment_image(image, item_generator(0, i), flip=False, crop_scale=(1.0, 1.0),
                                   brightness=0.2, contrast=0.0).mean()) for i in range(40)]
    assert min(factors) >= 0.8
    assert max(factors) <= 1.2
    assert max(factors) - min(factors) > 0.1


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"K": 0}, "K must be a positive int"),
    ({"K": 2, "seed": -1}, "seed"),
    ({"K": 2, "crop_scale": (0.0, 1.0)}, "crop_scale"),
    ({"K": 2, "brightness": 1.5}, "brightness"),
])
def test_augment_rejects_bad_options(faces, kwargs, match):
    with pytest.raises(ValueError, match=match):
        augment_to_k(faces, **kwargs)


def test_augment_requires_labels():
    with pytest.raises(TypeError, match="no labels"):
        augment_to_k([1, 2, 3], 2)
