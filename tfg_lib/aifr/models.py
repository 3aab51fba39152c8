"""Embedding networks for triplet-loss training: the thesis' light MNIST network and ResNets.

Every model maps a batch of images, shape (B, C, H, W), to embeddings of shape (B, D), optionally
projected onto the unit sphere. Pretrained ResNet weights are read only from a local file: this
module never downloads anything.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)

NETWORKS = ("light", "resnet18", "resnet50")

# Download addresses of the ImageNet weights that ``pretrained_weights`` expects (torchvision 0.16+).
RESNET_WEIGHT_FILES = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
}


class L2Normalize(nn.Module):
    """Project each row onto the unit sphere, x / max(||x||_2, eps)."""

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(embeddings, p=2.0, dim=1, eps=self.eps)


class LightEmbeddingNet(nn.Module):
    """The thesis' light MNIST network, for 1 x 28 x 28 inputs.

    conv 1->32 (5 x 5), PReLU, max-pool 2; conv 32->64 (5 x 5), PReLU, max-pool 2; dense
    1024->256, PReLU; dense 256->256, PReLU; dense 256->D. Convolutions have no padding, so a
    28 x 28 image becomes 64 feature maps of 4 x 4 = 1024 values before the dense part.

    Parameters
    ----------
    embedding_dim : int
        D, the dimension of the embedding (the thesis uses 5, and 2 for pictures).
    l2_normalize : bool
        Append :class:`L2Normalize`, so every embedding has norm 1.
    """

    def __init__(self, embedding_dim: int = 5, l2_normalize: bool = False) -> None:
        super().__init__()
        _check_embedding_dim(embedding_dim)
        self.embedding_dim = embedding_dim
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=5),
            nn.PReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=5),
            nn.PReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, 256),
            nn.PReLU(),
            nn.Linear(256, 256),
            nn.PReLU(),
            nn.Linear(256, embedding_dim),
        )
        self.normalize = L2Normalize() if l2_normalize else nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
            raise ValueError(
                f"images have shape {tuple(images.shape)}; the light network expects "
                "(B, 1, 28, 28) MNIST-sized images."
            )
        return self.normalize(self.head(self.features(images)))


class ResNetEmbeddingNet(nn.Module):
    """A torchvision ResNet whose classification layer is replaced by a linear embedding head.

    Parameters
    ----------
    depth : {18, 50}
        ResNet-18 or ResNet-50.
    embedding_dim : int
        D, the output dimension (the thesis uses 10 on CACD).
    l2_normalize : bool
        Append :class:`L2Normalize`.
    pretrained_weights : path, optional
        A local ``.pth`` file with torchvision's ImageNet state dict for this depth. The final
        ``fc`` entries are ignored because the head is replaced. ``None`` means random weights.
    """

    def __init__(
        self,
        depth: int = 18,
        embedding_dim: int = 10,
        l2_normalize: bool = False,
        pretrained_weights: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        from torchvision import models as tv_models

        if depth not in (18, 50):
            raise ValueError(f"depth={depth!r} is not supported; use 18 or 50.")
        _check_embedding_dim(embedding_dim)
        self.embedding_dim = embedding_dim
        builder = tv_models.resnet18 if depth == 18 else tv_models.resnet50
        self.backbone = builder(weights=None)
        if pretrained_weights is not None:
            load_backbone_weights(self.backbone, pretrained_weights, f"resnet{depth}")
        features = self.backbone.fc.in_features
        self.backbone.fc = nn.Linear(features, embedding_dim)
        self.normalize = L2Normalize() if l2_normalize else nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images have shape {tuple(images.shape)}; a ResNet expects (B, 3, H, W) "
                "colour images (repeat a grey channel three times)."
            )
        return self.normalize(self.backbone(images))


def load_backbone_weights(
    backbone: nn.Module, path: str | os.PathLike[str], network: str
) -> None:
    """Load torchvision ImageNet weights for ``network`` from a local file into ``backbone``.

    The classifier entries (``fc.weight``, ``fc.bias``) are dropped; every other key must match.

    Raises
    ------
    FileNotFoundError
        The file does not exist; the message names the file to download and the path to save it at.
    ValueError
        The file does not hold a state dict matching ``network``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        url = RESNET_WEIGHT_FILES.get(network, "torchvision's model page")
        raise FileNotFoundError(
            f"pretrained_weights={str(path)!r} does not exist. Download the ImageNet weights of "
            f"{network} from {url} and save the file at that path, or pass "
            "pretrained_weights=None to start from random weights."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(
            f"pretrained_weights={str(path)!r} contains a {type(state).__name__}, not a state dict; "
            f"save torchvision's {network} weights with torch.save(model.state_dict(), path)."
        )
    state = {key: value for key, value in state.items() if not key.startswith("fc.")}
    expected = {key: value.shape for key, value in backbone.state_dict().items() if not key.startswith("fc.")}
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    reshaped = [
        key for key in expected
        if key in state and tuple(getattr(state[key], "shape", ())) != tuple(expected[key])
    ]
    if missing or unexpected or reshaped:
        raise ValueError(
            f"pretrained_weights={str(path)!r} does not match {network}: "
            f"{len(missing)} missing keys (first: {missing[:3]}), "
            f"{len(unexpected)} unexpected keys (first: {unexpected[:3]}), "
            f"{len(reshaped)} keys of another shape (first: {reshaped[:3]}). "
            f"Use the {network} file from {RESNET_WEIGHT_FILES.get(network)}."
        )
    backbone.load_state_dict(state, strict=False)
    logger.info("loaded %s weights from %s", network, path)


def build_model(
    network: str,
    embedding_dim: int,
    l2_normalize: bool = False,
    pretrained_weights: str | os.PathLike[str] | None = None,
) -> nn.Module:
    """Build the embedding network named ``network`` ("light", "resnet18" or "resnet50")."""
    if network == "light":
        if pretrained_weights is not None:
            raise ValueError(
                f"pretrained_weights={str(pretrained_weights)!r} was given for network='light', "
                "which has no pretrained weights; pass pretrained_weights=None."
            )
        return LightEmbeddingNet(embedding_dim, l2_normalize)
    if network in ("resnet18", "resnet50"):
        depth = 18 if network == "resnet18" else 50
        return ResNetEmbeddingNet(depth, embedding_dim, l2_normalize, pretrained_weights)
    raise ValueError(f"network={network!r} is not supported; use one of {', '.join(NETWORKS)}.")


def input_shape(network: str, image_size: int = 64) -> tuple[int, int, int]:
    """Return the (C, H, W) shape of one input image of ``network``."""
    if network == "light":
        return (1, 28, 28)
    if network in ("resnet18", "resnet50"):
        return (3, image_size, image_size)
    raise ValueError(f"network={network!r} is not supported; use one of {', '.join(NETWORKS)}.")


def _check_embedding_dim(embedding_dim: int) -> None:
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1:
        raise ValueError(
            f"embedding_dim={embedding_dim!r} is invalid; use an integer of at least 1."
        )
