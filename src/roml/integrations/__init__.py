"""roml's samplers in other training loops: :mod:`roml.integrations.gymnasium` (a task queue per environment and a
driver for any sampler, for hand-written loops over Gymnasium environments and vector envs)."""
