import pytest
import torch
from torch import nn

from scaledrop_lib.layers.dropout import (
    MCDropout,
    ScaleDropout,
    SpatialSpinDropout,
    SpinDropout,
    StochasticModule,
)
from scaledrop_lib.layers.sampling import (
    one_draw_per_pass,
    sampling,
    seed_dropout,
    set_dropout_p,
    stochastic_modules,
)

ALPHA = torch.tensor([0.5, 1.5, 2.0, 0.8])


def draws(module, n=4000):
    return torch.stack([module(ALPHA) for _ in range(n)])


@pytest.mark.parametrize(
    ("variant", "expected"),
    [("unitary", torch.ones(4)), ("average", ALPHA.mean().expand(4))],
)
def test_layer_dropout_replaces_the_whole_vector_with_probability_p(variant, expected):
    drop = ScaleDropout(p=0.3, variant=variant, generator=torch.Generator().manual_seed(0))
    out = draws(drop)
    dropped = (out == expected).all(dim=1)
    kept = (out == ALPHA).all(dim=1)
    assert bool((dropped | kept).all())  # never a mix: one bit for the whole layer
    # binomial(4000, 0.3): sd = 29 -> +-4 sd is +-0.029 in rate
    assert abs(float(dropped.float().mean()) - 0.3) < 0.03


def test_random_variant_draws_one_value_inside_alpha_range():
    drop = ScaleDropout(p=1.0, variant="random", generator=torch.Generator().manual_seed(1))
    out = draws(drop, 500)
    assert bool((out == out[:, :1]).all())  # one scalar per draw
    values = out[:, 0]
    assert float(values.min()) >= 0.5 and float(values.max()) <= 2.0
    assert float(values.std()) > 0.3  # uniform over [0.5, 2]: sd = 0.43


def test_random_range_fixes_the_interval_of_the_draw():
    drop = ScaleDropout(
        p=1.0, variant="random", random_range=(0.0, 2.0), generator=torch.Generator().manual_seed(3)
    )
    values = draws(drop, 2000)[:, 0]
    # alpha spans [0.5, 2]; the draw must reach below 0.5 now. U[0, 2]: mean 1, sd 0.577,
    # the mean of 2000 draws has sd 0.013 (+-4 sd = 0.052)
    assert float(values.min()) >= 0.0 and float(values.max()) <= 2.0
    assert float(values.min()) < 0.1
    assert abs(float(values.mean()) - 1.0) < 0.052


@pytest.mark.parametrize(
    ("variant", "random_range", "match"),
    [
        ("unitary", (0.0, 2.0), "random_range applies"),
        ("random", (1.0, 1.0), "0 <= low < high"),
        ("random", (-1.0, 1.0), "0 <= low < high"),
        ("random", (0.0, float("nan")), "0 <= low < high"),
        ("random", "ab", "pair"),
    ],
)
def test_random_range_is_validated(variant, random_range, match):
    with pytest.raises(ValueError, match=match):
        ScaleDropout(p=0.5, variant=variant, random_range=random_range)


def test_element_granularity_draws_one_bit_per_channel():
    drop = ScaleDropout(p=0.5, granularity="element", generator=torch.Generator().manual_seed(2))
    out = draws(drop, 2000)
    per_channel = (out == 1.0).float().mean(0)
    assert torch.allclose(per_channel, torch.full((4,), 0.5), atol=0.05)
    mixed = ((out == 1.0).any(1) & (out != 1.0).any(1)).float().mean()
    assert float(mixed) > 0.5  # most draws drop some channels but not all


def test_dropout_is_off_at_eval_and_on_with_mc_switch():
    drop = ScaleDropout(p=1.0)
    drop.eval()
    assert torch.equal(drop(ALPHA), ALPHA)
    assert drop.last_drop is None
    drop.mc = True
    assert torch.equal(drop(ALPHA), torch.ones(4))
    assert bool(drop.last_drop)


def test_p_zero_never_drops_and_gradients_flow_to_kept_alpha():
    alpha = ALPHA.clone().requires_grad_(True)
    drop = ScaleDropout(p=0.0)
    drop(alpha).sum().backward()
    assert torch.equal(alpha.grad, torch.ones(4))


