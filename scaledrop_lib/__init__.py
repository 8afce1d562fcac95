"""scaledrop: a teaching workbench for Scale-Dropout (Ahmed et al., arXiv 2311.15816).

Each module implements one idea of the paper; the chapter notebooks only call them.

Modules
-------
data       embedded 8x8 digits (scikit-learn) as torch datasets with a fixed split
plotting   the book's plotly template and colours
widgets    ipywidgets panels with a static plotly twin for the HTML book
progress   progress bars that read well in JupyterLab, the book and CI logs
book       Jupyter Book glue: offline plotly rendering in the HTML build
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
