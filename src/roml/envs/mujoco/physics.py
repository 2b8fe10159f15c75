"""The batched physics core of the MuJoCo task environments (:class:`PhysicsBatch`) and the checks of the actions
and states given to it.

:class:`PhysicsBatch` steps ``n`` (model, data) pairs of one environment with one C call per sub-environment
(``mujoco.mj_step(..., nstep=frame_skip)``), copies the arrays the environment needs into stacked ``(n, ...)``
buffers, and computes observations and rewards for all ``n`` at once. A single environment is the batch of one, so
:class:`~roml.envs.mujoco.base.MujocoTaskEnv` and :class:`~roml.envs.mujoco.vector.MujocoTaskVecEnv` run the same
code and give identical trajectories.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from roml.envs.mujoco.model import mujoco

if TYPE_CHECKING:
    from roml.envs.mujoco.base import MujocoTaskEnv

__all__ = ["PhysicsBatch", "check_actions", "check_state"]


# ------------------------------------------------------------------------------------------------------------------
# The batched physics core
# ------------------------------------------------------------------------------------------------------------------
_STATE = mujoco.mjtState.mjSTATE_INTEGRATION  # everything mj_step reads: exact replay after mj_setState


class PhysicsBatch:
    """``n`` MuJoCo simulations of one task environment's kind, stepped together.

    The environment ``env`` (a :class:`MujocoTaskEnv` instance whose options, such as its observation, every
    simulation shares) declares which ``mujoco.MjData`` arrays it reads
    (``data_fields``), whether it needs ``cfrc_ext`` (``contact_forces``: then ``mj_rnePostConstraint`` runs after
    each step, as in Gymnasium's MuJoCo environments), its reset noise, and the batched functions ``_observe``,
    ``_position`` and ``_reward``. Per step the batch writes each action into ``data.ctrl``, calls
    ``mujoco.mj_step(model, data, nstep=frame_skip)`` once per simulation and copies the declared arrays into
    stacked buffers ``buffers[name]`` of shape ``(n, ...)`` (a batch of one reads its arrays in place, through
    ``(1, ...)`` views); observations and rewards are then computed for all ``n`` at once.

    Attributes:
        tasks: ``(n, task_dim)``, the tasks of the current episodes.
        position: ``(n, k)``, the class's position measurement (x, or x and y) after the last step or reset; the
            reward's velocity is ``(position_after - position_before) / dt``.
        body_mass: ``(n, nbody)``, each model's body masses (refreshed at every start).
        steps: steps taken since the last start.
    """

    def __init__(
        self, env: MujocoTaskEnv, models: Sequence[mujoco.MjModel], datas: Sequence[mujoco.MjData], frame_skip: int
    ):
        self.env = env
        self.models = list(models)
        self.datas = list(datas)
        self.n = len(self.models)
        self.frame_skip = int(frame_skip)
        self.dt = float(self.models[0].opt.timestep) * self.frame_skip
        self._ctrl = [d.ctrl for d in self.datas]
        self._views = {name: [getattr(d, name) for d in self.datas] for name in env.data_fields}
        if self.n == 1:  # a single simulation is read in place: (1, ...) views of its arrays, nothing to copy
            self.buffers = {name: views[0][None] for name, views in self._views.items()}
            self._copies = []
        else:
            self.buffers = {name: np.zeros((self.n,) + views[0].shape) for name, views in self._views.items()}
            self._copies = [(self.buffers[name], views) for name, views in self._views.items()]
        self._qpos0 = self.models[0].qpos0.copy()
        self.nq, self.nv, self.nu = self.models[0].nq, self.models[0].nv, self.models[0].nu
        self.tasks = np.zeros((self.n, 0))
        self.body_mass = np.stack([m.body_mass for m in self.models])
        self.position = np.zeros((self.n, 0))
        self.steps = 0

    def _gather(self, i: int) -> None:
        for buffer, views in self._copies:
            buffer[i] = views[i]

    def start(
        self,
        tasks: np.ndarray,
        rng: np.random.Generator,
        qpos: np.ndarray | None = None,
        qvel: np.ndarray | None = None,
    ) -> np.ndarray:
        """Start episodes of the tasks ``tasks`` (already applied to the models) and return the observations.

        The initial state is the model's ``qpos0`` and zero velocity plus noise drawn from ``rng`` as the class
        declares it (``reset_noise``): first the ``(n, nq)`` position noise, then the ``(n, nv)`` velocity noise. The
        noise is drawn even where ``qpos``/``qvel`` (``(n, nq)``/``(n, nv)`` arrays) replace the random state, so
        the generator's stream does not depend on them.
        """
        (qpos_kind, qpos_scale), (qvel_kind, qvel_scale) = self.env.reset_noise
        qpos_noise = _noise(rng, qpos_kind, qpos_scale, (self.n, self.nq))
        qvel_noise = _noise(rng, qvel_kind, qvel_scale, (self.n, self.nv))
        start_qpos = self._qpos0 + qpos_noise if qpos is None else qpos
        start_qvel = qvel_noise if qvel is None else qvel
        for i, (model, data) in enumerate(zip(self.models, self.datas)):
            mujoco.mj_resetData(model, data)
            data.qpos[:] = start_qpos[i]
            data.qvel[:] = start_qvel[i]
            mujoco.mj_forward(model, data)
        self.tasks = np.array(tasks, dtype=np.float64).reshape(self.n, -1)
        self.body_mass = np.stack([m.body_mass for m in self.models])
        self.refresh()
        self.steps = 0
        return self.env._observe(self)

    def refresh(self) -> None:
        """Re-read every simulation after its state was set (and ``mj_forward`` run): the buffers and the position
        the next step's velocity is measured from."""
        for i, (model, data) in enumerate(zip(self.models, self.datas)):
            if self.env.contact_forces:
                mujoco.mj_rnePostConstraint(model, data)
            self._gather(i)
        self.position = self.env._position(self)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Advance every simulation by one environment step under ``actions`` (``(n, nu)`` float64).

        Returns the observations ``(n, obs_dim)`` float32, the rewards ``(n,)`` float64 and the reward terms (a dict
        of ``(n,)`` arrays).
        """
        step, post, nstep = mujoco.mj_step, mujoco.mj_rnePostConstraint, self.frame_skip
        contact = self.env.contact_forces
        copies = self._copies
        for i, (model, data) in enumerate(zip(self.models, self.datas)):
            self._ctrl[i][:] = actions[i]
            step(model, data, nstep)
            if contact:
                post(model, data)
            for buffer, views in copies:
                buffer[i] = views[i]
        self.steps += 1
        before = self.position
        self.position = self.env._position(self)
        reward, info = self.env._reward(self, actions, before, self.position)
        return self.env._observe(self), reward, info

    # -------------------------------------------------------------------------------------------- exact copies
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue the episodes exactly (the models' tasks are restored separately)."""
        size = mujoco.mj_stateSize(self.models[0], _STATE)
        physics = np.empty((self.n, size))
        for i, (model, data) in enumerate(zip(self.models, self.datas)):
            mujoco.mj_getState(model, data, physics[i], _STATE)
        return {"physics": physics, "tasks": self.tasks.copy(), "position": self.position.copy(), "steps": self.steps}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s result (into models that already carry the same tasks)."""
        for i, (model, data) in enumerate(zip(self.models, self.datas)):
            mujoco.mj_setState(model, data, np.asarray(state["physics"][i]), _STATE)
        self.tasks = np.array(state["tasks"], dtype=np.float64)
        self.body_mass = np.stack([m.body_mass for m in self.models])
        self.position = np.array(state["position"], dtype=np.float64)
        self.steps = int(state["steps"])


def _noise(rng: np.random.Generator, kind: str, scale: float, shape: tuple[int, int]) -> np.ndarray:
    if kind == "uniform":
        return rng.uniform(-scale, scale, size=shape)
    return scale * rng.standard_normal(shape)


def check_actions(actions: Any, n: int, nu: int, name: str) -> np.ndarray:
    """``(n, nu)`` float64 actions from ``actions`` (``(nu,)`` when ``n == 1`` and ``name == "action"``); finite
    values required. Values outside the action space are passed on unclipped: MuJoCo clamps the controls to
    ``ctrlrange`` and the control cost uses the value given (as in Gymnasium's MuJoCo environments)."""
    try:
        arr = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, got {actions!r}") from None
    expected = (nu,) if name == "action" else (n, nu)
    if arr.shape != expected:
        raise ValueError(f"{name} must have shape {expected}, got shape {arr.shape}")
    values = arr.reshape(-1)
    # this runs at every step: for a single environment's few numbers Python's isfinite is the cheapest exact test
    finite = all(map(math.isfinite, values.tolist())) if values.size <= 64 else np.isfinite(values).all()
    if not finite:
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr.reshape(n, nu)


def check_state(value: Any, n: int, size: int, name: str) -> np.ndarray | None:
    """``None``, or an ``(n, size)`` finite float64 array from ``value`` (``(size,)`` accepted when ``n == 1``)."""
    if value is None:
        return None
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, got {value!r}") from None
    if arr.shape != (n, size) and not (n == 1 and arr.shape == (size,)):
        raise ValueError(f"{name} must have shape ({n}, {size}), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr.reshape(n, size)
