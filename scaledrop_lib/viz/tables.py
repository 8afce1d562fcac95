"""Tables as text: the paper's published tables and ours, aligned for a terminal or a notebook."""

from __future__ import annotations

from scaledrop_lib.paper import METRIC_NAMES, PAPER_TABLE_V

_SHORT = {
    "pixel_accuracy": "pix-acc",
    "iou": "IoU",
    "auc": "AUC",
    "f1": "F1/Dice",
    "sensitivity": "sens",
    "specificity": "spec",
    "precision": "prec",
}


def metrics_table(rows: dict[str, dict[str, float]], percent_input: bool = False) -> str:
    """Rows of Table IV metrics as aligned text, in percent (``percent_input``: already %)."""
    if not rows:
        raise ValueError("rows must not be empty")
    width = max(len(name) for name in rows) + 2
    lines = [f"{'':<{width}}" + "".join(f"{_SHORT[m]:>9s}" for m in METRIC_NAMES)]
    for name, values in rows.items():
        missing = set(METRIC_NAMES) - set(values)
        if missing:
            raise ValueError(f"row {name!r} lacks {sorted(missing)}")
        scale = 1.0 if percent_input else 100.0
        lines.append(
            f"{name:<{width}}" + "".join(f"{scale * values[m]:8.2f}%" for m in METRIC_NAMES)
        )
    return "\n".join(lines)


def paper_table_v_text() -> str:
    """The paper's Table V as plain text, labelled as the paper's."""
    keys = ["D1", "D2", "D3", "D4", "D5", "D6"]
    lines = ["The paper's Table V (CIFAR-10; D5 = SVHN, D6 = STL-10), detection rate in %:"]
    lines.append(f"{'topology':<10}{'method':<29}" + "".join(f"{k:>8}" for k in keys))
    for topology, rows in PAPER_TABLE_V.items():
        for method, row in rows.items():
            cells = "".join("       -" if row[k] is None else f"{row[k]:8.2f}" for k in keys)
            lines.append(f"{topology:<10}{method:<29}{cells}")
    return "\n".join(lines)
