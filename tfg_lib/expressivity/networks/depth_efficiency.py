"""The depth-efficiency experiment on functions: shallow and deep students fit a deep teacher.

A random :class:`DeepConvAC` teacher with ranks r computes h(x) = <A, f(x_1) (x) ... (x) f(x_N)>.
Its coefficient tensor A has CP rank at least min(r_0, M)^{N/2} almost everywhere (theorem 1 of
the thesis, after Cohen, Sharir and Shashua 2016, arXiv 1509.05009), so a shallow student with
fewer components Z cannot reproduce h. Students here share the teacher's representation layer
(frozen by default), so what they learn is exactly a coefficient tensor and the theorem applies
to them as stated.

The students are trained by regression (mean squared error, Adam) on the teacher's scores at
random inputs x_i ~ N(0, I_s), and scored by the relative L2 error on held-out inputs.

For a frozen representation the experiment also has a certified floor. The patches are i.i.d.,
so E[(h_A - h_B)^2] = ||(A - B) x_1 G^{1/2} ... x_N G^{1/2}||_F^2 with the Gram matrix
G = E[f(x) f(x)^T]. Multiplying every mode by G^{1/2} keeps the CP rank of B at most Z, so by
Eckart-Young on the matricization the relative population L2 error of any Z-component shallow
student is at least sqrt(sum_{i>Z} sigma_i^2 / sum_i sigma_i^2), sigma_i the singular values of
the matricization of A x_i G^{1/2} (odd modes index rows, even modes columns).
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .convac import DeepConvAC, ShallowConvAC
from .representation import _check_positive_int

logger = logging.getLogger(__name__)

__all__ = [
    "resolve_device",
    "random_patches",
    "make_teacher",
    "train_regression",
    "relative_l2_error",
    "eckart_young_floor",
    "run_depth_efficiency",
]

# Largest dense coefficient tensor (entries, M^N) for which the Eckart-Young floor is computed.
MAX_DENSE_ENTRIES = 2**24


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return ``torch.device(device)``; ``"auto"`` picks CUDA when available, else the CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device={device!r} is invalid; use 'auto', 'cpu', 'cuda' or 'cuda:0'.") from error


def random_patches(
    num_samples: int, num_patches: int, patch_dim: int, generator: torch.Generator
) -> torch.Tensor:
    """Draw ``(num_samples, N, s)`` float32 patches with i.i.d. standard normal entries."""
    _check_positive_int("num_samples", num_samples)
    return torch.randn(num_samples, num_patches, patch_dim, generator=generator)


def make_teacher(
    num_patches: int,
    num_functions: int,
    ranks: int | Sequence[int],
    patch_dim: int = 2,
    shared: bool = False,
    representation: str = "gaussian",
    seed: int = 0,
    calibration_samples: int = 4096,
) -> DeepConvAC:
    """Build a random deep teacher whose every layer has unit root mean square output.

    The weights are drawn from normal distributions, a continuous distribution as theorem 1
    requires. They are then rescaled layer by layer on ``calibration_samples`` random inputs so
    that the teacher's scores have unit root mean square, which changes no rank. Gradients are
    switched off for all teacher parameters.
    """
    generator = torch.Generator().manual_seed(seed)
    teacher = DeepConvAC(
        num_patches, patch_dim, num_functions, ranks, shared=shared,
        representation=representation, generator=generator,
    )
    teacher.rescale_(random_patches(calibration_samples, num_patches, patch_dim, generator))
    teacher.requires_grad_(False)
    return teacher


@torch.no_grad()
def _predict(model: nn.Module, inputs: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
    model.eval()
    outputs = [model(inputs[start:start + batch_size].to(device)) for start in range(0, len(inputs), batch_size)]
    return torch.cat(outputs).cpu()


def relative_l2_error(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    device: str | torch.device = "cpu",
    batch_size: int = 4096,
) -> float:
    """Return ||model(inputs) - targets|| / ||targets||, the norms taken over every entry."""
    predictions = _predict(model, inputs, resolve_device(device), batch_size).double()
    targets = targets.double().reshape(predictions.shape)
    return float(torch.linalg.vector_norm(predictions - targets) / torch.linalg.vector_norm(targets))


def train_regression(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str | torch.device,
    generator: torch.Generator,
    progress: bool = True,
    description: str = "training",
    rebalance_samples: int = 0,
) -> pd.DataFrame:
    """Fit ``model`` to ``targets`` by mean squared error with Adam and a cosine schedule.

    Parameters
    ----------
    model : nn.Module
        Trained in place on ``device``; parameters with ``requires_grad=False`` stay fixed.
    inputs, targets : Tensor, shapes (n, ...) and (n, Y)
        Training data, kept on the CPU and moved to ``device`` one minibatch at a time.
    epochs, batch_size : int
        Passes over the data and minibatch size.
    lr : float
        Initial Adam learning rate, decayed to 0 along a cosine over all steps.
    device : str or torch.device
        Where to train; ``"auto"`` picks CUDA when available.
    generator : torch.Generator
        CPU generator that shuffles the minibatches.
    progress : bool
        Show a tqdm progress bar over the epochs.
    description : str
        Label of the progress bar and of log messages.
    rebalance_samples : int
        When positive, a model with a ``rebalance_`` method (both ConvACs) is rebalanced on the
        first ``rebalance_samples`` inputs at the start of every epoch. This keeps its hidden
        values at unit scale without changing the function it computes.

        NOTE: off by default. In a trial with N = 8 deep students (float32, Adam) it revived
        students whose output had collapsed, but it slowed the fit of the others.

    Returns
    -------
    DataFrame
        One row per epoch: ``epoch``, ``loss`` (mean training loss of the epoch).
    """
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    if not lr > 0:
        raise ValueError(f"lr={lr!r} is invalid; pass a positive learning rate such as 1e-2.")
    if len(inputs) != len(targets):
        raise ValueError(f"inputs has {len(inputs)} rows but targets has {len(targets)}; pass one target per input.")
    device = resolve_device(device)
    model.to(device)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    steps = epochs * math.ceil(len(inputs) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)

    history = []
    rebalance = getattr(model, "rebalance_", None) if rebalance_samples > 0 else None
    for epoch in tqdm(range(epochs), desc=description, disable=not progress, leave=False):
        if rebalance is not None:
            rebalance(inputs[:rebalance_samples].to(device))
        model.train()
        order = torch.randperm(len(inputs), generator=generator)
        total, seen = 0.0, 0
        for start in range(0, len(inputs), batch_size):
            batch = order[start:start + batch_size]
            batch_inputs, batch_targets = inputs[batch].to(device), targets[batch].to(device)
            loss = nn.functional.mse_loss(model(batch_inputs), batch_targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(batch)
            seen += len(batch)
        history.append({"epoch": epoch, "loss": total / seen})
        if not math.isfinite(total):
            logger.warning("%s: training loss became %s at epoch %d; stopping early", description, total, epoch)
            break
    return pd.DataFrame(history)


def _dense_ht_tensor(teacher: DeepConvAC, leaf_transform: np.ndarray) -> np.ndarray:
    """Contract the teacher's HT weights into the dense float64 tensor A^0 x_i leaf_transform."""
    def per_position(weight: torch.Tensor, positions: int) -> np.ndarray:
        values = weight.detach().cpu().double().numpy()
        return np.broadcast_to(values, (positions, *values.shape[-2:])) if teacher.shared else values

    # nodes[j, a] is phi^{l,j,a} flattened to M^(2^l) entries.
    nodes = per_position(teacher.leaf_weight, teacher.N) @ leaf_transform.T
    for level, weight in enumerate(teacher.inner_weights, start=1):
        coefficients = per_position(weight, teacher.N >> level)
        left, right = nodes[0::2], nodes[1::2]
        pairs = np.einsum("jap,jaq->japq", left, right).reshape(*left.shape[:2], -1)
        nodes = np.einsum("jga,jap->jgp", coefficients, pairs)
    top = teacher.top_weight.detach().cpu().double().numpy()[0]
    return np.einsum("a,ap,aq->pq", top, nodes[0], nodes[1]).reshape((teacher.M,) * teacher.N)


