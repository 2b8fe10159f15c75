"""Run configurations composed of parts, and settings named by dotted paths.

A run's configuration (:class:`~roml.experiments.base.RunConfig`) is its identity (experiment, method, seed, scale)
plus *parts*, each a dataclass declared once where it belongs: ``sampler``
(:class:`~roml.experiments.samplers.SamplerConfig`), the algorithm (``maml``: :class:`roml.algos.maml.MAMLConfig`,
``varibad``: :class:`roml.algos.varibad.VariBADConfig`), ``env`` (environment options), ``loop`` (training) and
``eval`` (validation and test). A setting is named ``part.field`` (``varibad.entropy_coef``, ``loop.frames``); a bare
field name is accepted where exactly one part has it (``frames``). The paper's settings are the config class's
defaults; scales and robot presets are overrides of them (:func:`with_overrides`).

Values are checked against the fields' annotations (:func:`check_value`), then by the part itself (its
``__post_init__`` checks ranges and choices), so a bad setting raises a ``ValueError`` naming it before anything is
built. ``--set`` strings are read by the annotation with tyro's parsers (:func:`parse_settings`).

``config.json`` holds the nested dict (:func:`config_to_dict`); the flat configs written before parts existed are
converted on read (:func:`config_from_dict`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AT_LEAST_ONE",
    "NON_NEGATIVE",
    "POSITIVE",
    "Limit",
    "Part",
    "check_limits",
    "check_value",
    "config_from_dict",
    "config_to_dict",
    "flatten",
    "parse_settings",
    "part_names",
    "setting_names",
    "with_overrides",
]


@dataclass(frozen=True)
class Limit:
    """The range of a numeric setting: ``low <= value <= high`` (``<`` where ``open_low`` / ``open_high``)."""

    low: float = 0.0
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def __str__(self) -> str:
        closed_high = not self.open_high and math.isfinite(self.high)
        return f"{'(' if self.open_low else '['}{self.low:g}, {self.high:g}{']' if closed_high else ')'}"

    def admits(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below and math.isfinite(value)


AT_LEAST_ONE, NON_NEGATIVE, POSITIVE = Limit(1), Limit(0), Limit(0, open_low=True)


def check_limits(part: Any, limits: Mapping[str, Limit]) -> None:
    """Check the types of ``part``'s fields (:func:`check_value`) and the ``limits`` of its numeric ones (a field
    of None passes); a ``ValueError`` names the first bad field. For a part's ``__post_init__``."""
    hints = typing.get_type_hints(type(part))
    for field in dataclasses.fields(part):
        value = check_value(getattr(part, field.name), hints[field.name], field.name)
        limit = limits.get(field.name)
        if value is not None and limit is not None and not limit.admits(value):
            raise ValueError(f"setting {field.name} must be in {limit}, got {value!r}")


class Part:
    """Base of the parts the experiments declare (``sampler``, ``loop``, ``eval``, ``env``): on construction every
    field is checked against its annotation and the numeric ones against :attr:`limits`."""

    limits: ClassVar[Mapping[str, Limit]] = {}
    """The range of each numeric field that has one, by field name."""

    def __post_init__(self):
        check_limits(self, self.limits)