def test_masks_reproducible_from_a_seed():
    model = nn.Sequential(ScaleDropout(0.5), ScaleDropout(0.5))

    def run():
        seed_dropout(model, 7)
        return [model[i](ALPHA) for i in (0, 1) for _ in range(20)]

    first, second = run(), run()
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    # the two modules get different generators, so their bit sequences differ
    bits0 = [bool(model[0](ALPHA)[0] == 1.0) for _ in range(50)]
    bits1 = [bool(model[1](ALPHA)[0] == 1.0) for _ in range(50)]
    assert bits0 != bits1


def test_seeds_never_share_a_generator_stream():
    """Consecutive seeds give independent replicas: no (seed, module) pair replays another."""
    model = nn.Sequential(*[ScaleDropout(0.5) for _ in range(4)])
    streams = {}
    for seed in range(6):
        seed_dropout(model, seed)
        for index in range(4):
            bits = tuple(bool(model[index](ALPHA)[0] == 1.0) for _ in range(64))
            assert bits not in streams, f"seed {seed} module {index} replays {streams.get(bits)}"
            streams[bits] = (seed, index)
    # seed 0 keeps the generator seeds 0, 1, 2, ... (stored notebook outputs rely on it)
    seed_dropout(model, 0)
    reference = torch.Generator().manual_seed(2)
    assert torch.equal(model[2].generator.get_state(), reference.get_state())
    with pytest.raises(ValueError, match="seed must be >= 0"):
        seed_dropout(model, -1)
    with pytest.raises(ValueError, match="seed must be below"):
        seed_dropout(model, 2**47)
    with pytest.raises(TypeError, match="seed"):
        seed_dropout(model, 1.5)


def test_custom_mask_source_is_used():
    calls = []

    def always_drop(shape, p, generator):
        calls.append((shape, p))
        return torch.ones(shape, dtype=torch.bool)

    drop = ScaleDropout(p=0.25, mask_source=always_drop)
    assert torch.equal(drop(ALPHA), torch.ones(4))
    assert calls == [((), 0.25)]


def test_mc_dropout_is_inverted_dropout():
    drop = MCDropout(0.25, generator=torch.Generator().manual_seed(0))
    x = torch.ones(200_000)
    out = drop(x)
    assert torch.allclose(out.unique(), torch.tensor([0.0, 1.0 / 0.75]))
    assert abs(float((out == 0).float().mean()) - 0.25) < 0.01
    assert abs(float(out.mean()) - 1.0) < 0.01  # expectation preserved


def test_spin_dropouts_zero_neurons_or_whole_maps_without_rescaling():
    x = torch.ones(64, 8, 5, 5)
    neuron = SpinDropout(0.5, generator=torch.Generator().manual_seed(0))(x)
    assert set(neuron.unique().tolist()) == {0.0, 1.0}
    spatial = SpatialSpinDropout(0.5, generator=torch.Generator().manual_seed(0))(x)
    per_map = spatial.flatten(2)
    assert bool((per_map.min(2).values == per_map.max(2).values).all())  # whole maps
    assert 0.4 < float((per_map[:, :, 0] == 0).float().mean()) < 0.6


def _state(model: nn.Module) -> list:
    """Every flag, p, generator and BatchNorm buffer sampling() promises to restore."""
    state = []
    for name, module in model.named_modules():
        state.append((name, module.training, getattr(module, "mc", None)))
        if isinstance(module, StochasticModule):
            state.append((name, module.p, id(module.generator)))
        if isinstance(module, nn.BatchNorm1d):
            state.append((name, module.running_mean.tolist(), int(module.num_batches_tracked)))
    return state


def _mixed_model() -> nn.Sequential:
    model = nn.Sequential(
        nn.Linear(2, 3), nn.BatchNorm1d(3), ScaleDropout(0.5), MCDropout(0.1), nn.Dropout(0.3)
    )
    model.train()
    model[1].eval()  # a frozen BatchNorm inside a training model: a mixed state
    model[3].mc = True  # a switch a caller had turned on
    return model


def test_sampling_switches_everything_and_restores_every_module():
    model = _mixed_model()
    before = _state(model)
    with sampling(model) as inside:
        assert inside is model
        assert not any(m.training for m in model.modules() if not isinstance(m, nn.Dropout))
        assert all(m.mc for _, m in stochastic_modules(model))
        assert model[4].training  # plain torch dropout samples in train mode
    assert _state(model) == before
    with sampling(model, mc=False):
        assert not any(m.mc for _, m in stochastic_modules(model)) and not model[4].training
    assert _state(model) == before


