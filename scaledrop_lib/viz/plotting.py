"""The book's plotly look: one template, one colour per method, used by every chapter.

Call :func:`use_book_style` once at the top of a notebook. It registers the lean
``"scaledrop"`` template (small, so stored notebooks stay small) and makes plotly emit its
JSON mime type, which nbval compares and the book renders offline (see
:mod:`scaledrop_lib.viz.book`).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import torch
from plotly.io._base_renderers import PlotlyRenderer
from plotly.subplots import make_subplots

from scaledrop_lib.kinds import Method
from scaledrop_lib.metrics.predictive import sample_mean_ci

TEMPLATE_NAME = "scaledrop"

#: Width of the book's text column in pixels: no figure is wider (see :func:`fit_to_column`).
COLUMN_WIDTH_PX = 680
#: Height of the band at the top of a figure where plotly shows its toolbar on hover.
TOOLBAR_BAND_PX = 30
#: Significant digits a figure keeps in its stored JSON. Four is more than a reader can see
#: or a hover label needs, and it keeps stored outputs the same on CPUs whose float32 kernels
#: round differently in the last bits (they differ near 1e-7 relative; see figure_json).
FIGURE_DIGITS = 4

#: One colour per :class:`~scaledrop_lib.kinds.Method`, the same in every chapter (colour-blind
#: safe, Okabe-Ito palette). Members equal their names, so ``METHOD_COLORS["MC-Dropout"]`` works.
METHOD_COLORS: dict[Method, str] = {
    Method.DETERMINISTIC: "#000000",
    Method.MC_SCALE_DROPOUT: "#D55E00",
    Method.MC_DROPOUT: "#0072B2",
    Method.ENSEMBLE: "#009E73",
    Method.SPINDROP: "#CC79A7",
    Method.SPATIAL_SPINDROP: "#E69F00",
    Method.FLOAT: "#56B4E9",
    Method.BINARY: "#F0E442",
}

#: Colours for anything that is not a named method, in order.
SEQUENCE_COLORS: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#F0E442",
)


def book_template() -> go.layout.Template:
    """Return the book's plotly template: white background, light grid, Okabe-Ito colours."""
    axis = {"showgrid": True, "gridcolor": "#e5e5e5", "zeroline": False, "linecolor": "#444"}
    return go.layout.Template(
        layout={
            "font": {"family": "Arial, sans-serif", "size": 13},
            "colorway": list(SEQUENCE_COLORS),
            "plot_bgcolor": "white",
            "paper_bgcolor": "white",
            "xaxis": axis,
            "yaxis": axis,
            # the title sits in its own band, below the band where plotly's toolbar appears
            "title": {
                "x": 0,
                "xanchor": "left",
                "yref": "container",
                "y": 1,
                "yanchor": "top",
                "pad": {"t": TOOLBAR_BAND_PX, "l": 10},
            },
            "margin": {"l": 60, "r": 20, "t": TOOLBAR_BAND_PX + 50, "b": 50},
            "hovermode": "closest",
        }
    )


def fit_to_column(fig: go.Figure, max_width: int = COLUMN_WIDTH_PX) -> go.Figure:
    """The book's size rule: no figure is wider than the text column.

    A figure with a fixed width above ``max_width`` loses the fixed width (it fills its cell or
    the column) and its height shrinks by the same factor, so square image panels stay square
    at the column's width instead of being cut off at the right. Returns ``fig`` (changed in
    place).
    """
    width, height = _column_size(fig.layout.width, fig.layout.height, max_width)
    if width != fig.layout.width:
        fig.update_layout(width=None, height=height)
    return fig


def _column_size(
    width: float | None, height: float | None, max_width: int = COLUMN_WIDTH_PX
) -> tuple[float | None, float | None]:
    """(width, height) under the size rule: a fixed width above ``max_width`` goes, and the
    height (plotly's default 450 when unset) shrinks by the same factor."""
    if width is None or width <= max_width:
        return width, height
    return None, round((height if height is not None else 450) * max_width / width)


