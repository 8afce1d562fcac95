"""Segmentation training and MC prediction; the uncertainty claims of Fig. 8 on the trained
checkpoint, checked with scikit-learn / scipy rather than the library's own metrics."""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation, binary_erosion
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader

from scaledrop_lib.data.lesions import load_lesion_splits, make_lesions
from scaledrop_lib.inference.segment import deterministic_segment, mc_segment
from scaledrop_lib.layers.sampling import seed_dropout
from scaledrop_lib.metrics.segmentation import pooled_iou
from scaledrop_lib.models import NetConfig, segnet, unet
from scaledrop_lib.paper import METRIC_NAMES, PAPER_TABLE_IV
from scaledrop_lib.routines.train import fit, soft_dice_loss
from scaledrop_lib.routines.zoo import load_pretrained
from scaledrop_lib.studies.segmentation import metrics_table


def test_soft_dice_loss_by_hand():
    logits = torch.tensor([[10.0, -10.0], [10.0, -10.0]])  # sigmoid ~ [1, 0]
    masks = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    # intersection ~1, sums ~2 and 1: 1 - (2 + 1) / (2 + 1 + 1)
    assert float(soft_dice_loss(logits, masks)) == pytest.approx(0.25, abs=1e-3)
    assert float(soft_dice_loss(torch.full((4,), 20.0), torch.ones(4))) == pytest.approx(
        0, abs=1e-6
    )


