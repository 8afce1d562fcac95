import numpy as np
import plotly.io as pio
import pytest

from scaledrop_lib.viz.plotting import (
    METHOD_COLORS,
    TEMPLATE_NAME,
    image_grid,
    line_figure,
    method_color,
    use_book_style,
)


def test_book_style_sets_lean_template_and_json_renderer():
    use_book_style()
    assert pio.templates.default == TEMPLATE_NAME
    assert pio.renderers.default == TEMPLATE_NAME
    # the template travels inside every stored figure: it must stay small
    assert len(pio.templates[TEMPLATE_NAME].to_plotly_json().__repr__()) < 2000


def test_method_colours_are_distinct_and_unknown_names_fail():
    assert len(set(METHOD_COLORS.values())) == len(METHOD_COLORS)
    assert method_color("MC-Scale-Dropout") == METHOD_COLORS["MC-Scale-Dropout"]
    with pytest.raises(KeyError, match="no colour for method 'nope'"):
        method_color("nope")


def test_line_figure_colours_named_methods_and_checks_lengths():
    fig = line_figure(
        [1, 2], {"MC-Dropout": [0.1, 0.2], "other": [1, 2]}, title="t", x_title="x", y_title="y"
    )
    assert fig.data[0].line.color == METHOD_COLORS["MC-Dropout"]
    assert fig.data[1].line.color is None
    with pytest.raises(ValueError, match="series 'a' has 1 values but x has 2"):
        line_figure([1, 2], {"a": [1]}, title="t", x_title="x", y_title="y")


def test_line_figure_error_bars_and_log_axis():
    fig = line_figure(
        [1, 10],
        {"a": [0.1, 0.2], "b": [1, 2]},
        errors={"a": [0.01, 0.02]},
        log_x=True,
        title="t",
        x_title="x",
        y_title="y",
    )
    assert list(fig.data[0].error_y.array) == [0.01, 0.02] and fig.data[1].error_y.array is None
    assert fig.layout.xaxis.type == "log"
    with pytest.raises(ValueError, match="do not exist"):
        line_figure([1], {"a": [1]}, errors={"c": [1]}, title="t", x_title="x", y_title="y")
    with pytest.raises(ValueError, match="errors of 'a' has 2 values"):
        line_figure([1], {"a": [1]}, errors={"a": [1, 2]}, title="t", x_title="x", y_title="y")


def test_image_grid_flips_rows_so_the_image_is_upright():
    image = np.arange(6, dtype=float).reshape(2, 3)
    fig = image_grid([image[None]], ["one"], columns=1)
    # heatmaps draw row 0 at the bottom; image_grid flips so row 0 is at the top
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), image[::-1])
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        image_grid([image, image], ["a"])
    with pytest.raises(ValueError, match=r"images\[0\] must be 2-D"):
        image_grid([np.zeros((2, 2, 2))], ["a"])


def test_segmentation_panels_store_png_input_and_masks_and_8_bit_maps():
    import base64
    import io

    import numpy as np
    from PIL import Image

    from scaledrop_lib.viz.plotting import segmentation_panels

    rng = np.random.default_rng(0)
    image = rng.random((3, 6, 5))
    mask = (rng.random((1, 6, 5)) > 0.5).astype(float)
    uncertainty = rng.random((6, 5))
    fig = segmentation_panels(image, {"mask": mask, "uncertainty": uncertainty})
    assert [t.type for t in fig.data] == ["image", "image", "heatmap"]

    def decoded(trace):
        png = base64.b64decode(trace.source.split(",", 1)[1])
        return np.asarray(Image.open(io.BytesIO(png)))

    np.testing.assert_array_equal(
        decoded(fig.data[0]), np.round(image.transpose(1, 2, 0) * 255).astype(np.uint8)
    )
    # the 0/1 mask as a greyscale PNG, dark where the mask is 1 (gray_r, like the heatmaps)
    np.testing.assert_array_equal(decoded(fig.data[1]), np.where(mask[0] == 1, 0, 255))
    np.testing.assert_array_equal(np.asarray(fig.data[2].z), np.round(uncertainty * 255))
    with pytest.raises(ValueError, match="RGB"):
        segmentation_panels(image[0], {"mask": mask})
    with pytest.raises(ValueError, match="shape"):
        segmentation_panels(image, {"mask": mask[:, :3]})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        segmentation_panels(image, {"mask": mask * 2})


def test_chapter_setup_seeds_styles_and_sets_threads():
    import plotly.io as pio
    import torch

    from scaledrop_lib.viz.chapter import chapter_setup

    threads = torch.get_num_threads()
    try:
        chapter_setup(3, threads=1)
        assert torch.get_num_threads() == 1
        first = torch.rand(3)
        chapter_setup(3)
        assert torch.equal(torch.rand(3), first)  # the same seed, the same draws
        assert pio.templates.default == "scaledrop"
        assert pio.renderers.default == TEMPLATE_NAME
        with pytest.raises(ValueError, match="threads"):
            chapter_setup(0, threads=0)
    finally:
        torch.set_num_threads(threads)


