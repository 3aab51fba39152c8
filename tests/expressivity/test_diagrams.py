"""HT construction diagrams: node and edge counts and weights come from the model."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from tfg_lib.expressivity import draw_ht_diagram, ht_diagram_layout, random_cp_model, random_ht_model


@pytest.mark.parametrize("N, ranks, Y", [(2, (2,), 1), (4, (1, 1), 1), (4, (2, 2), 1), (8, (2, 3, 1), 2)])
def test_layout_counts(N, ranks, Y):
    model = random_ht_model(N, 3, ranks, Y=Y, seed=301)
    nodes, edges = ht_diagram_layout(model)
    L = len(ranks)
    counts = nodes.groupby("kind").size().to_dict()
    expected_vectors = N * ranks[0] + sum((N >> level) * ranks[level] for level in range(1, L))
    expected_products = sum((N >> level) * ranks[level - 1] for level in range(1, L + 1))
    assert counts["vector"] == expected_vectors
    assert counts["product"] == expected_products
    assert counts["class"] == Y
    weighted = edges[edges["weight"].notna()]
    expected_weighted = sum((N >> level) * ranks[level - 1] * ranks[level] for level in range(1, L)) + ranks[-1] * Y
    assert len(weighted) == expected_weighted
    assert len(edges) - len(weighted) == 2 * expected_products
    assert nodes["node"].is_unique


def test_layout_weights_are_model_coefficients():
    model = random_ht_model(4, 3, (2, 2), Y=1, seed=302)
    nodes, edges = ht_diagram_layout(model)
    by_id = nodes.set_index("node")
    for edge in edges[edges["weight"].notna()].itertuples():
        source, target = by_id.loc[edge.source], by_id.loc[edge.target]
        a, g, j = source["index"], target["index"], target["position"]
        if target["kind"] == "class":
            assert edge.weight == model.top[g - 1, a - 1]
        else:
            assert edge.weight == model.inner[0][j - 1, g - 1, a - 1]


def test_draw_labels_follow_language():
    model = random_ht_model(4, 3, (1, 1), seed=303)
    ax = draw_ht_diagram(model, language="es")
    assert "Construcción" in ax.get_title()
    assert ax.get_yticklabels()[0].get_text() == "nivel 0"
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="language"):
        draw_ht_diagram(model, language="fr")
    with pytest.raises(TypeError, match="HTModel"):
        ht_diagram_layout(random_cp_model(4, 3, 2))
    assert np.isfinite(ht_diagram_layout(model)[0][["x", "y"]].to_numpy()).all()
