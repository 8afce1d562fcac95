"""The paper's published numbers, as data, in one place (the paper's, never ours).

Each table is labelled with its number in arXiv 2311.15816; the chapters print them beside our
measurements. Table II's per-operation energies are the defaults of
:class:`scaledrop_lib.hardware.cim.EnergyCosts` and Table VII's module figures are
:data:`scaledrop_lib.hardware.cim.MODULE_AREA_UM2` and its neighbours, because the energy model
computes with them.
"""

from __future__ import annotations

from dataclasses import dataclass

METRIC_NAMES = (
    "pixel_accuracy",
    "iou",
    "auc",
    "f1",
    "sensitivity",
    "specificity",
    "precision",
)
"""Table IV's columns in its order: the keys of
:func:`scaledrop_lib.metrics.segmentation.segmentation_metrics`."""


PAPER_TABLE_IV: dict[str, dict[str, float]] = {
    "U-Net, Skin Cancer, MC-Dropout 32/32": dict(
        zip(METRIC_NAMES, (95.05, 81.67, 98.86, 89.91, 84.74, 98.67, 95.74), strict=True)
    ),
    "U-Net, Skin Cancer, Proposed 1/4": dict(
        zip(METRIC_NAMES, (96.75, 88.07, 99.4, 93.66, 92.31, 98.31, 95.04), strict=True)
    ),
    "SegNet, Breast Cancer, MC-Dropout 32/32": dict(
        zip(METRIC_NAMES, (97.83, 71.82, 96.40, 83.21, 78.23, 99.28, 88.86), strict=True)
    ),
    "SegNet, Breast Cancer, SpinDrop 1/4": dict(
        zip(METRIC_NAMES, (97.47, 68.17, 95.48, 80.13, 74.25, 99.18, 87.02), strict=True)
    ),
    "SegNet, Breast Cancer, Proposed 1/4": dict(
        zip(METRIC_NAMES, (97.69, 69.69, 96.69, 82.14, 77.19, 99.21, 87.76), strict=True)
    ),
    "SegNet, Lung CT, MC-Dropout 32/32": dict(
        zip(METRIC_NAMES, (99.51, 72.88, 99.39, 84.32, 86.99, 99.7, 81.8), strict=True)
    ),
    "SegNet, Lung CT, Proposed 1/4": dict(
        zip(METRIC_NAMES, (99.55, 74.43, 99.69, 85.34, 85.84, 99.76, 84.85), strict=True)
    ),
}
"""The paper's Table IV (percent; p = 0.2, T = 20; bit-widths W/A). Quoted for context."""


PAPER_TABLE_V: dict[str, dict[str, dict[str, float | None]]] = {
    "VGG": {
        "Proposed (MC-Scale-Dropout)": dict(
            D1=95.36, D2=95.40, D3=96.19, D4=88.73, D5=98.02, D6=85.24
        ),
        "MC-Spatial-Dropout [35]": dict(D1=99.99, D2=100.0, D3=92.9, D4=78.91, D5=99.81, D6=100.0),
        "SpinBayes [31]": dict(D1=99.86, D2=None, D3=94.35, D4=None, D5=80.33, D6=89.31),
    },
    "ResNet-18": {
        "Proposed (MC-Scale-Dropout)": dict(
            D1=100.0, D2=100.0, D3=97.49, D4=77.77, D5=91.53, D6=78.61
        ),
        "MC-Spatial-Dropout [35]": dict(D1=100.0, D2=100.0, D3=100.0, D4=92.26, D5=99.98, D6=97.39),
    },
    "ResNet-20": {
        "Proposed (MC-Scale-Dropout)": dict(
            D1=96.51, D2=100.0, D3=90.34, D4=93.55, D5=100.0, D6=99.8
        ),
        "MC-Spatial-Dropout [35]": dict(D1=97.2, D2=100.0, D3=90.79, D4=87.94, D5=99.03, D6=99.81),
    },
}
"""The paper's Table V (OOD detection rate in %, Eq. 24, CIFAR-10 models; D5 = SVHN,
D6 = STL-10; "-" printed as None). Quoted for context: its methods and data are not ours."""