# ------------------------------------------------------------------------------------------------- values by type
def _members(annotation: Any) -> tuple[Any, ...]:
    """The members of a union annotation (``int | None`` -> ``(int, NoneType)``), or the annotation alone."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _describe(annotation: Any) -> str:
    names = {bool: "a bool", int: "an integer", float: "a real number", str: "a string", type(None): "None"}
    parts = []
    for member in _members(annotation):
        if typing.get_origin(member) is tuple:
            plural = {int: "integers", float: "real numbers", str: "strings", bool: "bools"}
            parts.append(f"a tuple of {plural.get(typing.get_args(member)[0], 'values')}")
        else:
            parts.append(names.get(member, getattr(member, "__name__", str(member))))
    return " or ".join(parts)


def _matches(value: Any, member: Any) -> bool:
    if member is type(None):
        return value is None
    if member is bool:
        return isinstance(value, bool)
    if member is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if member is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typing.get_origin(member) is tuple:  # tuple[X, ...]
        return isinstance(value, (tuple, list)) and all(_matches(v, typing.get_args(member)[0]) for v in value)
    return isinstance(value, member)


def check_value(value: Any, annotation: Any, name: str) -> Any:
    """``value`` if it has the type ``annotation`` says (an int is not a bool, an int is a real number, a list of
    integers is a tuple of integers: returned as a tuple); a ``ValueError`` naming ``name`` otherwise."""
    for member in _members(annotation):
        if _matches(value, member):
            return tuple(value) if isinstance(value, list) else value
    raise ValueError(f"setting {name} must be {_describe(annotation)}, got {value!r} ({type(value).__name__})")


# ------------------------------------------------------------------------------------------------- names
def part_names(config_class: type) -> tuple[str, ...]:
    """The fields of ``config_class`` that are parts (dataclass-typed fields), in order."""
    hints = typing.get_type_hints(config_class)
    return tuple(f.name for f in dataclasses.fields(config_class) if dataclasses.is_dataclass(hints[f.name]))


def setting_names(config_class: type) -> dict[str, tuple[str, str, Any]]:
    """Every setting of ``config_class``: ``"part.field"`` -> ``(part, field, annotation)``."""
    hints = typing.get_type_hints(config_class)
    names = {}
    for part in part_names(config_class):
        part_hints = typing.get_type_hints(hints[part])
        for field in dataclasses.fields(hints[part]):
            names[f"{part}.{field.name}"] = (part, field.name, part_hints[field.name])
    return names


def _resolve(owner: str, name: str, names: Mapping[str, tuple[str, str, Any]]) -> str:
    """The dotted name of setting ``name`` of ``owner`` (a bare field name resolves where exactly one part has
    it)."""
    if name in names:
        return name
    matches = [dotted for dotted in names if dotted.split(".", 1)[1] == name] if "." not in name else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"setting {name!r} is ambiguous in {owner}; name one of {', '.join(matches)}")
    raise ValueError(f"{owner} has no setting {name!r}; settings: {', '.join(names)}")


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict of settings as ``{"part.field": value}`` (a flat dict is returned as it is)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# ------------------------------------------------------------------------------------------------- overrides
def with_overrides(config: Any, overrides: Mapping[str, Any] | None) -> Any:
    """``config`` with ``overrides`` applied: settings by dotted or bare name, or nested as ``{part: {field:
    value}}``. Each value is checked against its annotation and each changed part rebuilt (so its own checks run);
    a ``ValueError`` names an unknown, ambiguous or bad setting. Nothing is changed in ``config``."""
    names = setting_names(type(config))
    owner = getattr(config, "experiment", "") or type(config).__name__
    changes: dict[str, dict[str, Any]] = {}
    for name, value in flatten(overrides or {}).items():
        dotted = _resolve(owner, name, names)
        part, field, annotation = names[dotted]
        changes.setdefault(part, {})[field] = check_value(value, annotation, dotted)
    rebuilt = {}
    for part, values in changes.items():
        try:
            rebuilt[part] = dataclasses.replace(getattr(config, part), **values)
        except ValueError as error:
            raise ValueError(f"{part}: {error}") from None
    return dataclasses.replace(config, **rebuilt)


def parse_settings(config_class: type, pairs: Iterable[str], owner: str = "") -> dict[str, Any]:
    """``PART.FIELD=VALUE`` strings (a bare ``FIELD`` where one part has it) as ``{"part.field": value}``, each
    value read by its field's annotation with tyro's parsers: numbers (an integer may be written ``8e6``), bools
    (``true``/``false``), strings, ``None`` where the field may be None, tuples of integers comma-separated
    (``128,128``). Raises a ``ValueError`` naming a malformed pair, an unknown setting (of ``owner``, e.g. the
    experiment) or an unreadable value."""
    names = setting_names(config_class)
    owner = owner or config_class.__name__
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--set takes PART.FIELD=VALUE, got {pair!r}")
        dotted = _resolve(owner, name, names)
        try:
            settings[dotted] = _parse(names[dotted][2], text)
        except ValueError:
            raise ValueError(f"--set {dotted}: cannot read {text!r} as {_describe(names[dotted][2])}") from None
    return settings


def _parse(annotation: Any, text: str) -> Any:
    from tyro.constructors import ConstructorRegistry, PrimitiveTypeInfo

    with _registry():
        spec = ConstructorRegistry.get_primitive_spec(PrimitiveTypeInfo.make(annotation, set()))
    if isinstance(spec, Exception):
        raise ValueError(str(spec))
    args = text.split(",") if spec.nargs != 1 else [text]
    args = [_CANONICAL.get(arg.lower(), arg) for arg in args]  # true -> True, none -> None
    if spec.choices is not None and any(arg not in spec.choices for arg in args):
        raise ValueError(f"{text!r} is not one of {spec.choices}")
    try:
        return spec.instance_from_str(args)
    except Exception as error:  # tyro raises ValueError or its own errors for unreadable values
        raise ValueError(str(error)) from None


_CANONICAL = {"true": "True", "false": "False", "none": "None"}


def _scientific_int(text: str) -> int:
    """An integer written as ``8000000``, ``8e6`` or ``3e0`` (not ``1.5``)."""
    number = float(text)
    if not number.is_integer():
        raise ValueError(f"{text!r} is not an integer")
    return int(number)


@functools.cache  # built on first use: `roml list` does not import tyro's parsers
def _registry():
    from tyro.constructors import ConstructorRegistry, PrimitiveConstructorSpec, PrimitiveTypeInfo

    registry = ConstructorRegistry()

    @registry.primitive_rule
    def _int_rule(type_info: PrimitiveTypeInfo) -> PrimitiveConstructorSpec | None:
        if type_info.type is not int:
            return None
        return PrimitiveConstructorSpec(
            nargs=1,
            metavar="INT",
            instance_from_str=lambda args: _scientific_int(args[0]),
            is_instance=lambda value: isinstance(value, int) and not isinstance(value, bool),
            str_from_instance=lambda value: [str(value)],
        )

    return registry


# ------------------------------------------------------------------------------------------------- config.json
def config_to_dict(config: Any) -> dict[str, Any]:
    """The nested dict of ``config`` (``config.json``'s content; tuples stay tuples until JSON)."""
    return dataclasses.asdict(config)


def config_from_dict(base: Any, values: Mapping[str, Any]) -> Any:
    """The configuration ``values`` describe, built on ``base`` (the experiment's configuration of the same
    method, seed and scale): a nested dict (``config.json``) sets every part's fields; a flat dict (a
    ``config.json`` written before parts existed) is read as bare setting names. Identity keys (experiment,
    method, seed, scale) must match ``base``'s. Raises a ``ValueError`` naming an unknown or bad setting."""
    parts = set(part_names(type(base)))
    identity = {f.name for f in dataclasses.fields(base)} - parts
    for key in identity & set(values):
        if values[key] != getattr(base, key):
            raise ValueError(f"configuration {key} {values[key]!r} does not match {getattr(base, key)!r}")
    unknown = {key for key, value in values.items() if key not in identity and not (key in parts or "." in key)}
    nested = {key: value for key, value in values.items() if key in parts}
    if nested and not all(isinstance(value, Mapping) for value in nested.values()):
        raise ValueError(f"configuration parts must be dicts, got {nested!r}")
    flat = {key: value for key, value in values.items() if key not in identity and key not in parts}
    if nested and unknown:
        raise ValueError(f"unknown configuration keys: {sorted(unknown)}")
    return with_overrides(base, {**flatten(nested), **flat})
