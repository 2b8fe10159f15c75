"""roml's samplers in other training loops: :mod:`roml.integrations.gymnasium` (a task queue per environment and a
driver for any sampler, for hand-written loops over Gymnasium environments and vector envs) and
:mod:`roml.integrations.sb3` (a Stable-Baselines3 callback; needs the ``sb3`` extra)."""
