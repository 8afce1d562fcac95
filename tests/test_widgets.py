import plotly.graph_objects as go
import pytest

from scaledrop_lib.viz.book import PLOTLY_MIME
from scaledrop_lib.viz.widgets import (
    STATIC_TWINS_ENV,
    LiveFigure,
    figure_mimebundle,
    static_slider_figure,
    static_twin_wanted,
)


def bar_figure(height: float, color: str = "red") -> go.Figure:
    fig = go.Figure([go.Bar(x=["a"], y=[height], marker_color=color), go.Scatter(y=[height])])
    fig.update_layout(title=f"height {height}")
    return fig


def test_static_slider_shows_exactly_the_figure_of_each_value():
    values = [1.0, 2.0, 3.0]
    fig = static_slider_figure(
        bar_figure, "height", values, fixed={"color": "blue"}, active_index=1
    )
    assert len(fig.data) == 2 * len(values)
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["1", "2", "3"]
    for step, value in zip(steps, values, strict=True):
        visible = step.args[0]["visible"]
        shown = [trace for trace, v in zip(fig.data, visible, strict=True) if v]
        assert [t.y[0] for t in shown] == [value, value]
        assert shown[0].marker.color == "blue"
        assert step.args[1]["title.text"] == f"height {value}"
    # only the active value's traces start visible
    assert [t.visible for t in fig.data] == [False, False, True, True, False, False]


def test_static_slider_rejects_changing_trace_counts_and_bad_input():
    def uneven(n: int) -> go.Figure:
        return go.Figure([go.Scatter(y=[i]) for i in range(n)])

    with pytest.raises(ValueError, match="different numbers of traces"):
        static_slider_figure(uneven, "n", [1, 2])
    with pytest.raises(ValueError, match="values must not be empty"):
        static_slider_figure(uneven, "n", [])
    with pytest.raises(ValueError, match="active_index"):
        static_slider_figure(uneven, "n", [1], active_index=3)


