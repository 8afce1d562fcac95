"""Training and keeping models: the Eq. 17 trainer, the segmentation trainer, checkpoints, the zoo.

Modules
-------
train          Training with the paper's objective (Eq. 17), early stopping, and safe checkpoints
segmentation   Training segmentation nets with Scale-Dropout (chapter 5): the loss and the training
               loop
checkpoints    Checkpoints: atomic save, checksummed load, and the file hash the zoo manifest
               records
zoo            Small pretrained checkpoints, so chapters load models instead of training them
"""

from scaledrop_lib.routines.checkpoints import (
    CHECKPOINT_FORMAT,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
)
from scaledrop_lib.routines.segmentation import (
    SegHistory,
    fit_segmenter,
    pooled_iou,
    segmentation_loss,
    soft_dice_loss,
)
from scaledrop_lib.routines.train import (
    History,
    evaluate,
    fit,
    objective,
    scale_regularizer,
    scale_vectors,
    seed_everything,
    weight_l2,
)
from scaledrop_lib.routines.zoo import (
    ARCHITECTURES,
    CHECKPOINT_DIR,
    ENSEMBLE_SIZE,
    MANIFEST,
    REBUILD_COMMAND,
    RECIPES,
    TASKS,
    VARIATION_SEEDS,
    Recipe,
    build,
    checkpoint_path,
    lesion_test_iou,
    load_ensemble,
    load_pretrained,
    read_manifest,
    train_recipe,
)

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_DIR",
    "CHECKPOINT_FORMAT",
    "ENSEMBLE_SIZE",
    "MANIFEST",
    "REBUILD_COMMAND",
    "RECIPES",
    "TASKS",
    "VARIATION_SEEDS",
    "History",
    "Recipe",
    "SegHistory",
    "build",
    "checkpoint_path",
    "evaluate",
    "file_sha256",
    "fit",
    "fit_segmenter",
    "lesion_test_iou",
    "load_checkpoint",
    "load_ensemble",
    "load_pretrained",
    "objective",
    "pooled_iou",
    "read_manifest",
    "save_checkpoint",
    "scale_regularizer",
    "scale_vectors",
    "seed_everything",
    "segmentation_loss",
    "soft_dice_loss",
    "train_recipe",
    "weight_l2",
]
