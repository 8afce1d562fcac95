"""Training and keeping models: one Eq. 17 trainer for every task, checkpoints, the zoo.

Modules
-------
train          Training with the paper's objective (Eq. 17), early stopping, and safe checkpoints
resume         Resumable training: what ``fit`` saves and checks to continue an interrupted run
checkpoints    Checkpoints: atomic save, checksummed all-or-nothing load, and the file hash the
               zoo manifest records
zoo            Small pretrained checkpoints, so chapters load models instead of training them
results        Committed result files: evaluations too slow to run live in a chapter
rebuild_zoo    The command that retrains the zoo: ``python -m scaledrop_lib.routines.rebuild_zoo
               [names]``
"""

from scaledrop_lib.routines.checkpoints import (
    CHECKPOINT_FORMAT,
    content_sha256,
    file_sha256,
    load_checkpoint,
    load_training_state,
    plain_metadata,
    save_checkpoint,
    save_training_state,
)
from scaledrop_lib.routines.results import (
    load_result,
    read_results_manifest,
    save_result,
)
from scaledrop_lib.routines.train import (
    CLASSIFICATION,
    SEGMENTATION,
    History,
    Task,
    evaluate,
    fit,
    objective,
    scale_regularizer,
    scale_vectors,
    seed_everything,
    soft_dice_loss,
    weight_l2,
)
from scaledrop_lib.routines.zoo import (
    ARCHITECTURES,
    CHECKPOINT_DIR,
    ENSEMBLE_SIZE,
    MANIFEST,
    MNIST_METHODS,
    MNIST_SEEDS,
    REBUILD_COMMAND,
    RECIPES,
    TASKS,
    VARIATION_SEEDS,
    Recipe,
    build,
    checkpoint_path,
    get_recipe,
    lesion_test_iou,
    load_ensemble,
    load_mnist_ensemble,
    load_pretrained,
    mnist_recipe_name,
    read_manifest,
    recipes_of_task,
    train_recipe,
)

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_DIR",
    "CHECKPOINT_FORMAT",
    "CLASSIFICATION",
    "ENSEMBLE_SIZE",
    "MANIFEST",
    "MNIST_METHODS",
    "MNIST_SEEDS",
    "REBUILD_COMMAND",
    "RECIPES",
    "SEGMENTATION",
    "TASKS",
    "VARIATION_SEEDS",
    "History",
    "Recipe",
    "Task",
    "build",
    "checkpoint_path",
    "content_sha256",
    "evaluate",
    "file_sha256",
    "fit",
    "get_recipe",
    "lesion_test_iou",
    "load_checkpoint",
    "load_ensemble",
    "load_mnist_ensemble",
    "load_pretrained",
    "load_result",
    "load_training_state",
    "mnist_recipe_name",
    "objective",
    "plain_metadata",
    "read_manifest",
    "read_results_manifest",
    "recipes_of_task",
    "save_checkpoint",
    "save_result",
    "save_training_state",
    "scale_regularizer",
    "scale_vectors",
    "seed_everything",
    "soft_dice_loss",
    "train_recipe",
    "weight_l2",
]
