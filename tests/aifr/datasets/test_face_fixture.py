"""The generated face-layout fixture: exact layouts, bad files, determinism."""

from __future__ import annotations

import hashlib
import re
import warnings

import numpy as np
import pytest

from tfg_lib.aifr.datasets import CACD, FGNET, LFW, DatasetFileWarning, make_face_fixture
from tfg_lib.aifr.datasets.fixtures import fixture_names

LOADERS = {"cacd": CACD, "fgnet": FGNET, "lfw": LFW}


def digest(root):
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("layout", ["cacd", "fgnet", "lfw"])
def test_fixture_loads_back(tmp_path, layout):
    root = make_face_fixture(tmp_path / layout, layout, identities=4, images_per_identity=(2, 4),
                             image_size=24, bad_files=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = LOADERS[layout](root, index_dir=tmp_path / "index", progress=False)
    assert dataset.num_identities == 4
    assert 8 <= len(dataset) <= 16
    assert len(dataset.bad_names) == 1
    assert len(dataset.bad_images) == 3
    assert sum(issubclass(w.category, DatasetFileWarning) for w in caught) == 2


def test_fixture_cacd_names_and_ages(tmp_path):
    root = make_face_fixture(tmp_path, "cacd", identities=3, ages=(20, 30), image_size=24)
    files = sorted(path.name for path in root.iterdir())
    pattern = re.compile(r"^(\d+)_(.+)_(\d{4})\.jpg$")
    names = set()
    for file_name in files:
        age, name, _ = pattern.match(file_name).groups()
        assert 20 <= int(age) <= 30
        names.add(name)
    assert names == set(fixture_names(3))


def test_fixture_fgnet_letters_and_cases(tmp_path):
    root = make_face_fixture(tmp_path, "fgnet", identities=6, images_per_identity=(8, 8), ages=(0, 3),
                             image_size=24)
    files = [path.name for path in root.iterdir()]
    assert any(name.endswith(".JPG") for name in files)
    assert any(name.endswith(".jpg") for name in files)
    # Eight photos over four ages force repeated ages, which get trailing letters.
    assert any(re.match(r"^\d{3}A\d{2}[a-z]\.", name) for name in files)
    dataset = FGNET(root, index_dir=tmp_path / "index", progress=False)
    assert len(dataset) == 48


def test_fixture_deterministic(tmp_path):
    first = make_face_fixture(tmp_path / "a", "lfw", identities=3, image_size=24, seed=5)
    second = make_face_fixture(tmp_path / "b", "lfw", identities=3, image_size=24, seed=5)
    assert digest(first) == digest(second)


def test_fixture_names_distinct():
    names = fixture_names(80)
    assert len(set(names)) == 80
    with pytest.raises(ValueError, match="identities=81"):
        fixture_names(81)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"layout": "casia"}, "layout='casia'"),
    ({"identities": 0}, "identities"),
    ({"images_per_identity": (3, 2)}, "images_per_identity"),
    ({"ages": (50, 20)}, "ages"),
    ({"image_size": 8}, "image_size"),
])
def test_fixture_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_face_fixture(tmp_path, **kwargs)


def test_fixture_images_differ_between_identities(tmp_path):
    root = make_face_fixture(tmp_path, "cacd", identities=2, images_per_identity=(1, 1), image_size=24)
    dataset = CACD(root, index_dir=tmp_path / "index", progress=False)
    first = np.asarray(dataset.load_image(0), dtype=float)
    second = np.asarray(dataset.load_image(1), dtype=float)
    assert np.abs(first - second).mean() > 5
