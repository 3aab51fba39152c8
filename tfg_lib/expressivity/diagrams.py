"""Construction diagrams of an HT model, laid out from the model's arrays.

The diagram shows every tensor the recursion builds: the leaf vectors phi^{0,j,a}, one outer
product node per (level, position, index a) joining ``phi^{l-1,2j-1,a} ⊗ phi^{l-1,2j,a}``, the
level-l tensors phi^{l,j,g} as weighted sums of those products, and the class tensors A^y on
top. Nodes and edges come from :func:`ht_diagram_layout`, so the picture always matches the
model it is given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfg_lib.expressivity.models import HTModel


def _offsets(count: int, width: float) -> np.ndarray:
    if count == 1:
        return np.zeros(1)
    return np.linspace(-width / 2, width / 2, count)


def ht_diagram_layout(model: HTModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """List the nodes and edges of an HT model's construction, with drawing coordinates.

    Returns
    -------
    nodes : DataFrame
        Columns ``node`` (id), ``kind`` ("vector", "product" or "class"), ``level``,
        ``position`` (j, from 1), ``index`` (a, g or y, from 1), ``label`` (mathtext), ``x``,
        ``y``. There are ``N r_0`` leaf vectors, ``N/2^l r_{l-1}`` products and
        ``N/2^l r_l`` vectors at level l < L, ``r_{L-1}`` products and Y class tensors on top.
    edges : DataFrame
        Columns ``source``, ``target``, ``weight`` (the coefficient a^{l,j,g}_a, NaN for the
        two unweighted edges into each product), ``label``, ``index`` (the summation index a)
        and ``count`` (how many values a takes there).
    """
    if not isinstance(model, HTModel):
        raise TypeError(f"model must be an HTModel, got {type(model).__name__}.")
    N, L, ranks = model.N, model.L, model.ranks
    nodes: list[dict] = []
    edges: list[dict] = []

    def add_node(kind, level, position, index, label, x, height):
        node = f"{kind}-{level}-{position}-{index}"
        nodes.append({"node": node, "kind": kind, "level": level, "position": position,
                      "index": index, "label": label, "x": x, "y": height})
        return node

    slot = ranks[0] + 0.5  # horizontal room per leaf position, so leaf circles never overlap

    def centre(level: int, position: int) -> float:
        span = 2**level
        return ((position - 1) * span + (span - 1) / 2) * slot

    vectors = {}
    for j in range(1, N + 1):
        for a, dx in enumerate(_offsets(ranks[0], 0.6 * slot), start=1):
            vectors[(0, j, a)] = add_node("vector", 0, j, a, rf"$\phi^{{0,{j},{a}}}$",
                                          centre(0, j) + dx, 0.0)

    for level in range(1, L + 1):
        r_below = ranks[level - 1]
        positions = N >> level
        width = 0.6 * 2**level * slot
        weights = model.inner[level - 1] if level < L else None
        for j in range(1, positions + 1):
            products = {}
            for a, dx in enumerate(_offsets(r_below, width * 0.6), start=1):
                product = add_node("product", level, j, a, r"$\otimes$", centre(level, j) + dx,
                                   2.0 * level - 1.0)
                products[a] = product
                for child in (2 * j - 1, 2 * j):
                    edges.append({"source": vectors[(level - 1, child, a)], "target": product,
                                  "weight": np.nan, "label": "", "index": a, "count": r_below})
            if level < L:
                outputs = range(1, ranks[level] + 1)
                coefficients = lambda g, a: weights[j - 1, g - 1, a - 1]  # noqa: E731
                kind, symbol = "vector", lambda g: rf"$\phi^{{{level},{j},{g}}}$"  # noqa: E731
            else:
                outputs = range(1, model.Y + 1)
                coefficients = lambda g, a: model.top[g - 1, a - 1]  # noqa: E731
                kind, symbol = "class", lambda g: rf"$\mathcal{{A}}^{{{g}}}$"  # noqa: E731
            output_offsets = _offsets(len(outputs), width * 0.6)
            for g, dx in zip(outputs, output_offsets):
                target = add_node(kind, level, j, g, symbol(g), centre(level, j) + dx, 2.0 * level)
                vectors[(level, j, g)] = target
                for a, product in products.items():
                    value = float(coefficients(g, a))
                    edges.append({"source": product, "target": target, "weight": value,
                                  "label": f"{value:.2g}", "index": a, "count": len(products)})
    return pd.DataFrame(nodes), pd.DataFrame(edges)


def draw_ht_diagram(model: HTModel, ax=None, language: str = "en", edge_labels: bool = True):
    """Draw the construction diagram of ``model`` on ``ax`` and return the axes.

    Vectors are circles, outer products are ⊗ markers, class tensors are squares; weighted edges
    carry the coefficient a^{l,j,g}_a (or a^{L,y}_a) as a label when ``edge_labels`` is True.
    """
    import matplotlib.pyplot as plt

    from tfg_lib.figures import PALETTE, tr

    nodes, edges = ht_diagram_layout(model)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.9 * model.N * (model.ranks[0] + 0.5) + 2, 1.6 * model.L + 2))
    where = nodes.set_index("node")[["x", "y"]]
    for edge in edges.itertuples():
        start, end = where.loc[edge.source], where.loc[edge.target]
        weighted = not np.isnan(edge.weight)
        ax.plot([start.x, end.x], [start.y, end.y], color=PALETTE[0] if weighted else "0.6",
                linewidth=1.0 if weighted else 0.8, zorder=1)
        if edge_labels and weighted:
            # Spread the labels of one node's incoming edges along their length so crossing
            # edges do not print their labels on top of each other.
            t = 0.3 + 0.4 * (edge.index - 1) / max(edge.count - 1, 1)
            ax.text(start.x + t * (end.x - start.x), start.y + t * (end.y - start.y), edge.label,
                    fontsize=7, ha="center", va="center", color=PALETTE[1],
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
    styles = {"vector": ("o", "white"), "product": ("o", "0.9"), "class": ("s", "white")}
    for kind, (marker, colour) in styles.items():
        part = nodes[nodes["kind"] == kind]
        ax.scatter(part["x"], part["y"], s=720 if kind != "product" else 260, marker=marker,
                   facecolor=colour, edgecolor="black", zorder=2)
        for node in part.itertuples():
            ax.text(node.x, node.y, node.label, ha="center", va="center",
                    fontsize=8 if kind != "product" else 10, zorder=3)
    ax.set_yticks([2.0 * level for level in range(model.L + 1)])
    ax.set_yticklabels([tr(language, f"level {level}", f"nivel {level}") for level in range(model.L + 1)])
    ax.set_xticks([])
    ax.grid(False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xlim(nodes["x"].min() - 0.8, nodes["x"].max() + 0.8)
    ax.set_ylim(-0.7, 2.0 * model.L + 0.7)
    ranks = ", ".join(str(rank) for rank in model.ranks)
    ax.set_title(tr(language, f"HT construction, N={model.N}, L={model.L}, ranks ({ranks})",
                    f"Construcción HT, N={model.N}, L={model.L}, rangos ({ranks})"))
    return ax
