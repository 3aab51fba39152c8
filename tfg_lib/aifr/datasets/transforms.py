"""Image transforms per data set: MNIST as 28x28 grey, faces resized and normalised for ResNets.

Every transform takes a PIL image and returns a float32 tensor of shape (C, H, W).

Face crop options of :func:`face_transform`:

- ``crop=None`` keeps the whole photo and resizes it to ``size`` x ``size``.
- ``crop=c`` (an int) first cuts the central ``c`` x ``c`` pixels, then resizes. CACD and LFW
  photos are 250x250 with the face roughly centred, so a central crop of about 150 pixels keeps
  the face and drops most of the background. FG-NET photos vary in size and framing, so a fixed
  pixel crop may cut faces there.
- ``crop=f`` (a float in (0, 1]) cuts the central square of side ``f`` times the shorter side,
  which adapts to photos of any size.

``normalize=True`` applies the ImageNet channel mean and standard deviation that the torchvision
ResNet weights were trained with.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import functional as F

# Mean and standard deviation of the MNIST training set's grey levels scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
MNIST_SIZE = 28

# Channel statistics that the torchvision ImageNet weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FACE_SIZE = 224


def to_tensor(image: Image.Image) -> torch.Tensor:
    """Convert a PIL image to a float32 tensor of shape (C, H, W) with values in [0, 1]."""
    return F.to_tensor(image)


def mnist_transform(normalize: bool = True) -> Callable[[Image.Image], torch.Tensor]:
    """Return the MNIST transform: grey, 28x28, scaled to [0, 1], optionally standardised.

    Parameters
    ----------
    normalize : bool
        Subtract the MNIST mean 0.1307 and divide by its standard deviation 0.3081.
    """
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool; got {normalize!r}.")

    def transform(image: Image.Image) -> torch.Tensor:
        image = image.convert("L")
        if image.size != (MNIST_SIZE, MNIST_SIZE):
            image = image.resize((MNIST_SIZE, MNIST_SIZE), Image.BILINEAR)
        tensor = F.to_tensor(image)
        if normalize:
            tensor = (tensor - MNIST_MEAN) / MNIST_STD
        return tensor

    return transform


def face_transform(
    size: int = FACE_SIZE,
    crop: int | float | None = None,
    normalize: bool = True,
    grayscale: bool = False,
) -> Callable[[Image.Image], torch.Tensor]:
    """Return a face transform: optional central crop, resize to ``size``, RGB, normalise.

    Parameters
    ----------
    size : int
        Side of the square output in pixels; 224 for ResNet-18/50 on ImageNet weights.
    crop : int, float or None
        Central crop before resizing; see the module docstring.
    normalize : bool
        Standardise with the ImageNet channel mean and standard deviation.
    grayscale : bool
        Convert to one grey channel instead of RGB (normalisation then uses the channel means).

    Returns
    -------
    callable
        PIL image -> float32 tensor of shape (3, size, size), or (1, size, size) if grey.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive int such as 224; got {size!r}.")
    if crop is not None:
        if isinstance(crop, bool) or not isinstance(crop, (int, float, np.integer, np.floating)):
            raise TypeError(f"crop must be None, an int of pixels or a float fraction; got {crop!r}.")
        if isinstance(crop, (float, np.floating)) and not 0.0 < crop <= 1.0:
            raise ValueError(f"crop={crop!r} as a fraction must lie in (0, 1]; use e.g. 0.6.")
        if isinstance(crop, (int, np.integer)) and crop < 1:
            raise ValueError(f"crop={crop!r} as pixels must be positive; use e.g. 150.")
    mean = (float(np.mean(IMAGENET_MEAN)),) if grayscale else IMAGENET_MEAN
    std = (float(np.mean(IMAGENET_STD)),) if grayscale else IMAGENET_STD

    def transform(image: Image.Image) -> torch.Tensor:
        image = image.convert("L" if grayscale else "RGB")
        if crop is not None:
            shorter = min(image.size)
            side = int(round(crop * shorter)) if isinstance(crop, (float, np.floating)) else int(crop)
            side = max(1, min(side, shorter))
            image = F.center_crop(image, [side, side])
        image = image.resize((int(size), int(size)), Image.BILINEAR)
        tensor = F.to_tensor(image)
        if normalize:
            tensor = F.normalize(tensor, mean, std)
        return tensor

    return transform
