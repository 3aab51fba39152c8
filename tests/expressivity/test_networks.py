"""Tests of the convolutional arithmetic circuits against an independent float64 contraction.

The references below rebuild the coefficient tensor A^y from the networks' raw weights with
outer products (CP) or level-by-level outer products (HT), evaluate the representation
functions from their closed forms in numpy, and contract:
h_y = sum_{d_1..d_N} A^y[d_1..d_N] prod_i f_{d_i}(x_i).
"""

from __future__ import annotations

import functools
import math
import types

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from tfg_lib.expressivity import (
    CPModel,
    HTModel,
    cp_parameter_count,
    ht_parameter_count,
    random_cp_model,
    random_ht_model,
)
from tfg_lib.expressivity.networks import (
    DeepConvAC,
    ShallowConvAC,
    describe_depth_efficiency,
    eckart_young_floor,
    image_patches,
    make_teacher,
    plot_depth_efficiency,
    run_depth_efficiency,
    signed_log,
    signed_log_linear,
    signed_log_pair_product,
    signed_log_product,
    signed_log_to_value,
    summarize_depth_efficiency,
    train_regression,
)
from tfg_lib.expressivity.networks.depth_efficiency import _dense_ht_tensor

PATCH_DIM = 3


# ---------------------------------------------------------------- independent references


def reference_representation(network, patches: np.ndarray) -> np.ndarray:
    """f_d(x_i) from the closed form of the network's representation layer, shape (B, N, M)."""
    layer = network.representation
    if hasattr(layer, "means"):
        means = layer.means.detach().double().numpy()
        scales = np.exp(layer.log_scales.detach().double().numpy())
        values = np.empty((*patches.shape[:2], means.shape[0]))
        for d in range(means.shape[0]):
            values[..., d] = np.exp(-0.5 * (((patches - means[d]) / scales[d]) ** 2).sum(-1))
        return values
    weight = layer.weight.detach().double().numpy()
    bias = layer.bias.detach().double().numpy()
    assert layer.activation == "sigmoid"
    return 1.0 / (1.0 + np.exp(-(patches @ weight.T + bias)))


def per_position(weight: torch.Tensor, positions: int, shared: bool) -> np.ndarray:
    values = weight.detach().double().numpy()
    return np.stack([values] * positions) if shared else values


def outer(*vectors: np.ndarray) -> np.ndarray:
    return functools.reduce(np.multiply.outer, vectors)


def cp_tensor(weights: np.ndarray, vectors: np.ndarray, y: int) -> np.ndarray:
    """A^y = sum_z a^y_z w^{z,1} (x) ... (x) w^{z,N}."""
    return sum(weights[y, z] * outer(*vectors[:, z]) for z in range(weights.shape[1]))


def ht_tensor(leaves: np.ndarray, inner: list[np.ndarray], top: np.ndarray, y: int) -> np.ndarray:
    """A^y from the HT recursion, with explicit loops over positions and ranks."""
    phi = [[leaves[j, a] for a in range(leaves.shape[1])] for j in range(leaves.shape[0])]
    for coefficients in inner:
        phi = [
            [
                sum(coefficients[j, g, a] * outer(phi[2 * j][a], phi[2 * j + 1][a])
                    for a in range(coefficients.shape[2]))
                for g in range(coefficients.shape[1])
            ]
            for j in range(coefficients.shape[0])
        ]
    return sum(top[y, a] * outer(phi[0][a], phi[1][a]) for a in range(top.shape[1]))


def contract(tensor: np.ndarray, features: np.ndarray) -> float:
    """sum over indices of tensor[d_1..d_N] prod_i features[i, d_i], one mode at a time."""
    for i in range(features.shape[0]):
        tensor = np.tensordot(features[i], tensor, axes=([0], [0]))
    return float(tensor)


