"""Task environments (Gymnasium API) and supervised task data; importing it registers ``roml/...`` env ids."""

from roml.envs.khazad_dum import register_envs as _register_khazad_dum

_register_khazad_dum()
