"""CACD, FG-NET and LFW loaders on small folders written in each exact layout."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tfg_lib.aifr.datasets import CACD, FGNET, LFW, DatasetFileWarning, face_transform
from tfg_lib.aifr.datasets import folder as folder_module

SMALL = face_transform(size=16)


def open_quietly(cls, root, **kwargs):
    """Open a data set and return it with the DatasetFileWarning messages it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = cls(root, transform=SMALL, progress=False, **kwargs)
    messages = [str(w.message) for w in caught if issubclass(w.category, DatasetFileWarning)]
    return dataset, messages


# CACD ------------------------------------------------------------------------------------

CACD_GOOD = {
    # file name: (name, age)
    "53_Robin_Williams_0001.jpg": ("Robin_Williams", 53.0),
    "60_Robin_Williams_0002.JPG": ("Robin_Williams", 60.0),
    "23_Jean-Claude_Van_Damme_0001.jpg": ("Jean-Claude_Van_Damme", 23.0),
    "41_Conan_O'Brien_0007.jpeg": ("Conan_O'Brien", 41.0),
    "14_Abigail_Breslin_0001.Jpg": ("Abigail_Breslin", 14.0),
    "62_Abigail_Breslin_0012.jpg": ("Abigail_Breslin", 62.0),
}
CACD_MISNAMED = ["Robin_Williams_0003.jpg", "notes.txt", "53_Robin_Williams.jpg", "x_Robin_Williams_0001.jpg"]
CACD_UNREADABLE = {"30_Zero_Byte_0001.jpg": "empty", "31_Corrupt_Image_0001.jpg": "corrupt",
                   "32_Cut_Short_0001.jpg": "truncated"}


@pytest.fixture
def cacd_root(tmp_path, write_jpeg, write_bad):
    root = tmp_path / "CACD2000"
    for seed, file_name in enumerate(CACD_GOOD):
        write_jpeg(root / file_name, seed=seed)
    for file_name in CACD_MISNAMED:
        write_jpeg(root / file_name)
    for file_name, kind in CACD_UNREADABLE.items():
        write_bad(root / file_name, kind)
    return root


def test_cacd_parses_names_and_ages(cacd_root, index_dir):
    dataset, _ = open_quietly(CACD, cacd_root, index_dir=index_dir)
    parsed = {Path(path).name: (name, age) for path, name, age in
              dataset.samples[["path", "name", "age"]].itertuples(index=False)}
    assert parsed == CACD_GOOD


def test_cacd_identities_follow_sorted_names(cacd_root, index_dir):
    dataset, _ = open_quietly(CACD, cacd_root, index_dir=index_dir)
    expected_order = sorted({name for name, _ in CACD_GOOD.values()})
    for name, identity in dataset.samples[["name", "identity"]].itertuples(index=False):
        assert identity == expected_order.index(name)
    assert dataset.labels.dtype == np.int64
    assert dataset.num_identities == 4


def test_cacd_counts_bad_files(cacd_root, index_dir):
    dataset, messages = open_quietly(CACD, cacd_root, index_dir=index_dir)
    assert sorted(dataset.bad_names) == sorted(CACD_MISNAMED)
    assert sorted(dataset.bad_images) == sorted(CACD_UNREADABLE)
    assert len(dataset) == len(CACD_GOOD)
    assert len(messages) == 2
    assert any(f"{len(CACD_MISNAMED)} file names" in message for message in messages)
    (unreadable,) = [message for message in messages if "3 images are empty or corrupt" in message]
    assert "30_Zero_Byte_0001.jpg" in unreadable


def test_cacd_accepts_parent_folder(cacd_root, index_dir):
    dataset, _ = open_quietly(CACD, cacd_root.parent, index_dir=index_dir)
    assert dataset.root == cacd_root
    assert len(dataset) == len(CACD_GOOD)


def test_cacd_item_is_tensor_identity_age(cacd_root, index_dir):
    dataset, _ = open_quietly(CACD, cacd_root, index_dir=index_dir)
    image, identity, age = dataset[0]
    assert isinstance(image, torch.Tensor)
    assert image.shape == (3, 16, 16)
    assert image.dtype == torch.float32
    assert identity == dataset.labels[0]
    assert age == dataset.ages[0]
    assert isinstance(identity, int)
    assert isinstance(age, float)