def test_sampling_sets_p_and_seed_for_the_block_only():
    model = _mixed_model()
    before = _state(model)
    with sampling(model, p=0.9, seed=3, only=ScaleDropout):
        assert (model[2].p, model[3].p) == (0.9, 0.1)
        first = model[2].generator.initial_seed()
    assert _state(model) == before
    with sampling(model, p={"3": 0.7}):
        assert (model[2].p, model[3].p) == (0.5, 0.7)
    with sampling(model, seed=3):
        assert model[2].generator.initial_seed() == first == 3 * 2**16
    assert _state(model) == before


def test_sampling_restores_on_error_and_batch_statistics():
    model = _mixed_model()
    model[1].train()
    before = _state(model)
    with pytest.raises(RuntimeError, match="boom"):
        with sampling(model, batch_statistics=True):
            assert model[1].training
            model[:2](torch.randn(8, 2))  # updates BatchNorm's running statistics
            assert int(model[1].num_batches_tracked) == 1
            raise RuntimeError("boom")
    assert _state(model) == before


def test_one_draw_per_pass_holds_scale_masks_until_the_next_pass():
    model = nn.ModuleList([ScaleDropout(0.5), ScaleDropout(0.5, granularity="element")])
    reference = nn.ModuleList([ScaleDropout(0.5), ScaleDropout(0.5, granularity="element")])
    for m in (model, reference):
        seed_dropout(m, 7)
        for module in m:
            module.mc = True
    # the held scales are the first draws of the unheld stream, pass after pass
    with one_draw_per_pass(model) as new_pass:
        for _ in range(20):
            new_pass()
            expected = [module(ALPHA) for module in reference]
            for _chunk in range(3):  # later chunks of the pass: no new draw
                assert all(torch.equal(m(ALPHA), e) for m, e in zip(model, expected, strict=True))
    # on exit every call draws again: 20 calls of the layer-wise module do not all agree
    assert not any(module.hold for module in model)
    after = {model[0](ALPHA).numpy().tobytes() for _ in range(20)}
    assert len(after) == 2


def test_one_draw_per_pass_leaves_element_wise_dropout_per_call():
    module = MCDropout(0.5)
    module.mc = True
    x = torch.ones(64)
    with one_draw_per_pass(nn.Sequential(module)) as new_pass:
        new_pass()
        assert not torch.equal(module(x), module(x))


def test_sampling_rejects_bad_arguments():
    model = _mixed_model()
    with pytest.raises(TypeError, match="model must be"):
        with sampling("model"):
            pass
    with pytest.raises(ValueError, match=r"p must lie in"):
        with sampling(model, p=1.5):
            pass
    with pytest.raises(ValueError, match="names 'x'"):
        with sampling(model, p={"x": 0.1}):
            pass
    with pytest.raises(ValueError, match="seed"):
        with sampling(model, seed=-1):
            pass
    assert _state(model) == _state(_mixed_model())


def test_set_dropout_p_by_name_and_globally():
    model = nn.Sequential(ScaleDropout(0.5), ScaleDropout(0.5))
    set_dropout_p(model, {"1": 0.1})
    assert (model[0].p, model[1].p) == (0.5, 0.1)
    set_dropout_p(model, 0.2)
    assert (model[0].p, model[1].p) == (0.2, 0.2)
    with pytest.raises(ValueError, match="names 'x'"):
        set_dropout_p(model, {"x": 0.1})
    with pytest.raises(ValueError, match=r"p\['0'\] must lie in"):
        set_dropout_p(model, {"0": 1.5})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p": 1.2}, "p must lie in"),
        ({"p": -0.1}, "p must lie in"),
        ({"variant": "zero"}, "unknown variant 'zero'"),
        ({"granularity": "pixel"}, "unknown granularity 'pixel'"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ScaleDropout(**kwargs)


def test_alpha_must_be_a_vector():
    with pytest.raises(ValueError, match="alpha must be a 1-D scale vector"):
        ScaleDropout(0.5)(torch.ones(2, 2))
