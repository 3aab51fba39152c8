"""A small generated face-layout folder, for quick notebook profiles and tests without real data.

The images are cartoon faces drawn with PIL: each identity has its own skin tone, face shape,
eye spacing and background, and age shows as greyer hair, more wrinkle lines and a longer face.
They are not photographs; they exercise the loaders, splits and figures, not recognition.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

LAYOUTS = ("cacd", "fgnet", "lfw")

# Name parts with several words, hyphens and apostrophes, as real CACD and LFW names have.
FIRST_NAMES = ("Ana", "Jean-Luc", "Mary_Kate", "Kofi", "Li", "Sean", "Ines", "Olu", "Marta", "Raj")
LAST_NAMES = ("Lopez", "O'Brien", "Smith-Jones", "Nakamura", "van_Dijk", "Okafor", "Rossi", "Kim")

BAD_FILES = ("empty", "corrupt", "truncated", "misnamed")


def fixture_names(count: int) -> list[str]:
    """Return ``count`` distinct names built from the first and last name parts."""
    # Walk the name grid diagonally, so that a few identities already mix first and last names.
    names = []
    for index in range(len(FIRST_NAMES) * len(LAST_NAMES)):
        block, first = divmod(index, len(FIRST_NAMES))
        last = (index + block) % len(LAST_NAMES)
        names.append(f"{FIRST_NAMES[first]}_{LAST_NAMES[last]}")
    if count > len(names):
        raise ValueError(f"identities={count} exceeds the {len(names)} generated names; use fewer.")
    return names[:count]


def draw_face(identity: int, age: float, size: int, rng: np.random.Generator) -> Image.Image:
    """Draw one cartoon face of ``identity`` at ``age`` years as an RGB image of ``size`` pixels."""
    traits = np.random.default_rng(1000 + identity)
    background = tuple(int(v) for v in traits.integers(40, 200, size=3))
    skin = tuple(int(v) for v in traits.integers(120, 240, size=3))
    eye_gap = float(traits.uniform(0.14, 0.22))
    width = float(traits.uniform(0.28, 0.36))
    youth = float(np.clip(age / 70.0, 0.0, 1.0))
    grey = int(40 + 190 * youth)

    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    centre_x = size / 2 + rng.normal(0, size * 0.02)
    centre_y = size / 2 + rng.normal(0, size * 0.02)
    height = width * (1.05 + 0.25 * youth)
    box = [centre_x - width * size, centre_y - height * size, centre_x + width * size, centre_y + height * size]
    draw.ellipse([box[0] - 2, box[1] - size * 0.06, box[2] + 2, centre_y], fill=(grey, grey, grey))
    draw.ellipse(box, fill=skin)
    for side in (-1, 1):
        eye_x = centre_x + side * eye_gap * size
        eye_y = centre_y - 0.08 * size
        draw.ellipse([eye_x - 0.04 * size, eye_y - 0.025 * size, eye_x + 0.04 * size, eye_y + 0.025 * size], fill=(30, 30, 30))
    mouth_y = centre_y + 0.15 * size
    draw.arc([centre_x - 0.1 * size, mouth_y - 0.05 * size, centre_x + 0.1 * size, mouth_y + 0.05 * size], 10, 170, fill=(120, 30, 30), width=max(1, size // 32))
    for line in range(int(round(4 * youth))):
        y = centre_y - 0.2 * size - line * 0.03 * size
        draw.line([centre_x - 0.12 * size, y, centre_x + 0.12 * size, y], fill=(90, 70, 60), width=1)

    pixels = np.asarray(image, dtype=np.float64) + rng.normal(0, 6, size=(size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")


def _file_path(root: Path, layout: str, name: str, subject: int, age: int, photo: int, repeat: int) -> Path:
    if layout == "cacd":
        return root / f"{age}_{name}_{photo:04d}.jpg"
    if layout == "fgnet":
        letter = "" if repeat == 0 else "abcdefghijklmnopqrstuvwxyz"[repeat - 1]
        extension = ".JPG" if photo % 2 else ".jpg"  # both cases occur in the real archive
        return root / f"{subject:03d}A{age:02d}{letter}{extension}"
    return root / name / f"{name}_{photo:04d}.jpg"


def make_face_fixture(
    root: str | os.PathLike[str],
    layout: str = "cacd",
    identities: int = 8,
    images_per_identity: tuple[int, int] = (3, 10),
    ages: tuple[int, int] = (14, 62),
    image_size: int = 64,
    bad_files: bool = False,
    seed: int = 0,
) -> Path:
    """Write a small folder of generated faces in the CACD, FG-NET or LFW file layout.

    Parameters
    ----------
    root : str or path
        Folder to write into (created if missing). The images go directly into it.
    layout : {"cacd", "fgnet", "lfw"}
        File naming: ``AGE_Name_NNNN.jpg``, ``SSSAaa[x].JPG`` (mixed-case extensions, a trailing
        letter for a second photo at one age) or ``Name/Name_NNNN.jpg``.
    identities : int
        Number of people, at most 80.
    images_per_identity : (int, int)
        Inclusive range from which each person's image count is drawn, so some people have
        fewer images than a P-K batch's K.
    ages : (int, int)
        Inclusive range of ages in years; ignored by the LFW layout's file names.
    image_size : int
        Side of the square images in pixels.
    bad_files : bool
        Also write four files the loaders must skip: a zero-byte file and a corrupt JPEG
        (random bytes), a truncated JPEG (both with valid names), and a file whose name is off
        the layout.
    seed : int
        Seed of image counts, ages and pixel noise.

    Returns
    -------
    Path
        ``root``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not supported; use one of {', '.join(LAYOUTS)}.")
    if isinstance(identities, bool) or not isinstance(identities, (int, np.integer)) or identities < 1:
        raise ValueError(f"identities must be a positive int; got {identities!r}.")
    low, high = images_per_identity
    if not 1 <= low <= high:
        raise ValueError(f"images_per_identity={images_per_identity!r} must satisfy 1 <= low <= high.")
    youngest, oldest = ages
    if not 0 <= youngest <= oldest <= 99:
        raise ValueError(f"ages={ages!r} must satisfy 0 <= youngest <= oldest <= 99.")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 16:
        raise ValueError(f"image_size must be an int of at least 16 pixels; got {image_size!r}.")

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = fixture_names(int(identities))

    for subject, name in enumerate(names, start=1):
        count = int(rng.integers(low, high + 1))
        person_ages = np.sort(rng.integers(youngest, oldest + 1, size=count))
        if layout == "lfw":
            (root / name).mkdir(exist_ok=True)
        for photo, age in enumerate(person_ages, start=1):
            repeat = int(np.sum(person_ages[: photo - 1] == age))
            path = _file_path(root, layout, name, subject, int(age), photo, repeat)
            draw_face(subject, float(age), int(image_size), rng).save(path, format="JPEG", quality=90)

    if bad_files:
        _write_bad_files(root, layout, len(names), rng)
    return root


def _write_bad_files(root: Path, layout: str, identities: int, rng: np.random.Generator) -> None:
    """Write an empty, a corrupt and a truncated JPEG with valid names, and a misnamed file."""
    subject = identities + 1
    if layout == "lfw":
        for folder in ("Zero_Byte", "Corrupt_File", "Truncated_File"):
            (root / folder).mkdir(exist_ok=True)
    empty = _file_path(root, layout, "Zero_Byte", subject, 30, 1, 0)
    corrupt = _file_path(root, layout, "Corrupt_File", subject + 1, 31, 1, 0)
    truncated = _file_path(root, layout, "Truncated_File", subject + 2, 32, 1, 0)
    empty.write_bytes(b"")
    corrupt.write_bytes(rng.integers(0, 256, size=512, dtype=np.uint8).tobytes())
    draw_face(0, 30.0, 96, rng).save(truncated, format="JPEG")
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    (root / "IMG_0001.jpeg.txt").write_text("not an image\n", encoding="utf-8")