def test_live_figure_bundle_carries_widget_and_static_twin(monkeypatch):
    monkeypatch.delenv(STATIC_TWINS_ENV, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    live = LiveFigure(bar_figure, {"height": [1.0, 2.0], "color": ["red", "green"]})
    bundle = live._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    static = bundle[PLOTLY_MIME]
    assert len(static["data"]) == 4
    assert static["layout"]["sliders"][0]["currentvalue"]["prefix"] == "height = "
    # defaults: the middle value of each control
    assert live.defaults == {"height": 2.0, "color": "green"}


def test_a_jupyter_server_session_skips_the_static_twin(monkeypatch):
    built = []

    def counted(height: float) -> go.Figure:
        built.append(height)
        return bar_figure(height)

    live = LiveFigure(counted, {"height": [1.0, 2.0, 3.0]})
    monkeypatch.delenv(STATIC_TWINS_ENV, raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/student/02_scale_dropout.ipynb")
    assert not static_twin_wanted()
    bundle = live._repr_mimebundle_()
    assert PLOTLY_MIME not in bundle and "application/vnd.jupyter.widget-view+json" in bundle
    assert built == [2.0]  # only the live figure: no grid was computed
    monkeypatch.setenv(STATIC_TWINS_ENV, "1")  # the override wins over the session
    assert PLOTLY_MIME in live._repr_mimebundle_()
    monkeypatch.delenv("JPY_SESSION_NAME")
    monkeypatch.setenv(STATIC_TWINS_ENV, "0")
    assert not static_twin_wanted()
    monkeypatch.setenv(STATIC_TWINS_ENV, "yes")
    with pytest.raises(ValueError, match=STATIC_TWINS_ENV):
        static_twin_wanted()


def test_live_controls_sit_in_a_grid_with_their_full_names():
    controls = {n: [1.0, 2.0] for n in ("height", "temperature", "crossbar", "layer")}
    panel = LiveFigure(lambda **kw: bar_figure(kw["height"]), controls).widget()
    grid = panel.children[0]
    assert "auto-fill" in grid.layout.grid_template_columns  # wraps instead of one squeezed row
    for control in grid.children:
        assert control.style.description_width == "initial"
        assert control.layout.width == "auto"


def test_live_widget_redraws_when_a_control_moves():
    live = LiveFigure(bar_figure, {"height": [1.0, 2.0, 3.0]}, defaults={"height": 1.0})
    panel = live.widget()
    slider = panel.children[0].children[0]
    output = panel.children[1]
    assert output.outputs[0]["data"] == figure_mimebundle(bar_figure(1.0))
    slider.value = 3.0
    assert output.outputs[0]["data"] == figure_mimebundle(bar_figure(3.0))
    assert len(output.outputs) == 1


def test_live_figure_validates_its_arguments():
    with pytest.raises(ValueError, match="controls must name"):
        LiveFigure(bar_figure, {})
    with pytest.raises(ValueError, match=r"controls\['height'\] offers no values"):
        LiveFigure(bar_figure, {"height": []})
    with pytest.raises(ValueError, match="defaults names 'width'"):
        LiveFigure(bar_figure, {"height": [1.0]}, defaults={"width": 1})
    with pytest.raises(ValueError, match=r"defaults\['height'\] = 5"):
        LiveFigure(bar_figure, {"height": [1.0]}, defaults={"height": 5})
    with pytest.raises(ValueError, match="static_parameter 'color'"):
        LiveFigure(bar_figure, {"height": [1.0]}, static_parameter="color")


def subplot_figure(height: float, color: str = "red", width: int = 1) -> go.Figure:
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=[f"left {height}", f"right {color}"])
    fig.add_bar(x=["a"], y=[height], marker_color=color, row=1, col=1)
    fig.add_scatter(y=[height], row=1, col=2)
    fig.update_layout(title=f"{color} at {height}")
    return fig


def test_menu_and_slider_show_exactly_the_figure_of_each_pair():
    heights, colors = [1.0, 2.0, 3.0], ["red", "green"]
    fig = static_slider_figure(
        subplot_figure, "height", heights, active_index=2, menu=("color", colors), active_menu=1
    )
    assert len(fig.data) == 2 * len(heights) * len(colors)
    assert len(fig.layout.sliders) == len(colors)
    # only the active pair's traces start visible, and only its own slider
    shown = [t for t in fig.data if t.visible]
    assert [t.y[0] for t in shown] == [3.0, 3.0] and shown[0].marker.color == "green"
    assert [s.visible for s in fig.layout.sliders] == [False, True]
    for j, color in enumerate(colors):
        for step, height in zip(fig.layout.sliders[j].steps, heights, strict=True):
            picked = [t for t, v in zip(fig.data, step.args[0]["visible"], strict=True) if v]
            assert [t.y[0] for t in picked] == [height, height]
            assert picked[0].marker.color == color
            # the title and the subplot titles follow the slider
            assert step.args[1]["title.text"] == f"{color} at {height}"
            texts = [a["text"] for a in step.args[1]["annotations"]]
            assert texts == [f"left {height}", f"right {color}"]
    for j, button in enumerate(fig.layout.updatemenus[0].buttons):
        picked = [t for t, v in zip(fig.data, button.args[0]["visible"], strict=True) if v]
        assert [t.y[0] for t in picked] == [3.0, 3.0] and picked[0].marker.color == colors[j]
        assert button.args[1][f"sliders[{j}].active"] == 2
        assert [button.args[1][f"sliders[{k}].visible"] for k in range(2)] == [
            k == j for k in (0, 1)
        ]
        assert button.label == f"color = {colors[j]}"
    with pytest.raises(ValueError, match="both vary 'height'"):
        static_slider_figure(subplot_figure, "height", heights, menu=("height", heights))

    def heat(height: float, color: str) -> go.Figure:
        return go.Figure(go.Heatmap(z=[[height]]))

    with pytest.raises(ValueError, match="cannot switch heatmap"):
        static_slider_figure(heat, "height", heights, menu=("color", colors))
    with pytest.raises(ValueError, match="active_menu"):
        static_slider_figure(
            subplot_figure, "height", heights, menu=("color", colors), active_menu=2
        )


def test_live_figure_twin_offers_the_chosen_controls_and_says_so():
    live = LiveFigure(
        subplot_figure,
        {"height": [1.0, 2.0, 3.0, 4.0], "color": ["red", "green", "blue"], "width": [1, 2]},
        defaults={"height": 2.0, "color": "red"},
        static_menu="color",
        static_values={"height": [1.0, 2.0]},
    )
    assert live.controls_note() == (
        "In the book: height (slider), color (menu) (fewer values of height); "
        "live in JupyterLab also: width"
    )
    static = live.static_figure()
    assert len(static.data) == 2 * 2 * 3  # traces x heights x colors
    assert static.layout.title.subtitle.text == live.controls_note()
    assert live.controls_note() in live._repr_mimebundle_()["text/plain"]
    with pytest.raises(ValueError, match="must include the default 2.0"):
        LiveFigure(subplot_figure, {"height": [1.0, 2.0]}, static_values={"height": [1.0]})
    with pytest.raises(ValueError, match="static_menu 'size' is not a control"):
        LiveFigure(subplot_figure, {"height": [1.0]}, static_menu="size")
    with pytest.raises(ValueError, match="not a static control"):
        LiveFigure(
            subplot_figure, {"height": [1.0], "color": ["red"]}, static_values={"color": ["red"]}
        )