def reference_scores(network, tensor_of_class, patches: np.ndarray) -> np.ndarray:
    features = reference_representation(network, patches)
    scores = np.empty((patches.shape[0], network.Y))
    for y in range(network.Y):
        tensor = tensor_of_class(y)
        for b in range(patches.shape[0]):
            scores[b, y] = contract(tensor, features[b])
    return scores


def shallow_tensor(network: ShallowConvAC):
    vectors = per_position(network.conv_weight, network.N, network.shared)
    weights = network.dense_weight.detach().double().numpy()
    return lambda y: cp_tensor(weights, vectors, y)


def deep_tensor(network: DeepConvAC):
    leaves = per_position(network.leaf_weight, network.N, network.shared)
    inner = [per_position(w, network.N >> level, network.shared)
             for level, w in enumerate(network.inner_weights, start=1)]
    top = network.top_weight.detach().double().numpy()
    return lambda y: ht_tensor(leaves, inner, top, y)


def random_patches64(batch: int, positions: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, positions, PATCH_DIM))


# ---------------------------------------------------------------- scores against the contraction


@pytest.mark.parametrize("representation", ["gaussian", "neuron"])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("num_patches, components, classes", [(1, 2, 1), (2, 3, 2), (3, 2, 1), (4, 3, 2)])
def test_shallow_score_equals_cp_contraction(representation, shared, num_patches, components, classes):
    generator = torch.Generator().manual_seed(num_patches)
    network = ShallowConvAC(
        num_patches, PATCH_DIM, 3, components, num_classes=classes, shared=shared,
        representation=representation, generator=generator,
    ).double()
    patches = random_patches64(5, num_patches, seed=1)

    scores = network(torch.from_numpy(patches)).detach().numpy()
    expected = reference_scores(network, shallow_tensor(network), patches)

    np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("representation", ["gaussian", "neuron"])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("num_patches, ranks, classes", [(2, (3,), 1), (4, (2, 3), 2), (8, (2, 3, 2), 1)])
def test_deep_score_equals_ht_contraction(representation, shared, num_patches, ranks, classes):
    generator = torch.Generator().manual_seed(num_patches)
    network = DeepConvAC(
        num_patches, PATCH_DIM, 2, ranks, num_classes=classes, shared=shared,
        representation=representation, generator=generator,
    ).double()
    patches = random_patches64(4, num_patches, seed=2)

    scores = network(torch.from_numpy(patches)).detach().numpy()
    expected = reference_scores(network, deep_tensor(network), patches)

    np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=1e-13)


def test_shallow_hand_worked_example():
    # N = 2, M = 1, Z = 2, identity neuron with weight 1 and bias 0, so f(x) = x:
    # h = 1 * (2 * x1)(3 * x2) + (-1) * (1 * x1)(1 * x2) = 5 * x1 * x2 = 5 * 2 * (-3) = -30.
    network = ShallowConvAC(2, 1, 1, 2, representation="neuron", activation="identity").double()
    with torch.no_grad():
        network.representation.weight.fill_(1.0)
        network.representation.bias.zero_()
        network.conv_weight.copy_(torch.tensor([[[2.0], [1.0]], [[3.0], [1.0]]]))
        network.dense_weight.copy_(torch.tensor([[1.0, -1.0]]))
    score = network(torch.tensor([[[2.0], [-3.0]]], dtype=torch.float64))
    assert score.item() == pytest.approx(-30.0, rel=1e-14)


def test_network_accepts_images_in_morton_order():
    generator = torch.Generator().manual_seed(0)
    network = DeepConvAC(4, 4, 2, 2, patch_size=2, generator=generator).double()
    images = torch.randn(3, 1, 4, 4, generator=generator, dtype=torch.float64)
    expected = network(image_patches(images, 2))
    np.testing.assert_allclose(network(images).detach(), expected.detach(), rtol=1e-12)


