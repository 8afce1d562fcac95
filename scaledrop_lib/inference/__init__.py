"""Running a model for predictions: Monte-Carlo sampling, its fast exact engine, its cost.

Modules
-------
mc             Monte-Carlo inference: T stochastic passes, one deterministic pass, an ensemble's
               passes
prefix         Exact Monte-Carlo Scale-Dropout with shared prefixes (a prefix tree of masks)
exact          The exact predictive distribution of layer-wise Scale-Dropout: a mixture of 2^L
               networks
cost           The analytic cost of prefix-shared Monte-Carlo inference
               (:mod:`scaledrop_lib.inference.prefix`)
segment        Segmentation inference: deterministic and Monte-Carlo foreground probabilities
               (chapter 5)
budget         Memory budget of Monte-Carlo inference: refuse a request before it exhausts memory
program        A model as a chain of steps (Sequentials and CifarResNets) and the backend that
               computes its binary layers (fp32 or packed bits): what the engines above run
xnor           Bit-packed XNOR-popcount products of the binary layers (numba kernels, optional;
               exact against the fp32 path; ``backend="xnor"``/``"auto"`` of the engines)
"""

from scaledrop_lib.inference.budget import (
    MAX_SAMPLE_BYTES,
    check_budget,
    check_sample_memory,
)
from scaledrop_lib.inference.cost import (
    StageCost,
    expected_cost_ratio,
    expected_runs,
    realized_cost_ratio,
    stage_costs,
)
from scaledrop_lib.inference.exact import (
    MAX_EXACT_LAYERS,
    MaskMixture,
    exact_predictive,
    pattern_weights,
)
from scaledrop_lib.inference.mc import (
    deterministic_predict,
    ensemble_predict,
    mc_predict,
)
from scaledrop_lib.inference.prefix import (
    PrefixStats,
    PrefixTree,
    expected_distinct_prefixes,
    mask_prefix_tree,
    prefix_shared_predict,
)
from scaledrop_lib.inference.segment import (
    deterministic_segment,
    mc_segment,
)
from scaledrop_lib.inference.xnor import (
    PackedLayer,
    PackedSigns,
    binary_layer_xnor_forward,
    pack_layer,
    pack_signs,
    xnor_available,
    xnor_conv2d,
    xnor_linear,
)

__all__ = [
    "MAX_EXACT_LAYERS",
    "MAX_SAMPLE_BYTES",
    "MaskMixture",
    "PackedLayer",
    "PackedSigns",
    "PrefixStats",
    "PrefixTree",
    "StageCost",
    "binary_layer_xnor_forward",
    "check_budget",
    "check_sample_memory",
    "deterministic_predict",
    "deterministic_segment",
    "ensemble_predict",
    "exact_predictive",
    "expected_cost_ratio",
    "expected_distinct_prefixes",
    "expected_runs",
    "mask_prefix_tree",
    "mc_predict",
    "mc_segment",
    "pack_layer",
    "pack_signs",
    "pattern_weights",
    "prefix_shared_predict",
    "realized_cost_ratio",
    "stage_costs",
    "xnor_available",
    "xnor_conv2d",
    "xnor_linear",
]