def _matricization(tensor: np.ndarray) -> np.ndarray:
    modes = tensor.ndim
    order = list(range(0, modes, 2)) + list(range(1, modes, 2))
    rows = int(np.prod([tensor.shape[mode] for mode in order[: (modes + 1) // 2]]))
    return tensor.transpose(order).reshape(rows, -1)


def eckart_young_floor(
    teacher: DeepConvAC,
    components: Sequence[int],
    gram_samples: int = 2**17,
    generator: torch.Generator | None = None,
) -> pd.DataFrame:
    """Lower bound on the relative L2 error of any shallow student with Z components.

    Returns a DataFrame with columns ``components`` and ``floor``: the relative population L2
    error that no CP coefficient tensor with Z components reaches on the teacher's frozen
    representation and N(0, I) patches (see the module docstring). ``floor`` is NaN when the
    dense tensor would exceed ``MAX_DENSE_ENTRIES`` entries.

    NOTE: the Gram matrix G = E[f(x) f(x)^T] is a Monte Carlo estimate from ``gram_samples``
    patches, so the floor is an estimate with relative error of order gram_samples^(-1/2).
    """
    components = [_check_positive_int("components", int(z)) for z in components]
    if teacher.Y != 1:
        raise ValueError(f"the teacher has {teacher.Y} outputs; the floor is defined for one (Y=1).")
    if teacher.M**teacher.N > MAX_DENSE_ENTRIES:
        warnings.warn(
            f"M^N = {teacher.M}^{teacher.N} entries exceed {MAX_DENSE_ENTRIES}; the Eckart-Young floor "
            "is left out (NaN).", RuntimeWarning, stacklevel=2,
        )
        return pd.DataFrame({"components": components, "floor": np.nan})

    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    patches = random_patches(gram_samples, 1, teacher.patch_dim, generator)
    representation = copy.deepcopy(teacher.representation).cpu()
    with torch.no_grad():
        values = representation(patches.to(next(representation.parameters()).dtype))
    values = values[:, 0].double().numpy()
    gram = values.T @ values / gram_samples
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    gram_root = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T

    singular_values = np.linalg.svd(_matricization(_dense_ht_tensor(teacher, gram_root)), compute_uv=False)
    # Singular values below numpy's matrix_rank tolerance count as zero, so Z at or above the
    # numerical rank gets a floor of exactly 0 instead of rounding noise.
    matrix_side = max(teacher.M ** ((teacher.N + 1) // 2), teacher.M ** (teacher.N // 2))
    tolerance = singular_values[0] * matrix_side * np.finfo(np.float64).eps
    energy = np.square(np.where(singular_values > tolerance, singular_values, 0.0))
    tails = np.concatenate([np.cumsum(energy[::-1])[::-1], [0.0]])
    floors = [math.sqrt(tails[min(z, len(energy))] / tails[0]) for z in components]
    return pd.DataFrame({"components": components, "floor": floors})


def _fit_student(
    architecture: str,
    width: int,
    teacher: DeepConvAC,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    shared: bool,
    train_representation: bool,
    restarts: int,
    epochs: int,
    batch_size: int,
    lr: float,
    device: torch.device,
    generator: torch.Generator,
    progress: bool,
) -> nn.Module:
    """Train ``restarts`` random students for a fifth of ``epochs``, then the best for ``epochs``."""
    def new_student() -> nn.Module:
        representation = copy.deepcopy(teacher.representation).requires_grad_(train_representation)
        arguments = dict(shared=shared, representation=representation, generator=generator)
        network_class = ShallowConvAC if architecture == "shallow" else DeepConvAC
        student = network_class(teacher.N, teacher.patch_dim, teacher.M, width, **arguments)
        return student.rescale_(inputs[:4096])

    description = f"{architecture} {width}"
    if restarts == 1:
        best = new_student()
    else:
        candidates = []
        for restart in range(restarts):
            candidate = new_student()
            history = train_regression(
                candidate, inputs, targets, epochs=max(1, epochs // 5), batch_size=batch_size, lr=lr,
                device=device, generator=generator, progress=progress,
                description=f"{description} start {restart}",
            )
            candidates.append((history["loss"].iloc[-1], restart, candidate))
        loss, restart, best = min(candidates, key=lambda item: (np.nan_to_num(item[0], nan=np.inf), item[1]))
        logger.info("%s: kept start %d of %d (training loss %.3g)", description, restart, restarts, loss)
    train_regression(
        best, inputs, targets, epochs=epochs, batch_size=batch_size, lr=lr, device=device,
        generator=generator, progress=progress, description=description,
    )
    return best


def run_depth_efficiency(
    num_patches: int = 4,
    num_functions: int = 4,
    rank: int = 2,
    components: Sequence[int] = (1, 2, 3, 4, 6, 8),
    patch_dim: int = 2,
    shared: bool = False,
    num_train: int = 4096,
    num_test: int = 4096,
    epochs: int = 200,
    batch_size: int = 256,
    lr: float = 1e-2,
    seeds: Sequence[int] = (0,),
    train_representation: bool = False,
    restarts: int = 1,
    deep_ranks: Sequence[int] | None = None,
    gram_samples: int = 2**17,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> pd.DataFrame:
    """Fit shallow students with each Z in ``components`` and one deep student to a deep teacher.

    For every seed: a teacher from :func:`make_teacher` with all ranks equal to ``rank``,
    ``num_train`` training and ``num_test`` held-out inputs, then each student is initialised
    from the seed, rescaled on the training inputs (:meth:`~DeepConvAC.rescale_`) and trained
    with :func:`train_regression`. Students start from a copy of the teacher's representation
    layer, frozen unless ``train_representation``. ``gram_samples`` patches estimate the Gram
    matrix of the Eckart-Young floor (:func:`eckart_young_floor`).

    ``deep_ranks`` lists the uniform ranks of the deep students (default: only the teacher's
    ``rank``). A deep student with rank at least the teacher's can represent it exactly; wider
    ones have more coefficients but are often easier to train.

    With ``restarts`` > 1 each student is drawn ``restarts`` times and every draw is trained for
    a fifth of ``epochs``; the draw with the lowest training loss is then trained for ``epochs``
    more. Product networks can sit on a plateau near the zero function for a long time, and
    whether they do depends on the initial draw.

    Returns
    -------
    DataFrame
        One row per seed and student, columns: ``seed``, ``architecture`` ("shallow" or
        "deep"), ``components`` (Z; the deep student's r), ``coefficients`` (the tensor model's
        parameter count), ``train_error`` and ``test_error`` (relative L2), ``floor`` (the
        Eckart-Young floor for shallow rows; 0 for deep students with r at least the teacher's,
        which can represent it exactly; NaN when not computed), ``num_patches``, ``num_functions``, ``rank``,
        ``cp_rank_bound`` = min(r, M)^(N/2).
    """
    components = [_check_positive_int("components", int(z)) for z in components]
    _check_positive_int("restarts", restarts)
    deep_ranks = [rank] if deep_ranks is None else [_check_positive_int("deep_ranks", int(r)) for r in deep_ranks]
    if not components:
        raise ValueError("components is empty; pass the shallow students' Z values, such as [1, 2, 4, 8].")
    device = resolve_device(device)
    bound = min(rank, num_functions) ** (num_patches // 2)
    rows = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(int(seed))
        teacher = make_teacher(num_patches, num_functions, rank, patch_dim, shared=shared, seed=int(seed))
        train_inputs = random_patches(num_train, num_patches, patch_dim, generator)
        test_inputs = random_patches(num_test, num_patches, patch_dim, generator)
        train_targets = _predict(teacher, train_inputs, torch.device("cpu"), 4096)
        test_targets = _predict(teacher, test_inputs, torch.device("cpu"), 4096)
        floors = eckart_young_floor(teacher, components, gram_samples, generator=generator)
        floor_of = dict(zip(floors["components"], floors["floor"]))

        students = [("shallow", z) for z in components] + [("deep", r) for r in deep_ranks]
        for architecture, width in tqdm(students, desc=f"seed {seed}", disable=not progress):
            student = _fit_student(
                architecture, width, teacher, train_inputs, train_targets, shared=shared,
                train_representation=train_representation, restarts=restarts, epochs=epochs,
                batch_size=batch_size, lr=lr, device=device, generator=generator, progress=progress,
            )
            if architecture == "shallow":
                floor = floor_of[width]
            else:
                floor = 0.0 if width >= rank else np.nan  # a narrower deep student has no known floor
            rows.append({
                "seed": int(seed),
                "architecture": architecture,
                "components": width,
                "coefficients": student.coefficient_count(),
                "train_error": relative_l2_error(student, train_inputs, train_targets, device),
                "test_error": relative_l2_error(student, test_inputs, test_targets, device),
                "floor": floor,
                "num_patches": num_patches,
                "num_functions": num_functions,
                "rank": rank,
                "cp_rank_bound": bound,
            })
            logger.info("seed %s %s %s: test error %.3g", seed, architecture, width, rows[-1]["test_error"])
    return pd.DataFrame(rows)