def test_fit_segmenter_learns_and_keeps_the_best_epoch():
    data = make_lesions(48, size=32, seed=9)
    val = make_lesions(16, size=32, seed=10)
    torch.manual_seed(0)
    model = segnet(NetConfig(dropout="scale", p=0.2), widths=(8, 8, 16))
    loader = DataLoader(
        data, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    history = fit(
        model,
        loader,
        DataLoader(val, batch_size=64),
        task="segmentation",
        epochs=6,
        patience=None,
        progress=False,
    )
    assert history.score_name == "iou" and len(history.train_loss) == 6
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_score[history.best_epoch] == max(history.val_score)
    images, masks = val.tensors
    pred = deterministic_segment(model, images) > 0.5
    iou = float((pred & (masks > 0.5)).sum() / (pred | (masks > 0.5)).sum())
    assert iou == pytest.approx(
        history.val_score[history.best_epoch], abs=1e-6
    )  # best weights kept
    assert not model.training


def test_mc_segment_is_seeded_and_matches_deterministic_at_p0():
    torch.manual_seed(1)
    model = unet(widths=(8, 8, 8))
    for module in model.modules():
        if hasattr(module, "alpha") and isinstance(module.alpha, torch.nn.Parameter):
            if module.alpha.dim() == 1:
                module.alpha.data.uniform_(0.5, 1.5)
    x = torch.rand(3, 3, 16, 16)
    seed_dropout(model, 0)
    a = mc_segment(model, x, 4)
    seed_dropout(model, 0)
    b = mc_segment(model, x, 4)
    assert a.shape == (4, 3, 1, 16, 16) and torch.equal(a, b)
    assert (a.std(0) > 0).any()
    from scaledrop_lib.layers.sampling import set_dropout_p

    set_dropout_p(model, 0.0)
    torch.testing.assert_close(mc_segment(model, x, 2)[0], deterministic_segment(model, x))
    with pytest.raises(ValueError, match="images"):
        mc_segment(model, torch.rand(3, 16, 16), 2)


def test_metrics_table_layout_and_validation():
    row = dict.fromkeys(METRIC_NAMES, 0.5)
    text = str(metrics_table({"a": row}))
    assert "50.00%" in text and "IoU" in text.splitlines()[0]
    assert len(metrics_table(PAPER_TABLE_IV, percent_input=True).rows) == len(PAPER_TABLE_IV)
    with pytest.raises(ValueError, match="lacks"):
        metrics_table({"a": {"iou": 0.5}})


@pytest.fixture(scope="module")
def trained_unet_samples():
    model, metadata = load_pretrained("seg_unet_sd")
    images, masks = load_lesion_splits().test.tensors
    images, masks = images[:32], masks[:32]
    seed_dropout(model, 0)
    return mc_segment(model, images, 20), masks, metadata


def test_checkpoint_reproduces_its_recorded_iou_and_beats_otsu():
    from skimage.filters import threshold_otsu

    model, metadata = load_pretrained("seg_unet_sd")
    images, masks = load_lesion_splits().test.tensors
    pred = (deterministic_segment(model, images) > 0.5).numpy()
    target = masks.numpy() > 0.5
    iou = (pred & target).sum() / (pred | target).sum()
    assert iou == pytest.approx(metadata["test_iou"], abs=1e-6)
    grey = (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1).numpy()
    otsu = np.stack([g < threshold_otsu(g) for g in grey])[:, None]
    otsu_iou = (otsu & target).sum() / (otsu | target).sum()
    assert iou > otsu_iou + 0.1


def test_uncertainty_marks_errors_and_borders_on_the_trained_unet(trained_unet_samples):
    samples, masks, _ = trained_unet_samples
    mean = samples.mean(0).numpy().astype(np.float64)
    entropy = -(
        mean * np.log(np.clip(mean, 1e-12, 1)) + (1 - mean) * np.log(np.clip(1 - mean, 1e-12, 1))
    )
    target = masks.numpy() > 0.5
    wrong = (mean >= 0.5) != target
    assert 0 < wrong.mean() < 0.1
    assert roc_auc_score(wrong.ravel(), entropy.ravel()) > 0.8
    structure = np.ones((3, 3), bool)
    band = np.stack(
        [
            binary_dilation(t[0], structure) & ~binary_erosion(t[0], structure, border_value=0)
            for t in target
        ]
    )[:, None]
    assert entropy[band].mean() > 2 * entropy[~band].mean()
    variance = samples.var(0, unbiased=False).numpy()
    assert variance[band].mean() > 2 * variance[~band].mean()


def test_pooled_iou_by_hand_and_empty_masks():

    pred = torch.tensor([[1, 1, 0, 0]]).bool()
    target = torch.tensor([[1, 0, 1, 0]]).bool()
    assert pooled_iou(pred, target) == pytest.approx(1 / 3)
    assert math.isnan(pooled_iou(torch.zeros(4).bool(), torch.zeros(4).bool()))


def test_segmentation_under_shift_matches_a_recomputation():
    from scaledrop_lib.data.shift import add_gaussian_noise
    from scaledrop_lib.studies.segmentation import segmentation_under_shift

    model, _ = load_pretrained("seg_unet_sd")
    images, masks = load_lesion_splits().test.tensors
    images, masks = images[:6], masks[:6]

    def shift(x, level):
        return add_gaussian_noise(x, level, seed=1)

    curve = segmentation_under_shift(model, images, masks, shift, [0.0, 0.3], T=5, seed=2)
    assert curve.levels == [0.0, 0.3]
    for i, level in enumerate(curve.levels):
        seed_dropout(model, 2)
        samples = mc_segment(model, shift(images, level), 5).numpy().astype(np.float64)
        mean = samples.mean(0)
        pred, target = (mean >= 0.5).ravel(), (masks.numpy() > 0.5).ravel()
        iou = (pred & target).sum() / (pred | target).sum()
        assert curve.iou[i] == pytest.approx(iou)
        p = np.clip(mean, 1e-12, 1 - 1e-12)
        entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p))
        assert curve.mean_entropy[i] == pytest.approx(entropy.mean(), rel=1e-4)
        wrong = (mean >= 0.5).ravel() != target
        assert curve.error_auroc[i] == pytest.approx(roc_auc_score(wrong, entropy.ravel()))
    assert curve.iou[1] < curve.iou[0]  # strong noise hurts
    with pytest.raises(ValueError, match="levels"):
        segmentation_under_shift(model, images, masks, shift, [], T=2)