def test_ids_independent_of_creation_order(tmp_path, write_jpeg, index_dir):
    names = list(CACD_GOOD)
    for folder, order in (("forward", names), ("backward", names[::-1])):
        for file_name in order:
            write_jpeg(tmp_path / folder / file_name)
    forward, _ = open_quietly(CACD, tmp_path / "forward", index_dir=index_dir)
    backward, _ = open_quietly(CACD, tmp_path / "backward", index_dir=index_dir)
    assert forward.samples["name"].tolist() == backward.samples["name"].tolist()
    np.testing.assert_array_equal(forward.labels, backward.labels)
    np.testing.assert_array_equal(forward.ages, backward.ages)


# FG-NET ----------------------------------------------------------------------------------

FGNET_GOOD = {
    "001A02.JPG": ("001", 2.0),
    "001A02a.JPG": ("001", 2.0),
    "001a05.jpg": ("001", 5.0),
    "010A00.jpg": ("010", 0.0),
    "010A43b.JPG": ("010", 43.0),
    "082A69.JPG": ("082", 69.0),
}
FGNET_MISNAMED = ["001B02.JPG", "A02.JPG", "readme.txt", "001A02.png.bak"]


@pytest.fixture
def fgnet_root(tmp_path, write_jpeg, write_bad):
    root = tmp_path / "FGNET" / "images"
    for seed, file_name in enumerate(FGNET_GOOD):
        write_jpeg(root / file_name, seed=seed)
    for file_name in FGNET_MISNAMED:
        write_jpeg(root / file_name)
    write_bad(root / "005A10.JPG", "empty")
    write_bad(root / "005A11.jpg", "corrupt")
    return root


def test_fgnet_parses_subject_and_age(fgnet_root, index_dir):
    dataset, _ = open_quietly(FGNET, fgnet_root, index_dir=index_dir)
    parsed = {Path(path).name: (name, age) for path, name, age in
              dataset.samples[["path", "name", "age"]].itertuples(index=False)}
    assert parsed == FGNET_GOOD


def test_fgnet_identities_and_bad_files(fgnet_root, index_dir):
    dataset, messages = open_quietly(FGNET, fgnet_root.parent, index_dir=index_dir)
    assert dict(zip(dataset.samples["name"], dataset.samples["identity"])) == {"001": 0, "010": 1, "082": 2}
    assert sorted(dataset.bad_names) == sorted(FGNET_MISNAMED)
    assert sorted(dataset.bad_images) == ["005A10.JPG", "005A11.jpg"]
    assert len(messages) == 2


# LFW -------------------------------------------------------------------------------------

LFW_PEOPLE = {"George_W_Bush": 3, "Ana_Maria_de_la_Cruz": 1, "Jean-Luc_O'Neil": 2}


@pytest.fixture
def lfw_parent(tmp_path, write_jpeg, write_bad):
    parent = tmp_path / "downloads"
    for variant in ("lfw", "lfw-deepfunneled"):
        for person, count in LFW_PEOPLE.items():
            for photo in range(1, count + 1):
                write_jpeg(parent / variant / person / f"{person}_{photo:04d}.jpg", seed=photo)
        write_jpeg(parent / variant / "George_W_Bush" / "Someone_Else_0001.jpg")
        write_jpeg(parent / variant / "stray_0001.jpg")
        write_bad(parent / variant / "Zero_Byte" / "Zero_Byte_0001.jpg", "empty")
    # One extra person, only in the plain archive, distinguishes the variants.
    write_jpeg(parent / "lfw" / "Only_Plain" / "Only_Plain_0001.JPG")
    return parent


def test_lfw_one_folder_per_person(lfw_parent, index_dir):
    dataset, messages = open_quietly(LFW, lfw_parent / "lfw", index_dir=index_dir)
    counts = dataset.samples.groupby("name").size().to_dict()
    assert counts == {**LFW_PEOPLE, "Only_Plain": 1}
    assert dataset.samples["identity"].tolist() == sorted(dataset.samples["identity"].tolist())
    assert np.isnan(dataset.ages).all()
    assert sorted(dataset.bad_names) == ["George_W_Bush/Someone_Else_0001.jpg", "stray_0001.jpg"]
    assert dataset.bad_images == ["Zero_Byte/Zero_Byte_0001.jpg"]
    assert len(messages) == 2