def round_significant(values: Any, digits: int = FIGURE_DIGITS) -> np.ndarray:
    """Round to ``digits`` significant digits (zeros, infinities and NaN stay as they are)."""
    if digits < 1:
        raise ValueError(f"digits must be >= 1, got {digits}")
    a = np.asarray(values, dtype=np.float64)
    nonzero = np.isfinite(a) & (a != 0)
    exponent = np.zeros_like(a)
    exponent[nonzero] = np.floor(np.log10(np.abs(a[nonzero])))
    scale = 10.0 ** (digits - 1 - exponent)
    return np.where(nonzero, np.round(a * scale) / scale, a)


def _rounded(node: Any, digits: int) -> Any:
    """``node`` (plotly JSON) with every float rounded, typed arrays (``bdata``) included."""
    if isinstance(node, float):
        return float(round_significant(node, digits))
    if isinstance(node, list):
        return [_rounded(item, digits) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("bdata"), str) and str(node.get("dtype", "")).startswith("f"):
        dtype = np.dtype(node["dtype"])
        array = np.frombuffer(base64.b64decode(node["bdata"]), dtype=dtype)
        array = round_significant(array, digits).astype(dtype)
        return {**node, "bdata": base64.b64encode(array.tobytes()).decode("ascii")}
    return {key: _rounded(value, digits) for key, value in node.items()}


def _book_dict(figure: dict[str, Any], digits: int) -> dict[str, Any]:
    layout = figure.get("layout", {})
    width, height = _column_size(layout.get("width"), layout.get("height"))
    if width != layout.get("width"):  # fit_to_column's rule, on the dict
        layout = {k: v for k, v in layout.items() if k != "width"}
        figure = {**figure, "layout": {**layout, "height": height}}
    return _rounded(figure, digits)


def figure_json(figure: go.Figure, digits: int = FIGURE_DIGITS) -> dict[str, Any]:
    """The JSON dict the book stores for a figure: the one path every displayed figure takes.

    It applies the book's size rule (:func:`fit_to_column`) and rounds every number to
    ``digits`` significant digits. Without the rounding, stored outputs would depend on the
    CPU: float32 kernels differ between machines in the last bits, and nbval compares plotly's
    JSON exactly. ``figure`` itself is not changed.
    """
    return _book_dict(json.loads(pio.to_json(figure, validate=False)), digits)


class BookRenderer(PlotlyRenderer):
    """plotly's JSON mime renderer, with every figure passed through :func:`figure_json`."""

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, Any]:
        bundle = super().to_mimebundle(fig_dict)
        return {key: _book_dict(value, FIGURE_DIGITS) for key, value in bundle.items()}


def use_book_style() -> None:
    """Make the book's template the default and emit plotly's JSON mime bundle.

    The JSON bundle (``application/vnd.plotly.v1+json``) is small and deterministic, so nbval
    can compare it; the book's mime renderer turns it into an offline figure. Every figure
    shown goes through :func:`figure_json` (the column width, rounded numbers).
    """
    pio.templates[TEMPLATE_NAME] = book_template()
    pio.templates.default = TEMPLATE_NAME
    pio.renderers[TEMPLATE_NAME] = BookRenderer()
    pio.renderers.default = TEMPLATE_NAME


def method_color(method: Method | str) -> str:
    """Colour of a named method (see :data:`METHOD_COLORS`); raises ``KeyError`` naming it."""
    try:
        return METHOD_COLORS[method]
    except KeyError:
        known = ", ".join(sorted(METHOD_COLORS))
        raise KeyError(f"no colour for method {method!r}; known: {known}") from None


