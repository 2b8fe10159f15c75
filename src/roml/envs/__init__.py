"""Task environments (Gymnasium API) and supervised task data; importing it registers ``roml/...`` env ids.

The ids are registered without importing the environments' modules (nor numba, nor ``mujoco``): making one imports
them. A MuJoCo id (``roml/HalfCheetahMass-v0``, ...) needs ``mujoco`` and raises an ``ImportError`` that says what
to install if it is missing.
"""

from roml.envs.khazad_dum_spec import register_envs as _register_khazad_dum
from roml.envs.mujoco.catalog import register_envs as _register_mujoco

_register_khazad_dum()
_register_mujoco()