@pytest.mark.parametrize(("variant", "people"), [("plain", 4), ("deepfunneled", 3), (None, 3)])
def test_lfw_variant_selection(lfw_parent, index_dir, variant, people):
    dataset, _ = open_quietly(LFW, lfw_parent, index_dir=index_dir, variant=variant)
    assert dataset.num_identities == people


def test_lfw_missing_variant_names_folder(lfw_parent, index_dir):
    (lfw_parent / "lfw").rename(lfw_parent / "other")
    with pytest.raises(FileNotFoundError, match="lfw"):
        LFW(lfw_parent, variant="plain", index_dir=index_dir)


def test_lfw_invalid_variant():
    with pytest.raises(ValueError, match="variant='funnelled'"):
        LFW("/nonexistent", variant="funnelled")


# Missing, empty and useless roots ----------------------------------------------------------

@pytest.mark.parametrize(("cls", "name", "download"), [
    (CACD, "CACD2000", "bcsiriuschen.github.io/CARC"),
    (FGNET, "FG-NET", "FG_NET_data"),
    (LFW, "LFW", "vis-www.cs.umass.edu/lfw"),
])
def test_missing_root_names_dataset_path_download(tmp_path, cls, name, download):
    missing = tmp_path / "not_there"
    with pytest.raises(FileNotFoundError) as raised:
        cls(missing)
    message = str(raised.value)
    assert name in message
    assert str(missing) in message
    assert "Expected layout" in message
    assert download in message


@pytest.mark.parametrize("cls", [CACD, FGNET, LFW])
def test_empty_root_is_error(tmp_path, index_dir, cls):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="is empty"):
        cls(tmp_path / "empty", index_dir=index_dir)


@pytest.mark.parametrize("root", ["", None])
def test_unset_root_is_error(root):
    with pytest.raises(FileNotFoundError, match="CACD2000 data was not given"):
        CACD(root)


def test_root_without_usable_files(tmp_path, write_jpeg, index_dir):
    write_jpeg(tmp_path / "faces" / "holiday.jpg")
    with pytest.raises(FileNotFoundError, match="no usable image"):
        CACD(tmp_path / "faces", index_dir=index_dir)


# The scan cache -------------------------------------------------------------------------

def count_checks(monkeypatch):
    calls = []
    original = folder_module.image_is_readable

    def counting(path):
        calls.append(path)
        return original(path)

    monkeypatch.setattr(folder_module, "image_is_readable", counting)
    return calls


def test_second_open_reads_index(cacd_root, index_dir, monkeypatch):
    calls = count_checks(monkeypatch)
    first, _ = open_quietly(CACD, cacd_root, index_dir=index_dir)
    checked = len(calls)
    second, messages = open_quietly(CACD, cacd_root, index_dir=index_dir)
    assert checked == len(CACD_GOOD) + len(CACD_UNREADABLE)
    assert len(calls) == checked
    assert second.samples.equals(first.samples)
    assert second.bad_images == first.bad_images
    assert len(messages) == 2
    assert len(list(index_dir.glob("cacd2000-*.json"))) == 1


def test_index_invalidated_by_new_file(cacd_root, index_dir, write_jpeg):
    open_quietly(CACD, cacd_root, index_dir=index_dir)
    write_jpeg(cacd_root / "35_New_Person_0001.jpg")
    dataset, _ = open_quietly(CACD, cacd_root, index_dir=index_dir)
    assert "New_Person" in set(dataset.samples["name"])
    assert len(dataset) == len(CACD_GOOD) + 1


def test_damaged_index_is_rebuilt(cacd_root, index_dir):
    open_quietly(CACD, cacd_root, index_dir=index_dir)
    (index_file,) = index_dir.glob("*.json")
    index_file.write_text("{not json", encoding="utf-8")
    dataset, _ = open_quietly(CACD, cacd_root, index_dir=index_dir)
    assert len(dataset) == len(CACD_GOOD)
    assert json.loads(index_file.read_text(encoding="utf-8"))["paths"]


