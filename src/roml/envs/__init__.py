"""Task environments (Gymnasium API) and supervised task data; importing it registers ``roml/...`` env ids.

The MuJoCo ids (``roml/HalfCheetahMass-v0``, ...) are registered without importing ``mujoco``; making one needs it
and raises an ``ImportError`` that says what to install if it is missing.
"""

from roml.envs.khazad_dum import register_envs as _register_khazad_dum
from roml.envs.mujoco.catalog import register_envs as _register_mujoco

_register_khazad_dum()
_register_mujoco()