def test_image_patches_morton_order():
    # A 4x4 image of 1x1 patches numbered in raster order. Z-order visits the 2x2 blocks
    # top-left, top-right, bottom-left, bottom-right, each again in Z-order.
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    order = image_patches(image, 1)[0, :, 0].long().tolist()
    assert order == [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15]
    assert image_patches(image, 1, order="raster")[0, :, 0].long().tolist() == list(range(16))


# ---------------------------------------------------------------- conversion to and from models


def stand_in_cp(num_patches=4, components=3, functions=2, classes=2, shared=False, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(num_patches, components, functions))
    if shared:
        vectors[:] = vectors[0]
    weights = rng.normal(size=(classes, components))
    return types.SimpleNamespace(weights=weights, vectors=vectors, shared=shared)


def stand_in_ht(num_patches=8, ranks=(2, 3, 2), functions=2, classes=2, shared=False, seed=0):
    rng = np.random.default_rng(seed)
    leaves = rng.normal(size=(num_patches, ranks[0], functions))
    inner = []
    for level in range(1, len(ranks)):
        weight = rng.normal(size=(num_patches >> level, ranks[level], ranks[level - 1]))
        if shared:
            weight[:] = weight[0]
        inner.append(weight)
    if shared:
        leaves[:] = leaves[0]
    top = rng.normal(size=(classes, ranks[-1]))
    return types.SimpleNamespace(leaves=leaves, inner=tuple(inner), top=top, shared=shared)


@pytest.mark.parametrize("shared", [False, True])
def test_from_cp_model_scores_equal_contraction(shared):
    model = stand_in_cp(shared=shared)
    network = ShallowConvAC.from_cp_model(model, PATCH_DIM, dtype=torch.float64)
    patches = random_patches64(4, 4, seed=3)

    scores = network(torch.from_numpy(patches)).detach().numpy()
    expected = reference_scores(network, lambda y: cp_tensor(model.weights, model.vectors, y), patches)

    np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=1e-13)
    assert network.shared is shared


@pytest.mark.parametrize("shared", [False, True])
def test_from_ht_model_scores_equal_contraction(shared):
    model = stand_in_ht(shared=shared)
    network = DeepConvAC.from_ht_model(model, PATCH_DIM, representation="neuron", dtype=torch.float64)
    patches = random_patches64(3, 8, seed=4)

    scores = network(torch.from_numpy(patches)).detach().numpy()
    expected = reference_scores(
        network, lambda y: ht_tensor(model.leaves, list(model.inner), model.top, y), patches
    )

    np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=1e-13)


def test_from_ht_model_two_patches():
    model = stand_in_ht(num_patches=2, ranks=(3,))
    network = DeepConvAC.from_ht_model(model, PATCH_DIM, dtype=torch.float64)
    assert len(network.inner_weights) == 0
    assert network.ranks == (3,)


def test_from_cp_model_rejects_unequal_shared_vectors():
    model = stand_in_cp(shared=False)
    model.shared = True
    with pytest.raises(ValueError, match="shared"):
        ShallowConvAC.from_cp_model(model, PATCH_DIM)


def test_from_ht_model_rejects_unequal_shared_leaves():
    model = stand_in_ht(shared=False)
    model.shared = True
    with pytest.raises(ValueError, match="shared"):
        DeepConvAC.from_ht_model(model, PATCH_DIM)


@pytest.mark.parametrize("shared", [False, True])
def test_cp_model_round_trip(shared):
    model = stand_in_cp(shared=shared)
    converted = ShallowConvAC.from_cp_model(model, PATCH_DIM, dtype=torch.float64).to_cp_model()

    assert isinstance(converted, CPModel)
    np.testing.assert_array_equal(converted.weights, model.weights)
    np.testing.assert_array_equal(converted.vectors, model.vectors)
    assert converted.shared is shared
    np.testing.assert_allclose(converted.tensor(1), cp_tensor(model.weights, model.vectors, 1), rtol=1e-12)


