"""numba for roml's environments: ``compiled``, the decorator of their compiled functions, whose machine code is
cached in the user's cache directory.

By default numba writes its cache next to the source, that is into the installed package, which may be read-only
or shared by several users; this module points it at ``$XDG_CACHE_HOME/roml/numba`` (default ``~/.cache``) unless
``NUMBA_CACHE_DIR`` is set, before numba is imported (or makes an already imported numba read the setting again).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["compiled"]


def _use_a_user_cache_for_numba() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    os.environ["NUMBA_CACHE_DIR"] = str(cache_home / "roml" / "numba")
    if "numba" in sys.modules:  # imported before roml: make it read the variable again
        sys.modules["numba"].core.config.reload_config()


_use_a_user_cache_for_numba()

import numba  # noqa: E402

compiled = numba.njit(cache=True, nogil=True)
"""``numba.njit(cache=True, nogil=True)``: compiled on first call, cached on disk, the GIL released while it runs."""
