"""Interactive figures that stay live in JupyterLab and still show something in the HTML book.

:class:`LiveFigure` is displayed as *one* output carrying two renderings:

* an ipywidgets panel (sliders/dropdowns + the plotly figure) that JupyterLab renders first,
  because its widget renderer outranks every other mime renderer there;
* a static plotly figure with a plotly slider over one parameter (all values precomputed,
  no kernel needed), which the HTML book renders instead, because
  :class:`scaledrop_lib.viz.book.PlotlyMimeRenderer` ranks plotly JSON above widget views.

nbval skips widget views but compares the static figure's JSON, so the numbers behind an
interactive figure are still checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import plotly.io as pio

from scaledrop_lib.viz.book import PLOTLY_MIME
from scaledrop_lib.viz.plotting import fit_to_column

#: Extra height below a figure for a slider and its value label.
SLIDER_BAND_PX = 70

FigureBuilder = Callable[..., go.Figure]


def figure_mimebundle(figure: go.Figure) -> dict[str, Any]:
    """Plotly's JSON mime bundle of ``figure`` (plain JSON types only, no numpy arrays)."""
    return {PLOTLY_MIME: json.loads(pio.to_json(figure, validate=False))}


def _format_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def static_slider_figure(
    make_figure: FigureBuilder,
    slider_name: str,
    values: Sequence[Any],
    fixed: dict[str, Any] | None = None,
    active_index: int = 0,
) -> go.Figure:
    """Precompute ``make_figure`` for each value of one parameter and join them with a slider.

    Parameters
    ----------
    make_figure : callable
        ``make_figure(**params) -> go.Figure``. Every call must return the same number of
        traces (the slider toggles their visibility).
    slider_name : str
        Keyword of ``make_figure`` that the slider varies.
    values : sequence
        Slider positions.
    fixed : dict, optional
        Other keywords, held at these values.
    active_index : int
        Slider position shown first.
    """
    if len(values) == 0:
        raise ValueError("values must not be empty")
    if not 0 <= active_index < len(values):
        raise ValueError(f"active_index must be in [0, {len(values)}), got {active_index}")
    fixed = dict(fixed or {})
    figures = [make_figure(**fixed, **{slider_name: v}) for v in values]
    n_traces = {len(f.data) for f in figures}
    if len(n_traces) != 1:
        raise ValueError(
            f"make_figure returned different numbers of traces ({sorted(n_traces)}) across "
            f"{slider_name!r}; the static slider needs the same number for every value"
        )
    per = n_traces.pop()
    combined = go.Figure(layout=figures[active_index].layout)
    steps = []
    for i, (value, fig) in enumerate(zip(values, figures, strict=True)):
        for trace in fig.data:
            trace = go.Figure(trace).data[0]  # a copy, so the caller's figure is untouched
            trace.visible = i == active_index
            combined.add_trace(trace)
        visible = [j // per == i for j in range(per * len(values))]
        title = fig.layout.title.text if fig.layout.title.text is not None else ""
        steps.append(
            {
                "method": "update",
                "label": _format_value(value),
                "args": [{"visible": visible}, {"title.text": title}],
            }
        )
    # the slider and its value label go below the x-axis titles, with room kept for them
    bottom = combined.layout.margin.b if combined.layout.margin.b is not None else 50
    combined.update_layout(
        margin={"b": bottom + SLIDER_BAND_PX},
        sliders=[
            {
                "active": active_index,
                "currentvalue": {"prefix": f"{slider_name} = ", "xanchor": "right"},
                "pad": {"t": 60},
                "steps": steps,
            }
        ],
    )
    if combined.layout.height is not None:
        combined.update_layout(height=combined.layout.height + SLIDER_BAND_PX)
    return fit_to_column(combined)


class LiveFigure:
    """A plotly figure driven by ipywidgets controls, with a static twin for the HTML book.

    Parameters
    ----------
    make_figure : callable
        ``make_figure(**params) -> go.Figure``.
    controls : dict of str to sequence
        Parameter name -> the values its control offers (shown as a selection slider; a
        sequence of strings becomes a dropdown).
    defaults : dict, optional
        Starting value per parameter (default: the middle value of each control).
    static_parameter : str, optional
        Which parameter the static figure's plotly slider varies (default: the first).
    """

    def __init__(
        self,
        make_figure: FigureBuilder,
        controls: dict[str, Sequence[Any]],
        defaults: dict[str, Any] | None = None,
        static_parameter: str | None = None,
    ) -> None:
        if not controls:
            raise ValueError("controls must name at least one parameter")
        for name, values in controls.items():
            if len(values) == 0:
                raise ValueError(f"controls[{name!r}] offers no values")
        self.make_figure = make_figure
        self.controls = {name: list(values) for name, values in controls.items()}
        self.defaults = {name: values[len(values) // 2] for name, values in self.controls.items()}
        for name, value in (defaults or {}).items():
            if name not in self.controls:
                raise ValueError(f"defaults names {name!r}, which is not a control")
            if value not in self.controls[name]:
                raise ValueError(f"defaults[{name!r}] = {value!r} is not one of its values")
            self.defaults[name] = value
        self.static_parameter = static_parameter or next(iter(self.controls))
        if self.static_parameter not in self.controls:
            raise ValueError(f"static_parameter {self.static_parameter!r} is not a control")

    def static_figure(self) -> go.Figure:
        """The kernel-free version: a plotly slider over ``static_parameter``."""
        values = self.controls[self.static_parameter]
        fixed = {k: v for k, v in self.defaults.items() if k != self.static_parameter}
        return static_slider_figure(
            self.make_figure,
            self.static_parameter,
            values,
            fixed=fixed,
            active_index=values.index(self.defaults[self.static_parameter]),
        )

    def widget(self) -> Any:
        """The live ipywidgets panel (controls above an output area holding the figure)."""

        controls = {}
        for name, values in self.controls.items():
            if all(isinstance(v, str) for v in values):
                controls[name] = widgets.Dropdown(
                    options=values, value=self.defaults[name], description=name
                )
            else:
                controls[name] = widgets.SelectionSlider(
                    options=[(_format_value(v), v) for v in values],
                    value=self.defaults[name],
                    description=name,
                    continuous_update=False,
                )
        output = widgets.Output()

        def redraw(_change: Any = None) -> None:
            # Set the Output widget's content directly. `with output: display(...)` (and
            # ipywidgets.interactive_output) rely on the front end to capture display messages;
            # kernels without a widget manager (nbval, the book build) would show them as
            # extra cell outputs.
            figure = self.make_figure(**{k: c.value for k, c in controls.items()})
            output.outputs = (
                {"output_type": "display_data", "data": figure_mimebundle(figure), "metadata": {}},
            )

        for control in controls.values():
            control.observe(redraw, names="value")
        redraw()
        return widgets.VBox([widgets.HBox(list(controls.values())), output])

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget()._repr_mimebundle_())
        bundle.update(figure_mimebundle(self.static_figure()))
        bundle["text/plain"] = (
            f"LiveFigure({', '.join(self.controls)}): live in JupyterLab; "
            f"static slider over {self.static_parameter} in the HTML book"
        )
        return bundle