def test_index_ages_survive_nan(lfw_parent, index_dir):
    first, _ = open_quietly(LFW, lfw_parent, index_dir=index_dir)
    second, _ = open_quietly(LFW, lfw_parent, index_dir=index_dir)
    assert np.isnan(second.ages).all()
    assert second.samples.equals(first.samples)


def test_use_index_false_writes_nothing(cacd_root, index_dir):
    open_quietly(CACD, cacd_root, index_dir=index_dir, use_index=False)
    assert not index_dir.exists() or not any(index_dir.iterdir())


def test_index_dir_from_environment(cacd_root, tmp_path, monkeypatch):
    monkeypatch.setenv("TFG_DATA_INDEX_DIR", str(tmp_path / "from_env"))
    open_quietly(CACD, cacd_root)
    assert len(list((tmp_path / "from_env").glob("*.json"))) == 1


def test_check_images_off_keeps_bad_files(cacd_root, index_dir):
    dataset, _ = open_quietly(CACD, cacd_root, index_dir=index_dir, check_images=False)
    assert len(dataset) == len(CACD_GOOD) + len(CACD_UNREADABLE)
    assert dataset.bad_images == []


def test_file_damaged_after_scan_raises_with_path(cacd_root, index_dir):
    dataset, _ = open_quietly(CACD, cacd_root, index_dir=index_dir)
    path = dataset.samples["path"].iat[0]
    Path(path).write_bytes(b"\xff\xd8\xff" + b"\x00" * 50 + b"\xff\xd9")
    with pytest.raises(OSError, match="could not decode"):
        dataset[0]


# Subsets ---------------------------------------------------------------------------------

def test_subset_keeps_labels_ages_samples(cacd_root, index_dir):
    dataset, _ = open_quietly(CACD, cacd_root, index_dir=index_dir)
    indices = np.array([4, 1, 2])
    part = dataset.subset(indices)
    np.testing.assert_array_equal(part.labels, dataset.labels[indices])
    np.testing.assert_array_equal(part.ages, dataset.ages[indices])
    assert part.samples["path"].tolist() == dataset.samples["path"].iloc[indices].tolist()
    assert len(part) == 3
    assert part[0][1] == dataset[4][1]
    assert torch.equal(part[0][0], dataset[4][0])
    nested = part.subset([2])
    assert nested.labels.tolist() == [dataset.labels[2]]


def test_subset_rejects_out_of_range(cacd_root, index_dir):
    dataset, _ = open_quietly(CACD, cacd_root, index_dir=index_dir)
    with pytest.raises(IndexError, match="indices must lie in"):
        dataset.subset([0, len(dataset)])
    with pytest.raises(TypeError, match="integers"):
        dataset.subset([0.5])


def test_index_out_of_range(cacd_root, index_dir):
    dataset, _ = open_quietly(CACD, cacd_root, index_dir=index_dir)
    with pytest.raises(IndexError, match="out of range"):
        dataset[len(dataset)]


def test_readable_check_rules(tmp_path, write_jpeg, write_bad):
    good = write_jpeg(tmp_path / "good.jpg")
    png = tmp_path / "good.png"
    from PIL import Image
    Image.new("RGB", (8, 8)).save(png)
    assert folder_module.image_is_readable(good)
    assert folder_module.image_is_readable(png)
    for kind in ("empty", "corrupt", "truncated"):
        assert not folder_module.image_is_readable(write_bad(tmp_path / f"{kind}.jpg", kind))
    assert not folder_module.image_is_readable(tmp_path / "absent.jpg")
    assert math.isnan(LFW.parse("A/A_0001.jpg")[1])


def test_presorted_samples_match_sorted():
    from tfg_lib.aifr.datasets.base import make_samples, sample_sort_key

    rows = [("c/1.jpg", "Bo", 30.0), ("a/2.jpg", "Al", math.nan), ("a/1.jpg", "Al", 40.0),
            ("b/1.jpg", "Bo", 30.0), ("d/1.jpg", "Al", 5.0), ("e/1.jpg", "Cy", math.nan)]
    shuffled = make_samples(*zip(*rows))
    ordered = sorted(rows, key=lambda row: sample_sort_key(*row))
    presorted = make_samples(*zip(*ordered), presorted=True)
    assert presorted.equals(shuffled)
    assert presorted["identity"].tolist() == [0, 0, 0, 1, 1, 2]
