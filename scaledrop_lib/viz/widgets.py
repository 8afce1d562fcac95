"""Interactive figures that stay live in JupyterLab and still show something in the HTML book.

:class:`LiveFigure` is displayed as *one* output carrying two renderings:

* an ipywidgets panel (sliders/dropdowns + the plotly figure) that JupyterLab renders first,
  because its widget renderer outranks every other mime renderer there;
* a static plotly figure with a plotly slider over one parameter, and optionally a drop-down
  menu over a second (all values precomputed, no kernel needed; its subtitle names the
  controls the book offers), which the HTML book renders instead, because
  :class:`scaledrop_lib.viz.book.PlotlyMimeRenderer` ranks plotly JSON above widget views.

nbval skips widget views but compares the static figure's JSON, so the numbers behind an
interactive figure are still checked.

A kernel started by a Jupyter server for an open notebook (JupyterLab, Notebook 7; the server
sets ``JPY_SESSION_NAME`` in its environment) skips the static twin: JupyterLab always shows
the widget, so computing the grid would only delay the cell (17 s in chapter 2). Kernels run by
``make notebooks``, the book build and nbval have no such session and store the twin. The
environment variable ``SCALEDROP_STATIC_TWINS`` (``1`` or ``0``) overrides the rule. The widget
itself survives saving and reopening because JupyterLab saves widget state into the notebook
(``saveState``, set by the project's ``tools/jupyterlab-overrides.json``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go

from scaledrop_lib.viz.book import PLOTLY_MIME
from scaledrop_lib.viz.plotting import figure_json, fit_to_column

#: Extra height below a figure for a slider and its value label.
SLIDER_BAND_PX = 70
#: Narrowest cell of the live controls' grid (a slider track stays usable at this width).
CONTROL_MIN_PX = 280
#: Extra height above a static figure for its subtitle (which controls the book offers).
SUBTITLE_PX = 20

FigureBuilder = Callable[..., go.Figure]

#: Environment variable that forces (``1``) or skips (``0``) the static twin.
STATIC_TWINS_ENV = "SCALEDROP_STATIC_TWINS"


def static_twin_wanted() -> bool:
    """Whether a displayed :class:`LiveFigure` carries its static twin.

    ``SCALEDROP_STATIC_TWINS=1`` or ``0`` decides when set; otherwise the twin is made unless
    the kernel serves a notebook open in a Jupyter server (``JPY_SESSION_NAME`` is set), where
    the live widget is what the reader sees.
    """
    forced = os.environ.get(STATIC_TWINS_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if forced:
        raise ValueError(f"{STATIC_TWINS_ENV} must be 0 or 1, got {forced!r}")
    return not os.environ.get("JPY_SESSION_NAME")


def figure_mimebundle(figure: go.Figure) -> dict[str, Any]:
    """Plotly's JSON mime bundle of ``figure``, as the book stores it (:func:`figure_json`)."""
    return {PLOTLY_MIME: figure_json(figure)}


def _format_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _layout_step(fig: go.Figure, with_annotations: bool) -> dict[str, Any]:
    """The layout a slider step or menu button sets: the title, and subplot titles (which
    plotly keeps as annotations) when any figure of the grid has them."""
    layout: dict[str, Any] = {"title.text": fig.layout.title.text or ""}
    if with_annotations:
        layout["annotations"] = [a.to_plotly_json() for a in fig.layout.annotations]
    return layout