#: The paper's Table III (Sec. VI-E3; CIFAR-10 accuracy in %, MC-Scale-Dropout, dropout bits
#: from MTJs at 0x-3x the device variation). Quoted for context: the paper's, never ours.
PAPER_TABLE_III: dict[str, dict[str, float | tuple[float, ...]]] = {
    "ResNet-18": {
        "baseline": 91.52,
        "trained with": (91.77, 91.78, 91.77, 91.71),
        "trained without": (91.61, 91.65, 91.59, 91.58),
    },
    "VGG": {
        "baseline": 90.45,
        "trained with": (90.45, 90.52, 90.52, 90.55),
        "trained without": (90.26, 90.28, 90.26, 90.30),
    },
}
PAPER_TABLE_III_LEVELS = (0.0, 1.0, 2.0, 3.0)


@dataclass(frozen=True)
class PublishedDesign:
    work: str
    reference: str  # the paper's citation number
    technology: str
    bits: str
    energy_uj_per_image: float


#: Table VIII of the paper, as published (energy per image; the paper's numbers, not ours).
TABLE_VIII: tuple[PublishedDesign, ...] = (
    PublishedDesign("R. Cai et al.", "[56]", "FPGA", "8-bit", 18.97),
    PublishedDesign("X. Jia et al.", "[57]", "FPGA", "8-bit", 46.00),
    PublishedDesign("H. Awano et al.", "[26]", "FPGA", "7-bit", 21.09),
    PublishedDesign("A. Malhotra et al.", "[27]", "RRAM", "4-bit", 9.30),
    PublishedDesign("S. T. Ahmed et al. (SpinDrop)", "[29]", "STT-MRAM", "1-bit", 2.00),
    PublishedDesign("S. T. Ahmed et al. (Spatial-SpinDrop)", "[35]", "STT-MRAM", "1-bit", 0.68),
    PublishedDesign("K. Yang et al.", "[32]", "Domain wall-MTJ", "4-bit", 0.79),
    PublishedDesign("Proposed (Scale-Dropout)", "this paper", "SOT-MRAM", "1-bit", 0.18),
)


@dataclass(frozen=True)
class PublishedAccuracy:
    """One row of the paper's Table VI (CIFAR-10 accuracy in %, as printed)."""

    topology: str
    method: str
    bits: str
    bayesian: bool
    accuracy: float


#: The paper's Table VI (CIFAR-10; the paper's numbers, not ours). Its caption says
#: "MC-SparialDropout"; the rows are the proposed MC-Scale-Dropout.
PAPER_TABLE_VI: tuple[PublishedAccuracy, ...] = tuple(
    PublishedAccuracy(t, m, b, y, a)
    for t, m, b, y, a in (
        ("ResNet-18", "FP", "32/32", False, 93.0),
        ("ResNet-18", "RAD [52]", "1/1", False, 90.5),
        ("ResNet-18", "IR-Net [22]", "1/1", False, 91.5),
        ("ResNet-18", "SpinDrop [29]", "1/1", True, 90.48),
        ("ResNet-18", "Spatial-SpinDrop [35]", "1/1", True, 91.34),
        ("ResNet-18", "Proposed", "1/1", True, 91.52),
        ("ResNet-20", "FP", "32/32", False, 91.7),
        ("ResNet-20", "DoReFa [53]", "1/1", False, 79.3),
        ("ResNet-20", "DSQ [54]", "1/1", False, 84.1),
        ("ResNet-20", "IR-Net [22]", "1/1", False, 85.4),
        ("ResNet-20", "Spatial-SpinDrop [35]", "1/1", False, 84.71),
        ("ResNet-20", "Proposed", "1/1", True, 86.04),
        ("VGG", "FP", "32/32", False, 91.7),
        ("VGG", "LAB [55]", "1/1", False, 87.7),
        ("VGG", "XNOR [20]", "1/1", False, 89.8),
        ("VGG", "BNN [7]", "1/1", False, 89.9),
        ("VGG", "RAD [52]", "1/1", False, 90.0),
        ("VGG", "IR-Net [22]", "1/1", False, 90.4),
        ("VGG", "SpinDrop [29]", "1/1", True, 91.95),
        ("VGG", "Spatial-SpinDrop [35]", "1/1", True, 90.34),
        ("VGG", "Proposed", "1/1", True, 90.45),
    )
)
