"""Range checks shared by the algorithms' configuration dataclasses (``__post_init__``): one-line errors naming the
field. Imports no torch."""

from __future__ import annotations

import math

__all__ = ["check_int", "check_real"]


def check_int(config, name: str, low: int) -> None:
    """``config.<name>`` must be an ``int`` (not a ``bool``) ``>= low``."""
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_real(config, name: str, positive: bool) -> None:
    """``config.<name>`` must be a finite real number (not a ``bool``), ``> 0`` if ``positive`` else ``>= 0``."""
    value = getattr(config, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'>' if positive else '>='} 0, got {value!r}")
