"""Tables render the same cells as HTML and as aligned text."""

import math
from html.parser import HTMLParser

import pytest

from scaledrop_lib.tables import Table


class Cells(HTMLParser):
    """Collects the text of every th/td, row by row (an independent reading of the HTML)."""

    def __init__(self):
        super().__init__()
        self.rows, self.caption, self._in = [], "", None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        if tag in ("th", "td", "caption"):
            self._in = tag
            if tag != "caption":
                self.rows[-1].append("")

    def handle_endtag(self, tag):
        self._in = None if tag == self._in else self._in

    def handle_data(self, data):
        if self._in == "caption":
            self.caption += data
        elif self._in:
            self.rows[-1][-1] += data


def sample() -> Table:
    return Table(
        ["method", "accuracy", "ECE"],
        [["MC <Scale> & Dropout", 0.98611, 0.0512], ["deterministic", 0.9, math.nan]],
        formats={"accuracy": ".2%", "ECE": ".3f"},
        title="Calibration",
        note="ours",
    )


def test_html_and_text_hold_the_same_cells():
    table = sample()
    parser = Cells()
    parser.feed(table._repr_html_())
    expected = [
        ["method", "accuracy", "ECE"],
        ["MC <Scale> & Dropout", "98.61%", "0.051"],
        ["deterministic", "90.00%", "n/a"],
    ]
    assert parser.rows == expected and parser.caption == "Calibration"
    assert "&lt;Scale&gt; &amp;" in table.to_html()  # escaped, not markup
    lines = str(table).splitlines()
    assert lines[0] == "Calibration" and lines[-1] == "ours"
    body = lines[1:2] + lines[3:-1]
    assert [line.split("  ")[0].strip() for line in body] == [r[0] for r in expected]
    # numbers end in one column (right-aligned), words start in one column
    assert len({line.index("%") for line in lines[3:-1]}) == 1
    assert repr(table) == str(table)


def test_missing_values_and_records():
    table = Table.from_records([{"a": 1, "b": None}, {"a": 2.5, "b": "x"}], formats={"a": ".1f"})
    assert table.to_text().splitlines()[2:] == ["1.0  -", "2.5  x"]


def test_bad_tables_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="unique"):
        Table(["a", "a"], [])
    with pytest.raises(ValueError, match=r"rows\[1\] has 1 values but there are 2 columns"):
        Table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match="unknown columns \\['c'\\]"):
        Table(["a"], [[1]], formats={"c": ".1f"})
    with pytest.raises(ValueError, match=r"records\[0\] lacks \['b'\]"):
        Table.from_records([{"a": 1}], columns=["a", "b"])
