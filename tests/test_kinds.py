"""The two vocabularies: dropout kinds and methods, and the mapping between them."""

import json

import pytest

from scaledrop_lib.kinds import METHOD_OF_KIND, DropoutKind, Method, method_of
from scaledrop_lib.models.config import NetConfig


def test_members_equal_print_and_serialise_as_their_values():
    assert DropoutKind.SCALE == "scale" and f"{DropoutKind.SCALE:>6}" == " scale"
    assert str(Method.MC_SCALE_DROPOUT) == "MC-Scale-Dropout"
    assert json.dumps({"dropout": DropoutKind.SPIN}) == '{"dropout": "spin"}'


def test_every_kind_names_a_distinct_method():
    assert set(METHOD_OF_KIND) == set(DropoutKind)
    assert len(set(METHOD_OF_KIND.values())) == len(DropoutKind)
    assert method_of("scale") is Method.MC_SCALE_DROPOUT
    assert method_of(DropoutKind.MC) is Method.MC_DROPOUT


def test_unknown_values_name_the_argument_and_the_choices():
    with pytest.raises(ValueError, match=r"unknown kind 'gaussian'; choose one of 'scale'"):
        method_of("gaussian")
    with pytest.raises(ValueError, match="unknown dropout 'x'"):
        NetConfig(dropout="x")


def test_net_config_converts_strings_and_exports_plain_values():
    config = NetConfig(dropout="spin")
    assert config.dropout is DropoutKind.SPIN
    assert NetConfig(**config.to_dict()) == config
    assert all(type(v) in (str, float, bool) for v in config.to_dict().values())
    assert json.loads(json.dumps(config.to_dict()))["dropout"] == "spin"


def test_every_method_has_its_colour_by_member_or_by_name():
    from scaledrop_lib.viz.plotting import METHOD_COLORS, method_color

    assert set(METHOD_COLORS) == set(Method)
    assert len(set(METHOD_COLORS.values())) == len(Method)
    for method in Method:
        assert method_color(method) == method_color(method.value) == METHOD_COLORS[method.value]
    with pytest.raises(KeyError, match="no colour for method 'Bayes'"):
        method_color("Bayes")