def line_figure(
    x: Sequence[float],
    series: dict[str, Sequence[float]],
    *,
    title: str,
    x_title: str,
    y_title: str,
    errors: dict[str, Sequence[float]] | None = None,
    log_x: bool = False,
) -> go.Figure:
    """One line per named series; named methods get their book colour.

    Parameters
    ----------
    x : sequence of float
        Shared x values.
    series : dict of str to sequence of float
        Legend name -> y values (same length as ``x``).
    title, x_title, y_title : str
        Figure and axis titles (give units in the axis titles).
    errors : dict of str to sequence of float, optional
        Legend name -> symmetric error-bar half-widths (e.g. a standard deviation over seeds),
        same length as ``x``; series without an entry get no error bars.
    log_x : bool
        Logarithmic x axis (e.g. for a number of passes).
    """
    errors = errors or {}
    unknown = set(errors) - set(series)
    if unknown:
        raise ValueError(f"errors names series that do not exist: {sorted(unknown)}")
    fig = go.Figure()
    for name, y in series.items():
        if len(y) != len(x):
            raise ValueError(f"series {name!r} has {len(y)} values but x has {len(x)}")
        line = {"color": METHOD_COLORS[name]} if name in METHOD_COLORS else {}
        error_y = None
        if name in errors:
            if len(errors[name]) != len(x):
                raise ValueError(
                    f"errors of {name!r} has {len(errors[name])} values but x has {len(x)}"
                )
            error_y = {"type": "data", "array": list(errors[name]), "visible": True}
        fig.add_trace(
            go.Scatter(
                x=list(x), y=list(y), mode="lines+markers", name=name, line=line, error_y=error_y
            )
        )
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title)
    if log_x:  # ticks at the data's x values: a log axis would otherwise label 2 and 5 alone
        fig.update_xaxes(type="log", tickvals=list(x))
    return fig


def image_grid(
    images: Sequence[Any],
    titles: Sequence[str],
    *,
    columns: int = 5,
    title: str = "",
    colorscale: str = "gray_r",
    panel_size: int = 110,
    zrange: tuple[float, float] | None = None,
) -> go.Figure:
    """Greyscale images side by side (heatmaps with square pixels, no axes).

    Parameters
    ----------
    images : sequence of array-like
        2-D arrays (H, W), or (1, H, W) tensors/arrays.
    titles : sequence of str
        One caption per image.
    columns : int
        Images per row.
    zrange : (float, float), optional
        Fixed colour range for every panel (default: each panel scales to its own data).
    """

    if len(images) != len(titles):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    if len(images) == 0:
        raise ValueError("images must not be empty")
    arrays = [np.asarray(img, dtype=float).squeeze() for img in images]
    for i, arr in enumerate(arrays):
        if arr.ndim != 2:
            raise ValueError(f"images[{i}] must be 2-D after squeezing, got shape {arr.shape}")
    rows = -(-len(arrays) // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=list(titles))
    for i, arr in enumerate(arrays):
        fig.add_trace(
            go.Heatmap(
                z=np.round(arr[::-1], 4),
                colorscale=colorscale,
                showscale=False,
                zmin=None if zrange is None else zrange[0],
                zmax=None if zrange is None else zrange[1],
            ),
            row=i // columns + 1,
            col=i % columns + 1,
        )
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, scaleanchor="x", constrain="domain")
    fig.update_layout(title=title, height=panel_size * rows + 120, width=panel_size * columns + 80)
    return fit_to_column(fig)


def mc_samples_figure(
    panels: dict[str, Any],
    *,
    title: str = "",
    level: float = 0.95,
    decimals: int = 3,
) -> go.Figure:
    """Fig. 5's view of T Monte-Carlo samples: one dot per pass and class, and the Eq. 20
    interval of the mean per class, side by side for each panel (e.g. logits and softmax).

    Parameters
    ----------
    panels : dict of str to array-like
        Panel title -> samples (T, C) of one input.
    level : float
        Coverage of the Eq. 20 interval (:func:`scaledrop_lib.metrics.predictive.sample_mean_ci`).
    decimals : int
        Values are rounded to this many decimals (smaller, stable stored notebooks).

    Returns
    -------
    go.Figure
        Two traces per panel: samples and interval.
    """

    if not panels:
        raise ValueError("panels must not be empty")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels))
    for col, (name, values) in enumerate(panels.items(), start=1):
        samples = torch.as_tensor(np.asarray(values, dtype=np.float64))
        if samples.dim() != 2:
            raise ValueError(f"panels[{name!r}] must be (T, C), got shape {tuple(samples.shape)}")
        n_passes, n_classes = samples.shape
        low, high = (b[0] for b in sample_mean_ci(samples[:, None, :], level))
        mean = samples.mean(dim=0)
        # spread the T dots of a class over a narrow band (deterministic, so outputs are stable)
        jitter = np.linspace(-0.25, 0.25, n_passes) if n_passes > 1 else np.zeros(1)
        xs = (np.arange(n_classes)[None, :] + jitter[:, None]).ravel()
        fig.add_trace(
            go.Scatter(
                # float32 arrays: plotly stores them as compact base64, not one line per dot
                x=np.round(xs, 3).astype(np.float32),
                y=np.round(samples.numpy().ravel(), decimals).astype(np.float32),
                mode="markers",
                marker={"size": 3, "color": SEQUENCE_COLORS[0], "opacity": 0.35},
                name="MC samples",
                showlegend=col == 1,
                legendgroup="samples",
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=list(range(n_classes)),
                y=np.round(mean.numpy(), decimals).tolist(),
                mode="markers",
                marker={"size": 8, "color": SEQUENCE_COLORS[1], "symbol": "line-ew-open"},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": np.round((high - mean).numpy(), decimals).tolist(),
                    "arrayminus": np.round((mean - low).numpy(), decimals).tolist(),
                    "color": SEQUENCE_COLORS[1],
                },
                name=f"mean, Eq. 20 {100 * level:g}% CI",
                showlegend=col == 1,
                legendgroup="ci",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="class", dtick=1, row=1, col=col)
    fig.update_layout(title=title, height=380)
    return fig


