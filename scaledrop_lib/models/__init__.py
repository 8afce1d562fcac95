"""Networks built from the library's layers: digits MLP/CNN, the 28x28 MNIST CNN, VGG-small,
ResNet-18/20, LeNet-5, and the segmentation U-Net / SegNet.

Every constructor takes the same options (see :class:`NetConfig`): which dropout the net
carries (Scale-Dropout, a baseline, or none), its probability, and where the scale sits
relative to BatchNorm. First and last layers are full precision unless
``binary_first_last=True`` (IR-Net's convention).
"""

from scaledrop_lib.models.config import PRECISIONS, NetConfig
from scaledrop_lib.models.digits import digits_cnn, digits_mlp
from scaledrop_lib.models.lenet import lenet5
from scaledrop_lib.models.mnist import mnist_cnn
from scaledrop_lib.models.resnet import resnet18, resnet20
from scaledrop_lib.models.segnets import BinarySegNet, BinaryUNet, segnet, unet
from scaledrop_lib.models.stages import (
    PrefixObstacle,
    PrefixSupport,
    Stage,
    binary_layer_of,
    iter_stages,
    prefix_support,
)
from scaledrop_lib.models.units import PLACEMENTS, ScaledBinaryUnit
from scaledrop_lib.models.vgg import vgg_small

__all__ = [
    "PLACEMENTS",
    "PRECISIONS",
    "BinarySegNet",
    "BinaryUNet",
    "NetConfig",
    "PrefixObstacle",
    "PrefixSupport",
    "ScaledBinaryUnit",
    "Stage",
    "binary_layer_of",
    "digits_cnn",
    "digits_mlp",
    "iter_stages",
    "lenet5",
    "mnist_cnn",
    "prefix_support",
    "resnet18",
    "resnet20",
    "segnet",
    "unet",
    "vgg_small",
]