def test_fit_to_column_removes_wide_fixed_widths_and_keeps_the_aspect():
    import plotly.graph_objects as go

    from scaledrop_lib.viz.plotting import COLUMN_WIDTH_PX, fit_to_column, image_grid

    wide = fit_to_column(go.Figure(layout={"width": 2 * COLUMN_WIDTH_PX, "height": 500}))
    assert wide.layout.width is None and wide.layout.height == 250
    narrow = fit_to_column(go.Figure(layout={"width": 400, "height": 300}))
    assert (narrow.layout.width, narrow.layout.height) == (400, 300)
    grid = image_grid([np.zeros((8, 8))] * 10, [str(i) for i in range(10)], columns=10)
    assert grid.layout.width is None or grid.layout.width <= COLUMN_WIDTH_PX


def test_static_slider_keeps_room_below_the_axis_titles():
    import plotly.graph_objects as go

    from scaledrop_lib.viz.widgets import SLIDER_BAND_PX, static_slider_figure

    def make(a):
        return go.Figure(go.Scatter(x=[0, 1], y=[a, a]), layout={"height": 300, "title": f"a={a}"})

    fig = static_slider_figure(make, "a", [1, 2])
    assert fig.layout.height == 300 + SLIDER_BAND_PX
    assert fig.layout.margin.b >= SLIDER_BAND_PX
    assert fig.layout.sliders[0].pad.t >= 60


def test_round_significant_matches_python_formatting():
    from scaledrop_lib.viz.plotting import round_significant

    rng = np.random.default_rng(0)
    values = rng.standard_normal(2000) * 10.0 ** rng.integers(-12, 12, 2000)
    ours = round_significant(values, 4)
    # an independent rounding: Python's own %g formatting, parsed back
    theirs = np.array([float(f"{v:.4g}") for v in values])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    special = round_significant([0.0, np.inf, -np.inf, np.nan], 4)
    assert special[0] == 0 and special[1] == np.inf and special[2] == -np.inf
    assert np.isnan(special[3])
    with pytest.raises(ValueError, match="digits"):
        round_significant(1.0, 0)


def test_figure_json_is_the_same_for_last_bit_float32_differences():
    import base64

    import plotly.graph_objects as go
    import torch

    from scaledrop_lib.viz.plotting import COLUMN_WIDTH_PX, figure_json

    y = np.array([0.00326916592707693, 0.0025056054287298244, 1.2345678, 987.65432])
    wobbled = y * (1 + 2e-7 * np.array([1, -1, 1, -1]))  # what another CPU's kernels give
    assert y.tolist() != wobbled.tolist()

    def figure(values):
        fig = go.Figure(layout={"width": 760, "height": 380})
        fig.add_scatter(x=[1, 2, 3, 4], y=list(values))  # plain floats
        fig.add_scatter(y=np.asarray(values, dtype=np.float32))  # a typed array (bdata)
        fig.add_scatter(y=torch.tensor(values).numpy())  # float64 bdata
        return fig

    a, b = figure_json(figure(y)), figure_json(figure(wobbled))
    assert a == b
    assert a["data"][0]["y"] == [0.003269, 0.002506, 1.235, 987.7]
    typed = a["data"][1]["y"]
    decoded = np.frombuffer(base64.b64decode(typed["bdata"]), dtype=typed["dtype"])
    np.testing.assert_allclose(decoded, [0.003269, 0.002506, 1.235, 987.7], rtol=1e-6)
    # the size rule travels with it, and the caller's figure keeps its own width
    original = figure(y)
    out = figure_json(original)
    assert "width" not in out["layout"] and out["layout"]["height"] == round(
        380 * COLUMN_WIDTH_PX / 760
    )
    assert original.layout.width == 760


def test_every_displayed_figure_goes_through_figure_json():
    import plotly.graph_objects as go

    from scaledrop_lib.viz.book import PLOTLY_MIME
    from scaledrop_lib.viz.plotting import figure_json

    use_book_style()
    fig = go.Figure(go.Scatter(y=[1 / 3, 2 / 3]), layout={"width": 1000, "height": 500})
    bundle = pio.renderers._build_mime_bundle(fig.to_dict())
    assert bundle[PLOTLY_MIME]["data"] == figure_json(fig)["data"]
    assert bundle[PLOTLY_MIME]["data"][0]["y"] == [0.3333, 0.6667]
    assert "width" not in bundle[PLOTLY_MIME]["layout"]
