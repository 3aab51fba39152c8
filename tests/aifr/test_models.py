"""Tests of the embedding networks: layer shapes, parameter counts, L2 output, local weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision import models as tv_models

from tfg_lib.aifr.models import (
    L2Normalize,
    LightEmbeddingNet,
    ResNetEmbeddingNet,
    build_model,
    input_shape,
)


def light_parameter_count(embedding_dim: int) -> int:
    # conv 1->32 k5: 1*32*25 + 32; conv 32->64 k5: 32*64*25 + 64; dense 1024->256, 256->256,
    # 256->D with biases; four PReLUs with one parameter each.
    convolutions = (1 * 32 * 25 + 32) + (32 * 64 * 25 + 64)
    dense = (1024 * 256 + 256) + (256 * 256 + 256) + (256 * embedding_dim + embedding_dim)
    return convolutions + dense + 4


@pytest.mark.parametrize("embedding_dim", [1, 2, 5, 128])
def test_light_output_shape_and_parameter_count(embedding_dim):
    model = LightEmbeddingNet(embedding_dim)
    output = model(torch.randn(3, 1, 28, 28))
    assert output.shape == (3, embedding_dim)
    assert sum(parameter.numel() for parameter in model.parameters()) == light_parameter_count(embedding_dim)


def test_light_layers_follow_thesis():
    model = LightEmbeddingNet(5)
    convolutions = [layer for layer in model.modules() if isinstance(layer, nn.Conv2d)]
    linears = [layer for layer in model.modules() if isinstance(layer, nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convolutions] == [
        (1, 32, (5, 5)),
        (32, 64, (5, 5)),
    ]
    assert [(l.in_features, l.out_features) for l in linears] == [(1024, 256), (256, 256), (256, 5)]
    assert sum(isinstance(layer, nn.PReLU) for layer in model.modules()) == 4
    assert sum(isinstance(layer, nn.MaxPool2d) for layer in model.modules()) == 2


def test_light_rejects_wrong_image_shape():
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        LightEmbeddingNet(5)(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize("embedding_dim", [0, -1, 2.5, True])
def test_embedding_dim_rejected(embedding_dim):
    with pytest.raises(ValueError, match="embedding_dim"):
        LightEmbeddingNet(embedding_dim)


def test_l2_normalize_gives_unit_norms():
    torch.manual_seed(0)
    output = LightEmbeddingNet(5, l2_normalize=True)(torch.randn(4, 1, 28, 28))
    torch.testing.assert_close(output.norm(dim=1), torch.ones(4))


def test_l2_normalize_zero_row_stays_finite():
    output = L2Normalize()(torch.zeros(2, 3, requires_grad=True))
    output.sum().backward()
    assert torch.isfinite(output).all()


def test_light_backward_reaches_first_layer():
    model = LightEmbeddingNet(5)
    model(torch.randn(2, 1, 28, 28)).pow(2).sum().backward()
    assert model.features[0].weight.grad is not None
    assert model.features[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize(("depth", "features"), [(18, 512), (50, 2048)])
def test_resnet_embedding_head(depth, features):
    model = ResNetEmbeddingNet(depth, embedding_dim=10).eval()
    assert model.backbone.fc.in_features == features
    with torch.inference_mode():
        output = model(torch.randn(2, 3, 32, 32))
    assert output.shape == (2, 10)


def test_resnet_rejects_grey_images():
    with pytest.raises(ValueError, match="3, H, W"):
        ResNetEmbeddingNet(18, 10)(torch.randn(1, 1, 32, 32))


def test_resnet_loads_local_weights(tmp_path):
    reference = tv_models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = ResNetEmbeddingNet(18, embedding_dim=7, pretrained_weights=path)
    for key, value in reference.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(model.backbone.state_dict()[key], value), key
    assert model.backbone.fc.out_features == 7


def test_resnet_missing_weights_says_what_to_download(tmp_path):
    path = tmp_path / "absent.pth"
    with pytest.raises(FileNotFoundError) as caught:
        ResNetEmbeddingNet(18, 10, pretrained_weights=path)
    message = str(caught.value)
    assert str(path) in message
    assert "resnet18-f37072fd.pth" in message


@pytest.mark.parametrize("defect", ["reshaped", "missing", "unexpected"])
def test_resnet_mismatched_weights_rejected(tmp_path, defect):
    state = tv_models.resnet18(weights=None).state_dict()
    if defect == "reshaped":
        state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    elif defect == "missing":
        del state["layer4.1.bn2.bias"]
    else:
        state["layer5.0.conv1.weight"] = torch.zeros(1)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=rf"does not match resnet18.*1 {'keys of another shape' if defect == 'reshaped' else defect + ' keys'}"):
        ResNetEmbeddingNet(18, 10, pretrained_weights=path)


def test_resnet_weights_file_without_state_dict_rejected(tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(ValueError, match="not a state dict"):
        ResNetEmbeddingNet(18, 10, pretrained_weights=path)


@pytest.mark.parametrize(
    ("network", "expected_type"),
    [("light", LightEmbeddingNet), ("resnet18", ResNetEmbeddingNet), ("resnet50", ResNetEmbeddingNet)],
)
def test_build_model_types(network, expected_type):
    model = build_model(network, 4)
    assert isinstance(model, expected_type)
    assert model.embedding_dim == 4


def test_build_model_rejects_unknown_network():
    with pytest.raises(ValueError, match="network='vgg'"):
        build_model("vgg", 4)


def test_build_model_rejects_weights_for_light(tmp_path):
    with pytest.raises(ValueError, match="pretrained_weights"):
        build_model("light", 4, pretrained_weights=tmp_path / "x.pth")


@pytest.mark.parametrize(("network", "shape"), [("light", (1, 28, 28)), ("resnet18", (3, 64, 64))])
def test_input_shape(network, shape):
    assert input_shape(network, image_size=64) == shape