def static_slider_figure(
    make_figure: FigureBuilder,
    slider_name: str,
    values: Sequence[Any],
    fixed: dict[str, Any] | None = None,
    active_index: int = 0,
    menu: tuple[str, Sequence[Any]] | None = None,
    active_menu: int = 0,
) -> go.Figure:
    """Precompute ``make_figure`` over one parameter (a slider), or over two (a slider and a
    drop-down menu), and join the figures into one that needs no kernel. Each slider step and
    menu entry also sets its figure's title and subplot titles.

    Parameters
    ----------
    make_figure : callable
        ``make_figure(**params) -> go.Figure``. Every call must return the same number of
        traces (the controls toggle their visibility).
    slider_name : str
        Keyword of ``make_figure`` that the slider varies.
    values : sequence
        Slider positions.
    fixed : dict, optional
        Other keywords, held at these values.
    active_index : int
        Slider position shown first.
    menu : (name, values), optional
        A second keyword and its values, offered as a drop-down menu: ``len(values) *
        len(menu values)`` figures are precomputed. Choosing a menu entry shows that entry's
        own slider, at ``active_index``. Not for heatmap figures (plotly.js fails to redraw
        them on such an update).
    active_menu : int
        Menu entry shown first.
    """
    if len(values) == 0:
        raise ValueError("values must not be empty")
    if not 0 <= active_index < len(values):
        raise ValueError(f"active_index must be in [0, {len(values)}), got {active_index}")
    menu_name, menu_values = menu if menu is not None else (None, [None])
    if len(menu_values) == 0:
        raise ValueError("menu values must not be empty")
    if not 0 <= active_menu < len(menu_values):
        raise ValueError(f"active_menu must be in [0, {len(menu_values)}), got {active_menu}")
    if menu_name is not None and menu_name == slider_name:
        raise ValueError(f"the menu and the slider both vary {slider_name!r}")
    fixed = dict(fixed or {})
    grid = [
        [
            make_figure(**fixed, **{slider_name: v}, **({menu_name: m} if menu_name else {}))
            for v in values
        ]
        for m in menu_values
    ]
    n_traces = {len(f.data) for row in grid for f in row}
    if len(n_traces) != 1:
        varied = slider_name if menu_name is None else f"{slider_name!r} and {menu_name!r}"
        raise ValueError(
            f"make_figure returned different numbers of traces ({sorted(n_traces)}) across "
            f"{varied!r}; the static figure needs the same number for every value"
        )
    per = n_traces.pop()
    if menu_name is not None and any(t.type == "heatmap" for t in grid[0][0].data):
        # plotly.js (3.x) throws when one update both toggles heatmaps and shows another
        # slider, which is what a menu entry does (the browser check caught it)
        raise ValueError("a static menu cannot switch heatmap figures; use the slider alone")
    n_figures = len(values) * len(menu_values)
    with_annotations = any(len(f.layout.annotations) > 0 for row in grid for f in row)
    shown = grid[active_menu][active_index]
    combined = go.Figure(layout=shown.layout)

    def visible(j: int, i: int) -> list[bool]:  # the traces of grid[j][i] only
        block = j * len(values) + i
        return [k // per == block for k in range(per * n_figures)]

    sliders = []
    for j, row in enumerate(grid):
        steps = []
        for i, (value, fig) in enumerate(zip(values, row, strict=True)):
            for trace in fig.data:
                trace = go.Figure(trace).data[0]  # a copy, so the caller's figure is untouched
                trace.visible = (j, i) == (active_menu, active_index)
                combined.add_trace(trace)
            steps.append(
                {
                    "method": "update",
                    "label": _format_value(value),
                    "args": [{"visible": visible(j, i)}, _layout_step(fig, with_annotations)],
                }
            )
        sliders.append(
            {
                "active": active_index,
                "visible": j == active_menu,
                "currentvalue": {"prefix": f"{slider_name} = ", "xanchor": "right"},
                "pad": {"t": 60},
                "steps": steps,
            }
        )
    # the slider (and menu) go below the x-axis titles, with room kept for them
    bottom = combined.layout.margin.b if combined.layout.margin.b is not None else 50
    combined.update_layout(margin={"b": bottom + SLIDER_BAND_PX}, sliders=sliders)
    if menu_name is not None:
        for slider in combined.layout.sliders:  # leave the left of the band to the menu
            slider.update(x=0.3, len=0.7)
        buttons = []
        for j, m in enumerate(menu_values):
            layout = _layout_step(grid[j][active_index], with_annotations)
            layout.update({f"sliders[{k}].visible": k == j for k in range(len(menu_values))})
            layout[f"sliders[{j}].active"] = active_index
            buttons.append(
                {
                    "method": "update",
                    "label": f"{menu_name} = {_format_value(m)}",
                    "args": [{"visible": visible(j, active_index)}, layout],
                }
            )
        combined.update_layout(
            updatemenus=[
                {
                    "type": "dropdown",
                    "direction": "up",  # it sits at the bottom: opening down would be clipped
                    "active": active_menu,
                    "buttons": buttons,
                    "x": 0.0,
                    "xanchor": "left",
                    "y": 0.0,
                    "yanchor": "top",
                    "pad": {"t": 75},
                    "showactive": True,
                }
            ]
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
    static_menu : str, optional
        A second parameter the static figure offers as a drop-down menu.
    static_values : dict, optional
        Fewer values for the static controls (keeps a wide grid small); each must include the
        control's default.
    """

    def __init__(
        self,
        make_figure: FigureBuilder,
        controls: dict[str, Sequence[Any]],
        defaults: dict[str, Any] | None = None,
        static_parameter: str | None = None,
        static_menu: str | None = None,
        static_values: dict[str, Sequence[Any]] | None = None,
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
        if static_menu is not None and static_menu not in self.controls:
            raise ValueError(f"static_menu {static_menu!r} is not a control")
        if static_menu == self.static_parameter:
            raise ValueError(f"static_menu and static_parameter are both {static_menu!r}")
        self.static_menu = static_menu
        # the book's grid: every value of the static controls unless static_values reduces it
        self.static_values = {}
        for name in filter(None, (self.static_parameter, self.static_menu)):
            chosen = list((static_values or {}).get(name, self.controls[name]))
            if not chosen or any(v not in self.controls[name] for v in chosen):
                raise ValueError(
                    f"static_values[{name!r}] must be a non-empty subset of its values"
                )
            if self.defaults[name] not in chosen:
                raise ValueError(
                    f"static_values[{name!r}] must include the default {self.defaults[name]!r}"
                )
            self.static_values[name] = chosen
        for name in static_values or {}:
            if name not in self.static_values:
                raise ValueError(f"static_values names {name!r}, which is not a static control")

    def controls_note(self) -> str:
        """Which controls the book's static figure offers, and which only JupyterLab has."""
        book = [f"{self.static_parameter} (slider)"]
        if self.static_menu is not None:
            book.append(f"{self.static_menu} (menu)")
        live = [name for name in self.controls if name not in self.static_values]
        note = "In the book: " + ", ".join(book)
        reduced = [n for n, v in self.static_values.items() if len(v) < len(self.controls[n])]
        if reduced:
            note += f" (fewer values of {', '.join(reduced)})"
        if live:
            note += "; live in JupyterLab also: " + ", ".join(live)
        return note

    def static_figure(self) -> go.Figure:
        """The kernel-free version: a plotly slider over ``static_parameter`` (and a drop-down
        menu over ``static_menu``), the other controls at their defaults; its subtitle says
        which controls the book offers (see :meth:`controls_note`)."""
        values = self.static_values[self.static_parameter]
        fixed = {k: v for k, v in self.defaults.items() if k not in self.static_values}
        menu, active_menu = None, 0
        if self.static_menu is not None:
            menu_values = self.static_values[self.static_menu]
            menu = (self.static_menu, menu_values)
            active_menu = menu_values.index(self.defaults[self.static_menu])
        figure = static_slider_figure(
            self.make_figure,
            self.static_parameter,
            values,
            fixed=fixed,
            active_index=values.index(self.defaults[self.static_parameter]),
            menu=menu,
            active_menu=active_menu,
        )
        top = figure.layout.margin.t if figure.layout.margin.t is not None else 80
        figure.update_layout(
            title_subtitle={"text": self.controls_note(), "font": {"size": 11, "color": "#666666"}},
            margin={"t": top + SUBTITLE_PX},
        )
        if figure.layout.height is not None:
            figure.update_layout(height=figure.layout.height + SUBTITLE_PX)
        return figure

    def widget(self) -> Any:
        """The live ipywidgets panel (controls above an output area holding the figure)."""

        controls = {}
        # full names (no "temperat..."), and each control as wide as its grid cell
        style = {"description_width": "initial"}
        layout = {"width": "auto"}
        for name, values in self.controls.items():
            if all(isinstance(v, str) for v in values):
                controls[name] = widgets.Dropdown(
                    options=values,
                    value=self.defaults[name],
                    description=name,
                    style=style,
                    layout=layout,
                )
            else:
                controls[name] = widgets.SelectionSlider(
                    options=[(_format_value(v), v) for v in values],
                    value=self.defaults[name],
                    description=name,
                    continuous_update=False,
                    style=style,
                    layout=layout,
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
        # a grid of cells at least CONTROL_MIN_PX wide: two or three per row in a notebook
        # column instead of five squeezed into one row
        grid = widgets.GridBox(
            list(controls.values()),
            layout=widgets.Layout(
                grid_template_columns=f"repeat(auto-fill, minmax({CONTROL_MIN_PX}px, 1fr))",
                grid_gap="4px 16px",
                width="100%",
            ),
        )
        return widgets.VBox([grid, output])

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget()._repr_mimebundle_())
        if static_twin_wanted():
            bundle.update(figure_mimebundle(self.static_figure()))
        bundle["text/plain"] = f"LiveFigure({', '.join(self.controls)}). {self.controls_note()}"
        return bundle
