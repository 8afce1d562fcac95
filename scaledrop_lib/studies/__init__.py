"""The experiments behind the chapters: each runs models and metrics and returns a result to show.

Modules
-------
placement      Does the scale survive BatchNorm? Measurements behind the choice of scale placement
sweeps         Headline MC numbers of a model, and how the MC estimate settles as T grows (chapter
               3)
shift          Evaluating uncertainty under shift: rotation sweeps (Fig. 6) and OOD detection (Table
               V)
segmentation   Segmentation under distribution shift: Table IV metrics and uncertainty as shift
               grows
variation      Accuracy of a Scale-Dropout model whose bits come from varying MTJ devices (Table
               III, ch. 6)
mechanism      Where Scale-Dropout can act: per-layer sign flips, threshold shifts, the MC estimate
               against the exact mixture, a method's uncertainty against the deterministic softmax
sensitivity    The 28x28 MNIST methods over seeds and the one-factor sweep of what the paper leaves
               open (a command writing committed results)
cifar          Chapter 4's study on CIFAR-10: train VGG-small variants, then Fig. 6 and Table V
"""

from scaledrop_lib.studies.mechanism import (
    Convergence,
    LayerMechanism,
    UncertaintySummary,
    layer_mechanisms,
    mc_convergence,
    uncertainty_summary,
)
from scaledrop_lib.studies.placement import (
    PlacementReport,
    alpha_gradient_norm,
    alpha_shift,
    dropped_scale_effect,
    measure_placement,
    sign_flip_fractions,
)
from scaledrop_lib.studies.segmentation import (
    SHORT_METRIC_NAMES,
    ShiftCurve,
    metrics_table,
    segmentation_under_shift,
)
from scaledrop_lib.studies.shift import (
    SCORES,
    NoiseLadder,
    OODReport,
    Predictor,
    RotationSweep,
    deterministic_predictor,
    ensemble_predictor,
    mc_predictor,
    noise_ladder,
    ood_report,
    paper_table_v,
    rotation_sweep,
)
from scaledrop_lib.studies.sweeps import (
    MCSummary,
    TSweep,
    mc_summary,
    stack_sweeps,
    sweep_T,
)
from scaledrop_lib.studies.variation import (
    accuracy_under_variation,
)

__all__ = [
    "SCORES",
    "SHORT_METRIC_NAMES",
    "Convergence",
    "LayerMechanism",
    "MCSummary",
    "NoiseLadder",
    "OODReport",
    "PlacementReport",
    "Predictor",
    "RotationSweep",
    "ShiftCurve",
    "TSweep",
    "UncertaintySummary",
    "accuracy_under_variation",
    "alpha_gradient_norm",
    "alpha_shift",
    "deterministic_predictor",
    "dropped_scale_effect",
    "ensemble_predictor",
    "layer_mechanisms",
    "mc_convergence",
    "mc_predictor",
    "mc_summary",
    "measure_placement",
    "metrics_table",
    "noise_ladder",
    "ood_report",
    "paper_table_v",
    "rotation_sweep",
    "segmentation_under_shift",
    "sign_flip_fractions",
    "stack_sweeps",
    "sweep_T",
    "uncertainty_summary",
]
