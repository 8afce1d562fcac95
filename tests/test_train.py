import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scaledrop_lib.routines.checkpoints import file_sha256, load_checkpoint, save_checkpoint
from scaledrop_lib.routines.train import evaluate, fit, objective, scale_regularizer, weight_l2


class Scaled(nn.Module):
    """A linear layer with a scale vector, enough to check the objective's terms."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.alpha = nn.Parameter(torch.tensor([0.5, 2.0]))

    def forward(self, x):
        return self.fc(x) * self.alpha


def test_objective_matches_eq17_written_out():
    model = Scaled()
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    logits = model(x)
    total, parts = objective(logits, y, model, lam=0.1, phi=0.2)
    ce = F.cross_entropy(logits, y)
    l2 = (model.fc.weight**2).sum()  # biases and alpha are not weights
    reg = (1 - model.alpha.mean()) ** 2  # Eq. 11: (1 - mean(alpha))^2 = 0.0625
    assert torch.allclose(total, ce + 0.1 * l2 + 0.2 * reg)
    assert parts["scale_reg"] == pytest.approx(0.0625)
    assert float(weight_l2(model).detach()) == pytest.approx(float(l2.detach()))
    assert float(scale_regularizer(nn.Linear(2, 2))) == 0.0


def toy_loaders(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 2, generator=g)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).long()
    data = TensorDataset(x, y)
    return DataLoader(data, batch_size=32, shuffle=True, generator=g), DataLoader(data, 100)


def test_fit_learns_and_keeps_best_epoch_weights(capsys):
    train, val = toy_loaders()
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    history = fit(model, train, val, epochs=15, lr=0.05, patience=None)
    assert history.epochs == 15
    _, acc = evaluate(model, val)
    assert acc == max(history.val_score)  # restored weights are the best epoch's
    assert acc > 0.9
    assert "epochs: 100%" in capsys.readouterr().err


def test_fit_stops_early_and_is_seeded():
    train, val = toy_loaders()
    torch.manual_seed(0)
    a = nn.Linear(2, 2)
    h = fit(a, train, val, epochs=200, lr=0.05, patience=3, progress=False)
    assert h.epochs < 200
    assert h.epochs - 1 - h.best_epoch == 3
    train, val = toy_loaders()
    torch.manual_seed(0)
    b = nn.Linear(2, 2)
    fit(b, train, val, epochs=200, lr=0.05, patience=3, progress=False)
    assert torch.equal(a.weight, b.weight)


def test_fit_rejects_bad_arguments():
    train, val = toy_loaders()
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        fit(nn.Linear(2, 2), train, val, epochs=0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        fit(nn.Linear(2, 2), train, val, lr=0)


def test_checkpoint_round_trip_with_checksum(tmp_path):
    model = Scaled()
    path = tmp_path / "sub" / "model.pt"
    sha = save_checkpoint(model, path, {"accuracy": 0.5, "history": [1.0, 2.0]})
    assert sha == file_sha256(path)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left
    other = Scaled()
    meta = load_checkpoint(other, path, sha256=sha)
    assert meta == {"accuracy": 0.5, "history": [1.0, 2.0]}
    assert torch.equal(other.fc.weight, model.fc.weight)


def test_checkpoint_errors_are_clear(tmp_path):
    path = tmp_path / "model.pt"
    sha = save_checkpoint(Scaled(), path)
    with pytest.raises(ValueError, match="expected 0000"):
        load_checkpoint(Scaled(), path, sha256="0000")
    with pytest.raises(ValueError, match="does not match the model"):
        load_checkpoint(nn.Linear(3, 2), path, sha256=sha)
    path.write_bytes(path.read_bytes()[:100])  # truncated file
    with pytest.raises(ValueError, match="corrupt or not a checkpoint"):
        load_checkpoint(Scaled(), path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(Scaled(), tmp_path / "missing.pt")


def test_checkpoint_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "state_dict": {}, "metadata": {"f": print}}, path)
    with pytest.raises(ValueError, match="corrupt or not a checkpoint"):
        load_checkpoint(Scaled(), path)


def _pixel_data(masks: torch.Tensor) -> DataLoader:
    images = torch.rand(len(masks), 1, 4, 4, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(images, masks), batch_size=4)


def test_one_trainer_for_segmentation_with_nan_scores_ranked_last():
    # no foreground anywhere: the pooled IoU is undefined (NaN) on every epoch, so the best
    # epoch falls to the lowest validation loss instead of to the first epoch
    empty = torch.zeros(8, 1, 4, 4)
    torch.manual_seed(0)
    model = nn.Conv2d(1, 1, 3, padding=1)
    with torch.no_grad():
        model.bias.fill_(-5.0)  # predicts no foreground either
    history = fit(
        model,
        _pixel_data(empty),
        _pixel_data(empty),
        task="segmentation",
        epochs=4,
        patience=None,
        progress=False,
        lr=0.05,
    )
    assert history.score_name == "iou" and all(v != v for v in history.val_score)
    assert history.best_epoch == min(range(4), key=history.val_loss.__getitem__)
    assert set(history.to_dict()) == {
        "train_loss",
        "train_iou",
        "val_loss",
        "val_iou",
        "best_epoch",
    }
    loss, iou = evaluate(model, _pixel_data(empty), task="segmentation")
    assert loss == pytest.approx(history.val_loss[history.best_epoch], rel=1e-5) and iou != iou


def test_segmentation_score_is_the_pooled_iou_of_the_whole_set():
    masks = torch.zeros(8, 1, 4, 4)
    masks[:, :, :2] = 1.0  # the top half is foreground
    model = nn.Conv2d(1, 1, 1)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.fill_(1.0)  # predicts foreground everywhere: IoU = 1/2
    assert evaluate(model, _pixel_data(masks), task="segmentation")[1] == pytest.approx(0.5)


def test_trainer_rejects_unknown_tasks_and_bad_patience():
    loader = DataLoader(TensorDataset(torch.randn(4, 3), torch.tensor([0, 1, 0, 1])), 2)
    with pytest.raises(ValueError, match="unknown task 'regression'"):
        fit(Scaled(), loader, loader, task="regression", progress=False)
    with pytest.raises(ValueError, match="patience"):
        fit(Scaled(), loader, loader, task="segmentation", patience=0, progress=False)


def test_a_non_finite_loss_stops_training_with_the_batch_named():
    x = torch.randn(8, 3)
    x[5, 0] = float("nan")  # one bad input in the second batch of 4
    loader = DataLoader(TensorDataset(x, torch.tensor([0, 1] * 4)), batch_size=4)
    model = Scaled()
    with pytest.raises(FloatingPointError, match="at epoch 0, batch 1"):
        fit(model, loader, loader, epochs=2, progress=False)
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())  # no NaN weights
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr must be a finite number"):
            fit(Scaled(), loader, loader, lr=bad, progress=False)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        fit(Scaled(), loader, loader, lam=float("nan"), progress=False)


def test_a_mismatched_checkpoint_changes_no_weight(tmp_path):
    # the first tensors fit, a later one does not: nothing may be copied before the refusal
    source = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    save_checkpoint(source, tmp_path / "a.pt")
    target = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 5))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(
        ValueError, match=r"1.weight is \(2, 4\) in the file, \(5, 4\) in the model"
    ):
        load_checkpoint(target, tmp_path / "a.pt")
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_library_functions_leave_an_eval_mode_batchnorm_as_it_was():
    from scaledrop_lib.hardware.cim import layer_shapes, map_model
    from scaledrop_lib.inference.cost import stage_costs
    from scaledrop_lib.models.config import NetConfig
    from scaledrop_lib.models.digits import digits_cnn

    model = digits_cnn(NetConfig(p=0.2)).train()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    norms[0].eval()  # a frozen BatchNorm inside a training model
    flags = [m.training for m in model.modules()]
    x = torch.rand(4, 1, 8, 8)
    layer_shapes(model, (1, 8, 8))
    map_model(model, (1, 8, 8), float_layers="skip")
    stage_costs(model, x)
    loader = DataLoader(TensorDataset(x, torch.tensor([0, 1, 2, 3])), batch_size=2)
    evaluate(model, loader)
    assert [m.training for m in model.modules()] == flags


def test_scale_lr_factor_moves_alpha_that_much_faster():
    from scaledrop_lib.models.config import NetConfig
    from scaledrop_lib.models.digits import digits_cnn
    from scaledrop_lib.routines.train import scale_vectors

    x = torch.rand(32, 1, 8, 8)
    y = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    steps = {}
    for factor in (1.0, 30.0):
        torch.manual_seed(0)
        model = digits_cnn(NetConfig(dropout="scale", p=0.0))
        before = torch.cat([a.detach().clone() for a in scale_vectors(model)])
        fit(model, loader, loader, epochs=1, lr=1e-3, progress=False, scale_lr_factor=factor)
        steps[factor] = (torch.cat([a.detach() for a in scale_vectors(model)]) - before).abs()
    # Adam's first step moves every parameter with a gradient by about its learning rate
    assert float(steps[1.0].max()) == pytest.approx(1e-3, rel=0.05)
    assert float(steps[30.0].max()) == pytest.approx(3e-2, rel=0.05)
    with pytest.raises(ValueError, match="scale_lr_factor"):
        fit(model, loader, loader, epochs=1, scale_lr_factor=0.0)


def test_fit_checks_its_resume_arguments(tmp_path):
    loader = DataLoader(TensorDataset(torch.randn(4, 3), torch.tensor([0, 1, 0, 1])), 2)
    with pytest.raises(ValueError, match="resume=True needs checkpoint"):
        fit(Scaled(), loader, loader, resume=True, progress=False)
    with pytest.raises(TypeError, match="resume must be a bool or a path"):
        fit(Scaled(), loader, loader, resume=3, progress=False)
    # resume=True with a checkpoint that does not exist yet starts from scratch and writes it
    history = fit(
        Scaled(),
        loader,
        loader,
        epochs=2,
        progress=False,
        checkpoint=tmp_path / "s.pt",
        resume=True,
    )
    assert history.epochs == 2 and (tmp_path / "s.pt").is_file()
    with pytest.raises(ValueError, match="holds a 'training' state, not a 'model' state"):
        load_checkpoint(Scaled(), tmp_path / "s.pt")