@pytest.mark.parametrize("shared", [False, True])
def test_ht_model_round_trip(shared):
    model = stand_in_ht(shared=shared)
    converted = DeepConvAC.from_ht_model(model, PATCH_DIM, dtype=torch.float64).to_ht_model()

    assert isinstance(converted, HTModel)
    np.testing.assert_array_equal(converted.leaves, model.leaves)
    assert len(converted.inner) == len(model.inner)
    for got, expected in zip(converted.inner, model.inner):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(converted.top, model.top)
    np.testing.assert_allclose(
        converted.tensor(0), ht_tensor(model.leaves, list(model.inner), model.top, 0), rtol=1e-12
    )


@pytest.mark.parametrize("kind", ["shallow", "deep"])
def test_coefficient_tensor_equals_reference(kind):
    generator = torch.Generator().manual_seed(9)
    if kind == "shallow":
        network = ShallowConvAC(4, PATCH_DIM, 3, 2, num_classes=2, generator=generator)
        reference = shallow_tensor(network)
    else:
        network = DeepConvAC(4, PATCH_DIM, 3, (2, 3), num_classes=2, generator=generator)
        reference = deep_tensor(network)
    np.testing.assert_allclose(network.coefficient_tensor(1), reference(1), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shared", [False, True])
def test_random_models_convert_and_score(shared):
    cp_model = random_cp_model(4, 3, 2, Y=2, shared=shared, seed=1)
    ht_model = random_ht_model(4, 3, (2, 2), Y=2, shared=shared, seed=1)
    shallow = ShallowConvAC.from_cp_model(cp_model, PATCH_DIM, dtype=torch.float64)
    deep = DeepConvAC.from_ht_model(ht_model, PATCH_DIM, dtype=torch.float64)
    patches = random_patches64(3, 4, seed=5)

    np.testing.assert_allclose(
        shallow(torch.from_numpy(patches)).detach().numpy(),
        reference_scores(shallow, lambda y: cp_tensor(cp_model.weights, cp_model.vectors, y), patches),
        rtol=1e-10, atol=1e-13,
    )
    np.testing.assert_allclose(
        deep(torch.from_numpy(patches)).detach().numpy(),
        reference_scores(deep, lambda y: ht_tensor(ht_model.leaves, list(ht_model.inner), ht_model.top, y), patches),
        rtol=1e-10, atol=1e-13,
    )


# ---------------------------------------------------------------- log-space arithmetic


def signed_values(shape, seed, zeros=True):
    values = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if zeros:
        values[0, 0] = 0.0
    return values


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_signed_log_product_matches_direct_product(dtype):
    values = signed_values((4, 6), seed=0).to(dtype)
    log_abs, sign = signed_log(values)
    product = signed_log_to_value(*signed_log_product(log_abs, sign, dim=1))
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(product, values.prod(dim=1), rtol=tolerance, atol=0.0)
    assert product[0].item() == 0.0


def test_signed_log_pair_product_matches_direct_product():
    values = signed_values((3, 8, 2), seed=1)
    product = signed_log_to_value(*signed_log_pair_product(*signed_log(values)))
    expected = values[:, 0::2] * values[:, 1::2]
    torch.testing.assert_close(product, expected, rtol=1e-12, atol=0.0)


def test_signed_log_pair_product_rejects_odd_positions():
    with pytest.raises(ValueError, match="even number of positions"):
        signed_log_pair_product(*signed_log(torch.ones(1, 3, 2)))


@pytest.mark.parametrize("location_dependent", [False, True])
def test_signed_log_linear_matches_matrix_product(location_dependent):
    values = signed_values((3, 4, 5), seed=2)
    generator = torch.Generator().manual_seed(3)
    shape = (4, 2, 5) if location_dependent else (2, 5)
    weight = torch.randn(*shape, generator=generator, dtype=torch.float64)
    result = signed_log_to_value(*signed_log_linear(*signed_log(values), weight))
    if location_dependent:
        expected = torch.stack([values[:, j] @ weight[j].T for j in range(4)], dim=1)
    else:
        expected = values @ weight.T
    torch.testing.assert_close(result, expected, rtol=1e-12, atol=1e-15)


def test_signed_log_linear_handles_all_zero_input():
    log_abs, sign = signed_log(torch.zeros(2, 3, dtype=torch.float64))
    result = signed_log_to_value(*signed_log_linear(log_abs, sign, torch.ones(4, 3, dtype=torch.float64)))
    assert torch.equal(result, torch.zeros(2, 4, dtype=torch.float64))


def float64_direct_scores(network, patches: torch.Tensor) -> np.ndarray:
    """Scores of ``network`` by plain float64 products (no logarithms), for large N."""
    features = reference_representation(network, patches.double().numpy())
    if isinstance(network, ShallowConvAC):
        vectors = per_position(network.conv_weight, network.N, network.shared)
        channels = np.einsum("bim,izm->biz", features, vectors)
        return channels.prod(axis=1) @ network.dense_weight.detach().double().numpy().T
    channels = np.einsum("bim,iam->bia", features, per_position(network.leaf_weight, network.N, network.shared))
    for level, weight in enumerate(network.inner_weights, start=1):
        pooled = channels[:, 0::2] * channels[:, 1::2]
        channels = np.einsum("bja,jga->bjg", pooled, per_position(weight, network.N >> level, network.shared))
    pooled = channels[:, 0] * channels[:, 1]
    return pooled @ network.top_weight.detach().double().numpy().T


def sixty_four_patch_network(kind: str, factor_scale: float, shared: bool) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(5)
    if kind == "shallow":
        network = ShallowConvAC(64, PATCH_DIM, 4, 3, shared=shared, representation="neuron", generator=generator)
        weights = [network.conv_weight]
    else:
        network = DeepConvAC(64, PATCH_DIM, 4, 2, shared=shared, representation="neuron", generator=generator)
        weights = [network.leaf_weight]
    with torch.no_grad():
        for weight in weights:
            weight.mul_(factor_scale)
    return network


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("factor_scale", [1e-2, 1e2])
@pytest.mark.parametrize("kind", ["shallow", "deep"])
def test_sixty_four_patches_float32_matches_float64(kind, factor_scale, shared):
    network = sixty_four_patch_network(kind, factor_scale, shared)
    patches = torch.randn(6, 64, PATCH_DIM, generator=torch.Generator().manual_seed(6))

    log_abs, sign = network.log_scores(patches)
    expected = float64_direct_scores(network, patches)

    # The magnitudes leave float32's range, so a direct float32 evaluation would give 0 or inf.
    assert np.all((np.abs(expected) < 1e-45) | (np.abs(expected) > 3.4e38))
    assert torch.isfinite(log_abs).all()
    np.testing.assert_array_equal(sign.numpy(), np.sign(expected))
    np.testing.assert_allclose(log_abs.detach().numpy(), np.log(np.abs(expected)), rtol=0, atol=2e-3)


@pytest.mark.parametrize("representation", ["gaussian", "neuron"])
@pytest.mark.parametrize("kind", ["shallow", "deep"])
def test_sixty_four_patches_gradients_finite(kind, representation):
    generator = torch.Generator().manual_seed(7)
    if kind == "shallow":
        network = ShallowConvAC(64, PATCH_DIM, 4, 3, representation=representation, generator=generator)
    else:
        network = DeepConvAC(64, PATCH_DIM, 4, 2, representation=representation, generator=generator)
    patches = 4.0 * torch.randn(8, 64, PATCH_DIM, generator=generator)  # far from the RBF means

    log_abs, _ = network.log_scores(patches)
    log_abs.sum().backward()

    assert torch.isfinite(log_abs).all()
    for name, parameter in network.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_rescale_gives_unit_root_mean_square_scores():
    generator = torch.Generator().manual_seed(8)
    network = DeepConvAC(16, PATCH_DIM, 4, 3, generator=generator).double()
    patches = torch.randn(512, 16, PATCH_DIM, generator=generator, dtype=torch.float64)
    network.rescale_(patches)
    scores = network(patches)
    assert scores.square().mean().sqrt().item() == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("kind", ["shallow", "deep"])
def test_rebalance_keeps_function_and_unit_hidden_scale(kind):
    generator = torch.Generator().manual_seed(10)
    if kind == "shallow":
        network = ShallowConvAC(8, PATCH_DIM, 4, 3, generator=generator).double()
        hidden = network.conv_weight
    else:
        network = DeepConvAC(8, PATCH_DIM, 4, 2, generator=generator).double()
        hidden = network.leaf_weight
    with torch.no_grad():
        hidden.mul_(1e-3)  # hidden values far below unit scale, as after a collapse
    patches = torch.randn(256, 8, PATCH_DIM, generator=generator, dtype=torch.float64)
    scores_before = network(patches)

    network.rebalance_(patches)

    torch.testing.assert_close(network(patches), scores_before, rtol=1e-9, atol=0.0)
    first_layer = signed_log_linear(*network.representation.signed_log(patches), hidden)[0]
    assert torch.exp(2 * first_layer).mean().sqrt().item() == pytest.approx(1.0, rel=1e-9)


# ---------------------------------------------------------------- coefficient counts


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("num_patches, functions, components, classes", [(4, 3, 2, 1), (8, 5, 7, 3), (1, 2, 1, 1)])
def test_shallow_coefficient_count(num_patches, functions, components, classes, shared):
    network = ShallowConvAC(num_patches, PATCH_DIM, functions, components, num_classes=classes, shared=shared)
    positions = 1 if shared else num_patches
    assert network.coefficient_count() == positions * functions * components + classes * components


@pytest.mark.parametrize("num_patches, ranks, classes", [(2, (3,), 2), (4, (2, 5), 1), (16, (3, 2, 4, 2), 3)])
def test_deep_coefficient_count(num_patches, ranks, classes):
    functions = 3
    network = DeepConvAC(num_patches, PATCH_DIM, functions, ranks, num_classes=classes)
    # M * r_0 * N + sum_{l=1}^{L-1} r_{l-1} * (N / 2^l) * r_l + r_{L-1} * Y
    expected = functions * ranks[0] * num_patches
    expected += sum(ranks[l - 1] * (num_patches >> l) * ranks[l] for l in range(1, len(ranks)))
    expected += ranks[-1] * classes
    assert network.coefficient_count() == expected


@pytest.mark.parametrize("levels", [1, 2, 3, 5])
def test_deep_coefficient_count_uniform_rank_closed_form(levels):
    # With r_l = r: M r N + N r^2 (2^{L-1} - 1) / 2^{L-1} + r Y.
    num_patches, functions, rank, classes = 2**levels, 4, 3, 2
    network = DeepConvAC(num_patches, PATCH_DIM, functions, rank, num_classes=classes)
    inner = num_patches * rank**2 * (2 ** (levels - 1) - 1) / 2 ** (levels - 1)
    assert network.coefficient_count() == functions * rank * num_patches + inner + rank * classes


@pytest.mark.parametrize("ranks", [(2,), (2, 3, 2)])
def test_deep_shared_coefficient_count(ranks):
    network = DeepConvAC(2 ** len(ranks), PATCH_DIM, 4, ranks, num_classes=2, shared=True)
    expected = 4 * ranks[0] + sum(ranks[l - 1] * ranks[l] for l in range(1, len(ranks))) + ranks[-1] * 2
    assert network.coefficient_count() == expected


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("num_patches, functions, components, classes", [(4, 3, 2, 1), (8, 5, 7, 3)])
def test_shallow_count_equals_cp_parameter_count(num_patches, functions, components, classes, shared):
    network = ShallowConvAC(num_patches, PATCH_DIM, functions, components, num_classes=classes, shared=shared)
    expected = cp_parameter_count(num_patches, functions, components, classes, shared=shared)
    assert network.coefficient_count() == expected
    assert network.to_cp_model().parameter_count() == expected


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("num_patches, ranks, classes", [(2, (3,), 2), (8, (2, 3, 4), 1), (16, (3, 2, 4, 2), 3)])
def test_deep_count_equals_ht_parameter_count(num_patches, ranks, classes, shared):
    network = DeepConvAC(num_patches, PATCH_DIM, 3, ranks, num_classes=classes, shared=shared)
    expected = ht_parameter_count(num_patches, 3, ranks, classes, shared=shared)
    assert network.coefficient_count() == expected
    assert network.to_ht_model().parameter_count() == expected


# ---------------------------------------------------------------- input validation


def test_deep_rejects_non_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        DeepConvAC(6, PATCH_DIM, 2, 2)


def test_deep_rejects_wrong_number_of_ranks():
    with pytest.raises(ValueError, match="L=3"):
        DeepConvAC(8, PATCH_DIM, 2, (2, 2))


def test_network_rejects_wrong_patch_shape():
    network = ShallowConvAC(4, PATCH_DIM, 2, 2)
    with pytest.raises(ValueError, match=r"\(B, 4, 3\)"):
        network(torch.zeros(2, 5, PATCH_DIM))


def test_network_rejects_images_without_patch_size():
    network = ShallowConvAC(4, PATCH_DIM, 2, 2)
    with pytest.raises(ValueError, match="patch_size"):
        network(torch.zeros(2, 1, 4, 4))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_network_rejects_bad_components(bad):
    with pytest.raises(ValueError, match="components"):
        ShallowConvAC(4, PATCH_DIM, 2, bad)


def test_unknown_representation_is_rejected():
    with pytest.raises(ValueError, match="representation='rbf'"):
        ShallowConvAC(4, PATCH_DIM, 2, 2, representation="rbf")


# ---------------------------------------------------------------- depth-efficiency experiment


def test_dense_teacher_tensor_equals_ht_contraction():
    teacher = make_teacher(4, 3, 2, patch_dim=2, seed=1)
    dense = _dense_ht_tensor(teacher, np.eye(3))
    np.testing.assert_allclose(dense, deep_tensor(teacher)(0), rtol=1e-5, atol=1e-6)


def test_eckart_young_floor_vanishes_at_rank_bound():
    # N = 4, r = 2: the matricization has rank r^{N/2} = 4 almost surely, so the floor is
    # positive below four components and zero from four on.
    teacher = make_teacher(4, 4, 2, patch_dim=2, seed=0)
    floor = eckart_young_floor(teacher, [1, 2, 3, 4, 5], gram_samples=4096)["floor"].to_numpy()
    assert np.all(floor[:3] > 1e-4)
    assert np.all(floor[3:] == 0.0)
    assert np.all(np.diff(floor) <= 1e-12)


def test_run_depth_efficiency_is_reproducible():
    arguments = dict(num_patches=4, num_functions=2, rank=2, components=(1, 4), num_train=128,
                     num_test=64, epochs=2, batch_size=64, gram_samples=1024, progress=False)
    first = run_depth_efficiency(**arguments)
    second = run_depth_efficiency(**arguments)

    pd.testing.assert_frame_equal(first, second)
    assert list(first["architecture"]) == ["shallow", "shallow", "deep"]
    assert first["cp_rank_bound"].unique().tolist() == [4]
    assert first["coefficients"].tolist() == [4 * 2 * 1 + 1, 4 * 2 * 4 + 4, 2 * 2 * 4 + 2 * 2 * 2 + 2]
    assert np.isfinite(first["test_error"]).all()


def test_run_depth_efficiency_restarts_and_deep_ranks():
    results = run_depth_efficiency(num_patches=2, num_functions=2, rank=2, components=(2,), num_train=64,
                                   num_test=32, epochs=5, batch_size=32, restarts=2, deep_ranks=(1, 2),
                                   gram_samples=256, progress=False)
    assert list(results["architecture"]) == ["shallow", "deep", "deep"]
    assert results["components"].tolist() == [2, 1, 2]
    assert np.isfinite(results["test_error"]).all()
    # N = 2: rank[A] <= r^{N/2} = 2, so two components already have a floor of 0. The deep
    # student of rank 1 is narrower than the teacher, so it has no known floor.
    assert results["floor"].iloc[0] == 0.0
    assert np.isnan(results["floor"].iloc[1])
    assert results["floor"].iloc[2] == 0.0
    text = describe_depth_efficiency(results)
    assert "Deep student r=1" in text
    assert "Deep student r=2" in text


def test_train_regression_rebalance_reduces_loss():
    generator = torch.Generator().manual_seed(11)
    teacher = make_teacher(2, 2, 1, patch_dim=2, seed=3)
    inputs = torch.randn(256, 2, 2, generator=generator)
    targets = teacher(inputs).detach()
    student = DeepConvAC(2, 2, 2, 1, representation=teacher.representation, generator=generator)
    history = train_regression(student, inputs, targets, epochs=30, batch_size=64, lr=3e-2,
                               device="cpu", generator=generator, progress=False, rebalance_samples=128)
    assert history["loss"].iloc[-1] < 0.1 * history["loss"].iloc[0]


# ---------------------------------------------------------------- report of a run


def hand_made_results() -> pd.DataFrame:
    # Two seeds, bound r^{N/2} = 4; the shallow Z = 4 student is the first to reach the deep
    # student's mean error of 0.02 (its mean is (0.01 + 0.03) / 2 = 0.02).
    rows = []
    for seed, errors in ((0, (0.5, 0.1, 0.01, 0.01)), (1, (0.7, 0.3, 0.03, 0.03))):
        for (architecture, z, coefficients, floor), error in zip(
            (("shallow", 1, 17, 0.4), ("shallow", 2, 34, 0.05), ("shallow", 4, 68, 0.0), ("deep", 2, 42, 0.0)),
            errors,
        ):
            rows.append({"seed": seed, "architecture": architecture, "components": z,
                         "coefficients": coefficients, "test_error": error, "floor": floor,
                         "cp_rank_bound": 4})
    return pd.DataFrame(rows)


def test_summarize_depth_efficiency_aggregates_seeds():
    summary = summarize_depth_efficiency(hand_made_results()).set_index(["architecture", "components"])
    assert summary.loc[("shallow", 1), "test_error_mean"] == pytest.approx(0.6)
    assert summary.loc[("shallow", 1), "test_error_min"] == pytest.approx(0.5)
    assert summary.loc[("shallow", 1), "test_error_max"] == pytest.approx(0.7)
    assert summary.loc[("deep", 2), "coefficients"] == 42
    assert (summary["seeds"] == 2).all()
    assert len(summary) == 4


def test_describe_depth_efficiency_names_matching_student():
    text = describe_depth_efficiency(hand_made_results())
    assert "Z=4 and 68 coefficients" in text
    assert "1.6 times" in text  # 68 / 42
    assert "1.50 to 4.00 times the floor" in text  # 0.6 / 0.4 and 0.2 / 0.05


def test_plot_depth_efficiency_returns_drawn_data():
    fig, drawn = plot_depth_efficiency(hand_made_results(), language="es")
    assert list(drawn["architecture"]) == ["shallow", "shallow", "shallow", "deep"]
    assert fig.axes[0].get_xlabel().startswith("Coeficientes")
    plt.close(fig)


def test_report_rejects_foreign_frame():
    with pytest.raises(ValueError, match="run_depth_efficiency"):
        summarize_depth_efficiency(pd.DataFrame({"seed": [0]}))
