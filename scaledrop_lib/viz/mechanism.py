"""Figures of the mechanism chapter: sign invariance, MC convergence, the sensitivity sweep."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from scaledrop_lib.kinds import Method
from scaledrop_lib.studies.mechanism import Convergence
from scaledrop_lib.viz.plotting import METHOD_COLORS, fit_to_column


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def sign_invariance_figure(cases: Sequence[tuple[str, float, float]], r: float = 1.0) -> go.Figure:
    """One panel per ``(label, alpha, beta)``: the normalised pre-activation n ~ N(0, 1), the
    sign threshold -beta/alpha with the learned scale and -beta/r after a drop, and the share
    of signs the drop flips (the shaded mass between them)."""
    if not cases:
        raise ValueError("cases must not be empty")
    titles = []
    for label, alpha, beta in cases:
        if alpha <= 0 or r <= 0:
            raise ValueError(f"alpha and r must be > 0 (case {label!r})")
        kept, dropped = -beta / alpha, -beta / r
        flipped = abs(_normal_cdf(dropped) - _normal_cdf(kept))
        titles.append(f"{label}: {100 * flipped:.2g} % of signs flip")
    fig = make_subplots(rows=1, cols=len(cases), subplot_titles=titles, shared_yaxes=True)
    grid = np.linspace(-3.5, 3.5, 281)
    density = np.exp(-(grid**2) / 2) / math.sqrt(2 * math.pi)
    for col, (_, alpha, beta) in enumerate(cases, start=1):
        kept, dropped = -beta / alpha, -beta / r
        low, high = sorted((kept, dropped))
        band = (grid >= low) & (grid <= high)
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=np.round(density, 5),
                mode="lines",
                line={"color": "#444"},
                name="n ~ N(0, 1)",
                showlegend=col == 1,
                hoverinfo="skip",
            ),
            row=1,
            col=col,
        )
        if band.any():
            fig.add_trace(
                go.Scatter(
                    x=grid[band],
                    y=np.round(density[band], 5),
                    fill="tozeroy",
                    mode="none",
                    fillcolor="rgba(213, 94, 0, 0.5)",
                    name="signs a drop flips",
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        for x, color, name in (
            (kept, "#0072B2", "-beta/alpha (kept)"),
            (dropped, "#D55E00", f"-beta/r (dropped, r = {r:g})"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=[x, x],
                    y=[0, 0.45],
                    mode="lines",
                    line={"color": color, "dash": "dot"},
                    name=name,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text=f"n (alpha = {alpha:.3g}, beta = {beta:.3g})", row=1, col=col)
    fig.update_yaxes(title_text="density", row=1, col=1)
    fig.update_annotations(font_size=12)
    fig.update_layout(
        title="Sign invariance: a dropped scale only moves the sign threshold",
        height=380,
        legend={"orientation": "h", "y": -0.3},
        margin={"b": 110},
    )
    return fit_to_column(fig)


def convergence_figure(curves: Mapping[str, Convergence]) -> go.Figure:
    """Mean ``|MC mean - exact mixture mean|`` against T (log-log), measured and the 1/sqrt(T)
    prediction, one colour per model."""
    if not curves:
        raise ValueError("curves must not be empty")
    fig = go.Figure()
    colors = ("#D55E00", "#0072B2", "#009E73", "#CC79A7")
    for (name, curve), color in zip(curves.items(), colors, strict=False):
        fig.add_trace(
            go.Scatter(
                x=curve.Ts,
                y=curve.mean_abs_error,
                mode="markers+lines",
                name=f"{name}: measured ({curve.n_networks} networks)",
                line={"color": color},
            ),
        )
        fig.add_trace(
            go.Scatter(
                x=curve.Ts,
                y=curve.predicted,
                mode="lines",
                name=f"{name}: sqrt(2/pi) sigma / sqrt(T)",
                line={"color": color, "dash": "dot"},
            ),
        )
    fig.update_layout(
        title="Monte-Carlo estimate vs the exact mixture of 2^L networks",
        xaxis={"type": "log", "title": "T (Monte-Carlo passes)"},
        yaxis={"type": "log", "title": "mean |MC mean - exact mean|", "exponentformat": "e"},
        legend={"orientation": "h", "y": -0.25},
        height=440,
        margin={"b": 120},
    )
    return fit_to_column(fig)


def sensitivity_figure(sweep: Mapping[str, Any], bar: Mapping[str, float]) -> go.Figure:
    """Per sweep variant, the gain of the MC predictive entropy's AUROC over the same model's
    deterministic softmax entropy (error detection and OOD); the shaded band is +- the
    visibility bar (two seed standard deviations of the base recipe)."""
    rows = list(sweep["rows"])
    if not rows:
        raise ValueError("sweep has no rows")
    names = [row["variant"]["name"] for row in rows]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=("error detection", "OOD detection (mean of D1-D6)"),
    )
    for col, key in enumerate(("error_gain", "ood_gain"), start=1):
        gains = [row["summary"][key] for row in rows]
        colors = [
            METHOD_COLORS[Method.MC_SCALE_DROPOUT] if row["variant"]["paper_allows"] else "#777"
            for row in rows
        ]
        fig.add_vrect(
            x0=-bar[key], x1=bar[key], fillcolor="#bbb", opacity=0.35, line_width=0, row=1, col=col
        )
        fig.add_trace(
            go.Scatter(
                x=np.round(gains, 5),
                y=names,
                mode="markers",
                marker={"color": colors, "size": 9},
                showlegend=False,
                hovertemplate="%{y}: %{x:+.4f}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(
            title_text="AUROC gain", zeroline=True, zerolinecolor="#444", row=1, col=col
        )
    fig.update_yaxes(autorange="reversed")
    fig.update_annotations(font_size=12)
    fig.update_layout(
        title="What the paper leaves open: does sampling beat the deterministic softmax?",
        height=560,
        margin={"l": 150},
    )
    return fit_to_column(fig)
