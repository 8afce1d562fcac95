"""Everything the book shows: the plotly style, figures, widgets and the myst-nb glue.

The only part of the package that imports plotly or ipywidgets.

Modules
-------
chapter        The first call of every chapter: seeds, threads and the book's figure style in one
               line
plotting       The book's plotly look: one template, one colour per method, used by every chapter
figures        Figures built from the library's results: reliability diagrams, the crossbar mapping
               picture, shift curves over training seeds
mechanism      Figures of the mechanism chapter: sign invariance, MC convergence, the sensitivity
               sweep
widgets        Interactive figures that stay live in JupyterLab and still show something in the HTML
               book
book           Jupyter Book glue: plotly figures that draw offline in the HTML book
"""

from scaledrop_lib.viz.book import (
    PLOTLY_JS,
    PLOTLY_MIME,
    PlotlyMimeRenderer,
    figure_html,
    plotly_js_path,
)
from scaledrop_lib.viz.chapter import (
    chapter_setup,
)
from scaledrop_lib.viz.figures import (
    bit_packing_figure,
    mapping_figure,
    reliability_diagram,
    shift_curves_figure,
)
from scaledrop_lib.viz.mechanism import (
    convergence_figure,
    sensitivity_figure,
    sign_invariance_figure,
)
from scaledrop_lib.viz.plotting import (
    METHOD_COLORS,
    SEQUENCE_COLORS,
    TEMPLATE_NAME,
    book_template,
    figure_json,
    image_grid,
    line_figure,
    mc_samples_figure,
    method_color,
    round_significant,
    segmentation_panels,
    use_book_style,
)
from scaledrop_lib.viz.widgets import (
    FigureBuilder,
    LiveFigure,
    figure_mimebundle,
    static_slider_figure,
)

__all__ = [
    "METHOD_COLORS",
    "PLOTLY_JS",
    "PLOTLY_MIME",
    "SEQUENCE_COLORS",
    "TEMPLATE_NAME",
    "FigureBuilder",
    "LiveFigure",
    "PlotlyMimeRenderer",
    "bit_packing_figure",
    "book_template",
    "chapter_setup",
    "convergence_figure",
    "figure_html",
    "figure_json",
    "figure_mimebundle",
    "image_grid",
    "line_figure",
    "mapping_figure",
    "mc_samples_figure",
    "method_color",
    "plotly_js_path",
    "reliability_diagram",
    "round_significant",
    "segmentation_panels",
    "sensitivity_figure",
    "shift_curves_figure",
    "sign_invariance_figure",
    "static_slider_figure",
    "use_book_style",
]
