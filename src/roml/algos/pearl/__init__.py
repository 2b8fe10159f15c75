"""PEARL (Rakelly et al., 2019) for the paper's HalfCheetah experiments: see :mod:`roml.algos.pearl.agent`.

Importing this package does not import torch: the names below load their module on first access, so
:mod:`roml.algos.pearl.config` stays light for the experiments' descriptions (``roml list``, ``roml report``).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PEARL": "agent",
    "PEARLConfig": "config",
    "PRESETS": "config",
    "SlotBuffer": "buffers",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
