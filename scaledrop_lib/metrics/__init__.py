"""Pure functions of predictions and labels: uncertainty, scores, calibration, OOD, segmentation.

Modules
-------
predictive     The predictive distribution of T Monte-Carlo samples (Eq. 18-21) and its information
               measures
classification Scores of one prediction per input (N, C) against labels: accuracy, NLL, Brier
calibration    Calibration: reliability-diagram bins and the expected calibration error (ECE)
ood            Out-of-distribution detection: AUROC, AUPR, FPR at a TPR, and the paper's rule (Eq.
               24)
segmentation   Segmentation metrics (Table IV), per-pixel MC uncertainty maps (Fig. 8), and Fig. 8's
               tests
statistics     Statistics over repeated runs: the Student-t interval of a mean, and where a curve
               settles
"""

from scaledrop_lib.metrics.calibration import (
    ReliabilityBins,
    expected_calibration_error,
    reliability_diagram_data,
)
from scaledrop_lib.metrics.classification import (
    accuracy,
    brier_score,
    negative_log_likelihood,
)
from scaledrop_lib.metrics.ood import (
    aupr,
    auroc,
    detection_rate,
    fpr_at_tpr,
    ood_rule,
    ood_rule_statistic,
)
from scaledrop_lib.metrics.predictive import (
    expected_entropy,
    mutual_information,
    normal_ci,
    percentile_ci,
    predictive_entropy,
    predictive_mean,
    predictive_variance,
    sample_mean_ci,
)
from scaledrop_lib.metrics.segmentation import (
    LUMA,
    ArrayLike,
    PixelMaps,
    UncertaintyErrorStats,
    binary_entropy,
    boundary_band,
    confusion_counts,
    mc_pixel_maps,
    otsu_segment,
    otsu_threshold,
    per_image_iou,
    pooled_iou,
    segmentation_metrics,
    uncertainty_error_stats,
)
from scaledrop_lib.metrics.statistics import (
    mean_confidence_interval,
    plateau_T,
)

__all__ = [
    "LUMA",
    "ArrayLike",
    "PixelMaps",
    "ReliabilityBins",
    "UncertaintyErrorStats",
    "accuracy",
    "aupr",
    "auroc",
    "binary_entropy",
    "boundary_band",
    "brier_score",
    "confusion_counts",
    "detection_rate",
    "expected_calibration_error",
    "expected_entropy",
    "fpr_at_tpr",
    "mc_pixel_maps",
    "mean_confidence_interval",
    "mutual_information",
    "negative_log_likelihood",
    "normal_ci",
    "ood_rule",
    "ood_rule_statistic",
    "otsu_segment",
    "otsu_threshold",
    "per_image_iou",
    "percentile_ci",
    "plateau_T",
    "pooled_iou",
    "predictive_entropy",
    "predictive_mean",
    "predictive_variance",
    "reliability_diagram_data",
    "sample_mean_ci",
    "segmentation_metrics",
    "uncertainty_error_stats",
]