def _png_data_uri(rgb_uint8: Any) -> str:
    """A PNG data URI of an (H, W, 3) RGB or (H, W) greyscale uint8 image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb_uint8).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def segmentation_panels(
    image: Any,
    panels: dict[str, Any],
    *,
    title: str = "",
    panel_size: int = 170,
) -> go.Figure:
    """Fig. 8's row: the RGB input, then one greyscale map per panel (mask, prediction,
    correctness, uncertainty...), each on a fixed [0, 1] colour scale.

    The input and every 0/1 mask are stored as PNGs, other maps as 8-bit values (plotly's
    compact base64 arrays, which keep the value on hover), so a stored notebook with many
    such rows stays small.

    Parameters
    ----------
    image : array-like
        RGB image (3, H, W) in [0, 1].
    panels : dict of str to array-like
        Title -> map (H, W) or (1, H, W) with values in [0, 1]; dark = 1 (``gray_r``), so
        lesions, errors and uncertainty show dark on white, as in the paper's figure.
    """

    rgb = np.asarray(image, dtype=float)
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(f"image must be RGB (3, H, W), got shape {rgb.shape}")
    fig = make_subplots(rows=1, cols=1 + len(panels), subplot_titles=["input", *panels])
    pixels = np.clip(np.round(rgb.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
    fig.add_trace(go.Image(source=_png_data_uri(pixels)), row=1, col=1)
    for col, (name, values) in enumerate(panels.items(), start=2):
        arr = np.asarray(values, dtype=float).squeeze()
        if arr.shape != rgb.shape[1:]:
            raise ValueError(f"panels[{name!r}] has shape {arr.shape}, expected {rgb.shape[1:]}")
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"panels[{name!r}] must hold values in [0, 1]")
        if np.isin(arr, (0.0, 1.0)).all():
            # a 0/1 mask: a greyscale PNG is a few hundred bytes where 8-bit values take kBs,
            # and hovering a mask has nothing to read that the colour does not show
            grey = np.where(arr == 1.0, 0, 255).astype(np.uint8)  # gray_r: 1 is black
            fig.add_trace(
                go.Image(source=_png_data_uri(grey), hovertemplate="x %{x}, y %{y}<extra></extra>"),
                row=1,
                col=col,
            )
            continue
        fig.add_trace(
            go.Heatmap(
                z=np.round(arr * 255).astype(np.uint8),
                colorscale="gray_r",
                zmin=0,
                zmax=255,
                showscale=False,
                hovertemplate="x %{x}, y %{y}: %{z}/255<extra></extra>",
            ),
            row=1,
            col=col,
        )
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, scaleanchor="x", constrain="domain", autorange="reversed")
    fig.update_layout(
        title=title, height=panel_size + 120, width=panel_size * (1 + len(panels)) + 60
    )
    return fit_to_column(fig)
