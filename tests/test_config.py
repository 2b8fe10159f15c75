"""Composed run configurations (roml.experiments.config): parts, dotted names, typed values, old flat configs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from roml.experiments.base import RunConfig
from roml.experiments.config import (
    AT_LEAST_ONE,
    Limit,
    Part,
    config_from_dict,
    flatten,
    parse_settings,
    setting_names,
    with_overrides,
)


@dataclass(frozen=True)
class Loop(Part):
    steps: int = 10
    every: int = 5
    rate: float = 0.1
    limits = {"steps": AT_LEAST_ONE, "rate": Limit(0, 1)}


@dataclass(frozen=True)
class Model(Part):
    layers: tuple[int, ...] = (8, 8)
    every: int = 2
    cap: int | None = None
    kind: str = "a"
    fast: bool = False


@dataclass(frozen=True)
class ToyConfig(RunConfig):
    loop: Loop = field(default_factory=Loop)
    model: Model = field(default_factory=lambda: Model(kind="b"))


def toy(**overrides) -> ToyConfig:
    return with_overrides(ToyConfig(experiment="toy", method="m"), overrides)


def test_settings_are_named_part_dot_field_in_order():
    assert list(setting_names(ToyConfig)) == [
        "loop.steps",
        "loop.every",
        "loop.rate",
        "model.layers",
        "model.every",
        "model.cap",
        "model.kind",
        "model.fast",
    ]


def test_overrides_by_dotted_name_bare_name_or_nested_dict():
    config = with_overrides(
        ToyConfig(experiment="toy"), {"loop.steps": 20, "rate": 0.5, "model": {"layers": [4], "cap": 3}}
    )
    assert (config.loop, config.model) == (Loop(20, 5, 0.5), Model((4,), 2, 3, "b", False))
    assert toy().model.kind == "b"  # the config class's default part: the paper's settings
    with pytest.raises(ValueError, match=r"setting 'every' is ambiguous in toy; name one of loop.every, model.every"):
        toy(every=3)
    with pytest.raises(ValueError, match="toy has no setting 'loop.bogus'"):
        toy(**{"loop.bogus": 1})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("loop.steps", 1.5, "setting loop.steps must be an integer, got 1.5"),
        ("loop.steps", True, "setting loop.steps must be an integer, got True"),
        ("loop.steps", 0, r"loop: setting steps must be in \[1, inf\)"),
        ("loop.rate", "0.5", "setting loop.rate must be a real number"),
        ("loop.rate", 2, r"loop: setting rate must be in \[0, 1\]"),
        ("model.cap", 2.0, "setting model.cap must be an integer or None"),
        ("model.layers", (4, 2.5), "setting model.layers must be a tuple of integers"),
        ("model.fast", 1, "setting model.fast must be a bool"),
    ],
)
def test_values_are_checked_by_annotation_and_by_the_part(name, value, message):
    base = toy()
    with pytest.raises(ValueError, match=message):
        with_overrides(base, {name: value})
    assert base == toy()  # nothing changed


def test_set_strings_are_read_by_the_fields_annotations():
    read = parse_settings(
        ToyConfig,
        ["loop.steps=8e6", "rate=0.25", "model.layers=128,64", "model.cap=none", "model.fast=true", "kind=c"],
        owner="toy",
    )
    assert read == {
        "loop.steps": 8_000_000,
        "loop.rate": 0.25,
        "model.layers": (128, 64),
        "model.cap": None,
        "model.fast": True,
        "model.kind": "c",
    }
    assert parse_settings(ToyConfig, ["model.cap=7"])["model.cap"] == 7
    for pair, message in [
        ("loop.steps=1.5", r"--set loop.steps: cannot read '1.5' as an integer"),
        ("model.fast=maybe", "--set model.fast: cannot read 'maybe' as a bool"),
        ("model.layers=1,x", "--set model.layers: cannot read '1,x' as a tuple of integers"),
        ("model.cap=x", "--set model.cap: cannot read 'x' as an integer or None"),
        ("steps", "--set takes PART.FIELD=VALUE"),
        ("=3", "--set takes PART.FIELD=VALUE"),
        ("every=3", "ambiguous"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_settings(ToyConfig, [pair], owner="toy")


def test_config_dicts_nested_and_flat_read_back():
    config = toy(**{"loop.steps": 20, "model.layers": (4,)})
    nested = config.to_dict()
    assert nested["loop"] == {"steps": 20, "every": 5, "rate": 0.1} and nested["experiment"] == "toy"
    assert config_from_dict(toy(), nested) == config
    assert flatten(nested)["model.layers"] == (4,)
    old = {"experiment": "toy", "method": "m", "steps": 20, "rate": 0.1, "layers": [4]}  # a flat config.json
    assert config_from_dict(toy(), old) == config
    with pytest.raises(ValueError, match="method 'other' does not match 'm'"):
        config_from_dict(toy(), {**nested, "method": "other"})
    with pytest.raises(ValueError, match=r"unknown configuration keys: \['steps'\]"):
        config_from_dict(toy(), {**nested, "steps": 3})
    with pytest.raises(ValueError, match="toy has no setting 'loop.bogus'"):
        config_from_dict(toy(), {**nested, "loop": {**nested["loop"], "bogus": 1}})
