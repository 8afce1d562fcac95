"""Figures built from the library's results: reliability diagrams, the crossbar mapping picture,
shift curves over training seeds."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch

from scaledrop_lib.hardware.cim import LayerMapping, crossbar_tiles
from scaledrop_lib.layers.binary import WORD_BITS, pack_pm1, popcount_words, xnor_popcount_dot
from scaledrop_lib.metrics.calibration import expected_calibration_error, reliability_diagram_data
from scaledrop_lib.studies.sensitivity import METHOD_LABELS, shift_record
from scaledrop_lib.viz.plotting import METHOD_COLORS, fit_to_column


def reliability_diagram(
    probs_by_method: dict[str, torch.Tensor], labels: torch.Tensor, n_bins: int = 15
) -> go.Figure:
    """Accuracy against mean confidence per bin, one line per method, and the diagonal.

    Parameters
    ----------
    probs_by_method : dict of str to torch.Tensor
        Method name -> one prediction per input (N, C). Names in
        :data:`scaledrop_lib.viz.plotting.METHOD_COLORS` get their fixed colour.
    labels : torch.Tensor
        Integer class indices (N,), shared by all methods.
    n_bins : int
        Number of equal-width confidence bins (as :func:`expected_calibration_error`).

    Returns
    -------
    plotly.graph_objects.Figure
        The diagonal of perfect calibration first, then one trace per method (empty bins
        left out), its ECE in the legend.
    """

    if not probs_by_method:
        raise ValueError("probs_by_method must name at least one method")
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot", "color": "#999"}
        )
    )
    for name, probs in probs_by_method.items():
        bins = reliability_diagram_data(probs, labels, n_bins)
        filled = bins.counts > 0
        ece = expected_calibration_error(probs, labels, n_bins)
        fig.add_trace(
            go.Scatter(
                x=np.round(bins.confidence[filled], 4),
                y=np.round(bins.accuracy[filled], 4),
                mode="lines+markers",
                name=f"{name} (ECE {ece:.3f})",
                line={"color": METHOD_COLORS.get(name)},
                customdata=bins.counts[filled],
                hovertemplate="confidence %{x:.3f}<br>accuracy %{y:.3f}<br>%{customdata} inputs",
            )
        )
    fig.update_layout(
        title=f"Reliability diagram ({n_bins} equal-width confidence bins)",
        xaxis_title="mean confidence in bin",
        yaxis_title="accuracy in bin",
        xaxis_range=[0, 1.02],
        yaxis_range=[0, 1.02],
    )
    return fig


def mapping_figure(mapping: LayerMapping, rows_per_weight: int = 2) -> go.Figure:
    """Draw the crossbars of one layer mapping: outlines, with the used cells filled.

    Two traces whatever the layer (all outlines, all used areas), so figures for different
    layers or crossbar sizes can share a static plotly slider.
    """
    size = mapping.crossbar_size
    gap = size * 0.15
    outline_x: list[float | None] = []
    outline_y: list[float | None] = []
    used_x: list[float | None] = []
    used_y: list[float | None] = []
    for t in crossbar_tiles(mapping, rows_per_weight):
        x0 = (t["group"] * mapping.column_tiles + t["column_tile"]) * (size + gap)
        y0 = -t["row_tile"] * (size + gap)
        for xs, ys, width, height in (
            (outline_x, outline_y, size, size),
            (used_x, used_y, t["used_columns"], t["used_rows"]),
        ):
            xs += [x0, x0 + width, x0 + width, x0, x0, None]
            ys += [y0, y0, y0 - height, y0 - height, y0, None]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=outline_x,
            y=outline_y,
            mode="lines",
            fill="toself",
            fillcolor="white",
            line={"color": "#444"},
            name="crossbar",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=used_x,
            y=used_y,
            mode="lines",
            fill="toself",
            fillcolor="rgba(213, 94, 0, 0.7)",
            line={"width": 0},
            name="cells in use",
            hoverinfo="skip",
        )
    )
    layer = mapping.layer
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_layout(
        title=(
            f"{layer.name}: K={layer.kernel}, Cin={layer.in_channels}, Cout={layer.out_channels}"
            f" -> strategy {mapping.strategy}: {mapping.crossbars} crossbars of {size}x{size}, "
            f"{100 * mapping.utilisation:.1f}% of cells used"
        ),
        height=420,
        title_font_size=13,
    )
    return fig


def shift_curves_figure(
    shift: dict[str, Any], kind: str = "rotation", metric: str = "entropy", T: int = 50
) -> go.Figure:
    """One line per method over the shift levels of
    :func:`scaledrop_lib.studies.sensitivity.evaluate_shift`: the mean over training seeds,
    with the seed standard deviation as error bars.

    Parameters
    ----------
    shift : dict
        The shift part's result.
    kind : {"rotation", "noise"}
        Which shift.
    metric : {"accuracy", "entropy", "mutual_information"}
        What to plot.
    T : int
        Monte-Carlo passes of the sampled methods (one of the study's ``Ts``).
    """

    if kind not in ("rotation", "noise"):
        raise ValueError(f"kind must be 'rotation' or 'noise', got {kind!r}")
    if metric not in ("accuracy", "entropy", "mutual_information"):
        raise ValueError(f"metric must be accuracy, entropy or mutual_information, got {metric!r}")
    if T not in shift["Ts"]:
        raise ValueError(f"T must be one of the study's {shift['Ts']}, got {T!r}")
    levels = shift["angles"] if kind == "rotation" else shift["noise"]
    fig = go.Figure()
    for method, seeds in shift["methods"].items():
        values = np.array([shift_record(r, T)[kind][metric] for r in seeds], dtype=float)
        sd = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
        name = str(METHOD_LABELS.get(method, method))
        fig.add_trace(
            go.Scatter(
                x=list(levels),
                y=np.round(values.mean(axis=0), 5),
                error_y={"type": "data", "array": np.round(sd, 5), "visible": True},
                mode="lines+markers",
                name=name,
                line={"color": METHOD_COLORS.get(name)},
            )
        )
    x_title = "rotation (degrees)" if kind == "rotation" else "Gaussian noise sd (pixels in [0, 1])"
    y_title = {"accuracy": "accuracy", "entropy": "predictive entropy (nats)",
               "mutual_information": "mutual information (nats)"}[metric]  # fmt: skip
    fig.update_layout(
        title=f"28x28 MNIST, {kind}: {y_title} (mean ± sd over {shift['seeds']} seeds, T = {T})",
        xaxis_title=x_title,
        yaxis_title=y_title,
        height=420,
    )
    return fit_to_column(fig)


def bit_packing_figure(activations: torch.Tensor, weights: torch.Tensor) -> go.Figure:
    """How a ±1 dot product becomes XNOR-popcount on packed bits (Table I), for one vector.

    Three rows of cells, one column per channel: the activations' signs as bits (+1 -> 1),
    the weights' bits, and their XOR (1 where they disagree). The title gives the library's
    packed result, ``n - 2 popcount(a XOR w)``, next to the dot product.

    Parameters
    ----------
    activations, weights : torch.Tensor
        ±1 vectors of the same length n (1 <= n <= 64: one 64-bit word).
    """
    a = torch.as_tensor(activations).flatten()
    w = torch.as_tensor(weights).flatten()
    if a.shape != w.shape or not 1 <= a.numel() <= WORD_BITS:
        raise ValueError(
            f"activations and weights must be ±1 vectors of one length 1..{WORD_BITS}, got "
            f"{tuple(a.shape)} and {tuple(w.shape)}"
        )
    a_word, w_word = pack_pm1(a), pack_pm1(w)  # (1,) uint64 words each; checks ±1
    n = a.numel()
    mismatches = int(popcount_words(a_word ^ w_word).sum())
    packed_dot = int(xnor_popcount_dot(a_word, w_word, n))
    bits = [[(int(word[0]) >> i) & 1 for i in range(n)] for word in (a_word, w_word)]
    bits.append([x ^ y for x, y in zip(*bits, strict=True)])
    labels = ["activations a", "weights w", "a XOR w"]
    text = [[f"{'+1' if v else '-1'}<br>{v}" for v in bits[0]]]
    text += [[f"{'+1' if v else '-1'}<br>{v}" for v in bits[1]]]
    text += [[str(v) for v in bits[2]]]
    fig = go.Figure(
        go.Heatmap(
            z=bits[::-1],
            y=labels[::-1],
            x=[f"c{i}" for i in range(n)],
            text=text[::-1],
            texttemplate="%{text}",
            colorscale=[[0, "#f0f0f0"], [1, "#0072B2"]],
            showscale=False,
            xgap=2,
            ygap=2,
            hovertemplate="%{y}, channel %{x}: bit %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        title=(
            f"n = {n} channels in one word: popcount(a XOR w) = {mismatches} mismatches, "
            f"n - 2 x {mismatches} = {packed_dot} = a . w = {int((a * w).sum())}"
        ),
        title_font_size=13,
        height=260,
        xaxis_title="channel (bit c of the word)",
        margin={"l": 110},  # room for the row names
    )
    fig.update_yaxes(automargin=True)
    return fig
