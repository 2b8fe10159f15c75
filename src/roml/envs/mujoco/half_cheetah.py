"""HalfCheetah task environments (Section 6.2, App. D.2): Vel, Mass, Body and the three 10-D tasks.

All four classes run Gymnasium's ``HalfCheetah-v5`` model (half_cheetah.xml: 9 degrees of freedom, 6 motors,
timestep 0.01, frame skip 5, so ``dt = 0.05``) through the batched core of :mod:`roml.envs.mujoco.physics`, with the
authors' rewards (docs/authors-code.md, section 4) and 200-step episodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from roml.envs.mujoco.base import MassPhysics, MujocoTaskEnv
from roml.envs.mujoco.model import DofDampingScale, FieldScale, GeomSizeScale, ModelParameter
from roml.envs.mujoco.physics import PhysicsBatch

# imported after base, whose import explains a missing mujoco before Gymnasium's module fails on it
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from roml.envs.compiled import compiled
from roml.envs.mujoco.catalog import TEN_D_SETS

__all__ = [
    "CTRL_COST_WEIGHT",
    "HalfCheetah10DEnv",
    "HalfCheetahBodyEnv",
    "HalfCheetahMassEnv",
    "HalfCheetahTaskEnv",
    "HalfCheetahVelEnv",
]

CTRL_COST_WEIGHT = 0.05
"""Weight of the control cost ``||a||^2`` (VariBAD's and the authors'; Gymnasium's default is 0.1)."""


# The rewards are compiled loops over the environments: HalfCheetah's physics step is so cheap (about 40 us) that
# a dozen numpy operations on (n,) arrays would cost a fifth of it. The sums of squared actions stay numpy's
# einsum, so that every number is the one the numpy expressions gave; it is called without np.einsum's Python
# wrapper (which adds about 1 us per call and, with optimize=False, calls exactly this function) where numpy
# exposes it.
try:
    from numpy._core.multiarray import c_einsum as _einsum
except ImportError:  # pragma: no cover - numpy < 2
    _einsum = np.einsum

_FORWARD_INFO = ("x_position", "x_velocity", "reward_forward", "reward_height", "reward_ctrl")
_VEL_INFO = ("x_position", "x_velocity", "reward_velocity", "reward_ctrl")


@compiled
def _forward_terms(after, before, dt, squares, qpos, out):  # pragma: no cover - compiled
    """Row 0 of ``out`` the reward, rows 1-5 the terms of ``_FORWARD_INFO``, per environment."""
    for i in range(after.shape[0]):
        velocity = (after[i, 0] - before[i, 0]) / dt
        ctrl = CTRL_COST_WEIGHT * squares[i]
        height = qpos[i, 1]
        out[0, i] = velocity + height - ctrl
        out[1, i] = after[i, 0]
        out[2, i] = velocity
        out[3, i] = velocity
        out[4, i] = height
        out[5, i] = -ctrl


@compiled
def _vel_terms(after, before, dt, squares, goals, out):  # pragma: no cover - compiled
    """Row 0 of ``out`` the reward, rows 1-4 the terms of ``_VEL_INFO``, per environment."""
    for i in range(after.shape[0]):
        velocity = (after[i, 0] - before[i, 0]) / dt
        ctrl = CTRL_COST_WEIGHT * squares[i]
        tracking = -abs(velocity - goals[i, 0])
        out[0, i] = tracking - ctrl
        out[1, i] = after[i, 0]
        out[2, i] = velocity
        out[3, i] = tracking
        out[4, i] = -ctrl


def _terms(
    kernel, keys, batch: PhysicsBatch, actions: np.ndarray, before: np.ndarray, after: np.ndarray, data: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run a reward kernel; the reward and the ``info`` terms (rows of one fresh array)."""
    out = np.empty((len(keys) + 1, batch.n))
    kernel(after, before, batch.dt, _einsum("ij,ij->i", actions, actions), data, out)
    return out[0], dict(zip(keys, out[1:]))


class HalfCheetahTaskEnv(MujocoTaskEnv, HalfCheetahEnv):
    """Base of the HalfCheetah task environments: the model, observation and start; subclasses add the reward and
    the task parameters."""

    parent = HalfCheetahEnv
    parent_kwargs = {"ctrl_cost_weight": CTRL_COST_WEIGHT, "reset_noise_scale": 0.1}
    data_fields = ("qpos", "qvel")
    contact_forces = False
    reset_noise = (("uniform", 0.1), ("normal", 0.1))
    options = {"observation": ("v5", "authors")}
    observation: str

    def _init_task_env(self, task: Any) -> None:
        self._torso = self.model.body("torso").id
        if self.observation == "authors":
            self.data_fields = ("qpos", "qvel", "xpos")
        super()._init_task_env(task)

    def _observe(self, batch: PhysicsBatch) -> np.ndarray:
        parts = [batch.buffers["qpos"][:, 1:], batch.buffers["qvel"]]
        if self.observation == "authors":
            parts.append(batch.buffers["xpos"][:, self._torso])
        return np.concatenate(parts, axis=1, dtype=np.float32)

    @classmethod
    def _position(cls, batch: PhysicsBatch) -> np.ndarray:
        return batch.buffers["qpos"][:, :1].copy()

    @classmethod
    def _reward(cls, batch, actions, before, after):
        return _terms(_forward_terms, _FORWARD_INFO, batch, actions, before, after, batch.buffers["qpos"])


class HalfCheetahVelEnv(HalfCheetahTaskEnv):
    """HalfCheetah-Vel: run at a target velocity (App. D.2; target range extended from VariBAD's [0, 3]).

    ## Description

    The planar cheetah must run forward at the task's target velocity ``v_goal``, which it does not observe; it
    can infer it from the rewards. Fast targets are the hard tasks.

    ## Action space

    ``Box(-1, 1, (6,), float32)``: the torques of the six motors (gear 120, 90, 60, 120, 60, 30), in the order
    back thigh, back shin, back foot, front thigh, front shin, front foot. Actions are not clipped by the
    environment: MuJoCo clamps the controls to [-1, 1] and the control cost uses the action as given (as in
    Gymnasium and the authors' code).

    ## Observation space

    ``Box(-inf, inf, (17,), float32)`` (``observation="v5"``, the default) or ``(20,)`` (``observation="authors"``,
    what the paper's experiments use), read after the step:

    | Index | Observation                                            | Unit                     |
    |-------|--------------------------------------------------------|--------------------------|
    | 0     | z of the torso (``rootz``, relative to its start 0.7)  | position (m)             |
    | 1     | angle of the torso (``rooty``)                         | angle (rad)              |
    | 2-7   | angles of the six joints (back thigh ... front foot)   | angle (rad)              |
    | 8     | x velocity of the torso                                | velocity (m/s)           |
    | 9     | z velocity of the torso                                | velocity (m/s)           |
    | 10    | angular velocity of the torso                          | angular velocity (rad/s) |
    | 11-16 | angular velocities of the six joints                   | angular velocity (rad/s) |
    | 17-19 | ``"authors"`` only: the torso's position x, y, z       | position (m)             |

    With ``"v5"`` the torso's x position is left out, as in Gymnasium's v5 default. The authors appended the torso's
    position (``data.xpos``, what their ``get_body_com("torso")`` returned; MuJoCo computes it before the step's
    last physics substep): its y is always 0 and its z about repeats ``rootz`` (plus 0.7), but its x, the distance
    run so far, tells a critic that cannot see the time how far into the episode it is. The roml experiments use
    ``"authors"`` (``docs/architecture.md`` has the measurement).

    ## Starting state

    ``qpos = U(-0.1, 0.1)`` per coordinate (around ``qpos0 = 0``) and ``qvel = 0.1 N(0, 1)``, from the environment's
    own generator ``self.np_random`` (seeded by ``reset(seed=...)``). ``reset(options={"qpos": ..., "qvel": ...})``
    starts from a given state instead.

    ## Episode end

    Exactly 200 steps: ``terminated`` is always False, ``truncated`` is True at step 200 (the authors' runs never
    ended an episode early either). Stepping further without ``reset`` raises ``RuntimeError``.

    ## Rewards

    Per step, with ``v = (x_after - x_before) / dt`` the torso's forward velocity over the step:

    | Term     | Value                   | ``info`` key        |
    |----------|-------------------------|---------------------|
    | velocity | ``- |v - v_goal|``      | ``reward_velocity`` |
    | control  | ``- 0.05 * ||a||^2``    | ``reward_ctrl``     |

    There is no height term (as in the authors' code). ``info`` also holds ``x_position`` and ``x_velocity``.

    ## Task parameter

    | Name     | Meaning                        | Range  | Original distribution | Family                  |
    |----------|--------------------------------|--------|-----------------------|-------------------------|
    | velocity | target forward velocity (m/s)  | [0, 7] | U[0, 7]               | ``BetaBox(0, 7)``       |

    ``set_task(v)`` (a number or a one-element array) takes effect at the next reset; ``reset(options={"task":
    v})`` sets it too; ``get_task()`` returns ``array([v])``. The default task is 3.5. Tasks outside [0, 7] raise
    ``ValueError``.

    ## Differences from the authors' code (``RobustMetaRL/environments/mujoco/half_cheetah*.py``)

    - Gymnasium v5 and the ``mujoco`` bindings instead of gym 0.17 and mujoco-py; seeded resets.
    - ``observation="v5"`` (the default) drops the authors' last three entries, the torso's position; ``"authors"``
      keeps them.
    """

    name = "HalfCheetahVel"

    @classmethod
    def _reward(cls, batch, actions, before, after):
        return _terms(_vel_terms, _VEL_INFO, batch, actions, before, after, batch.tasks)


class HalfCheetahMassEnv(MassPhysics, HalfCheetahTaskEnv):
    """HalfCheetah-Mass: run forward as fast as possible with a body of unknown mass (App. D.2, Fig. 4).

    ## Description

    The task multiplies the mass of every body of the cheetah by one factor in [0.5, 2] (and, by default, its
    inertia; under the authors' mass physics, the capsules' radii instead). The agent does not observe it; a heavy
    cheetah runs slower under the same torques.

    ## Action space

    ``Box(-1, 1, (6,), float32)``: the torques of the six motors (gear 120, 90, 60, 120, 60, 30), in the order
    back thigh, back shin, back foot, front thigh, front shin, front foot. Actions are not clipped by the
    environment: MuJoCo clamps the controls to [-1, 1] and the control cost uses the action as given (as in
    Gymnasium and the authors' code).

    ## Observation space

    ``Box(-inf, inf, (17,), float32)`` (``observation="v5"``, the default) or ``(20,)`` (``observation="authors"``,
    what the paper's experiments use), read after the step:

    | Index | Observation                                            | Unit                     |
    |-------|--------------------------------------------------------|--------------------------|
    | 0     | z of the torso (``rootz``, relative to its start 0.7)  | position (m)             |
    | 1     | angle of the torso (``rooty``)                         | angle (rad)              |
    | 2-7   | angles of the six joints (back thigh ... front foot)   | angle (rad)              |
    | 8     | x velocity of the torso                                | velocity (m/s)           |
    | 9     | z velocity of the torso                                | velocity (m/s)           |
    | 10    | angular velocity of the torso                          | angular velocity (rad/s) |
    | 11-16 | angular velocities of the six joints                   | angular velocity (rad/s) |
    | 17-19 | ``"authors"`` only: the torso's position x, y, z       | position (m)             |

    With ``"v5"`` the torso's x position is left out, as in Gymnasium's v5 default. The authors appended the torso's
    position (``data.xpos``, what their ``get_body_com("torso")`` returned; MuJoCo computes it before the step's
    last physics substep): its y is always 0 and its z about repeats ``rootz`` (plus 0.7), but its x, the distance
    run so far, tells a critic that cannot see the time how far into the episode it is. The roml experiments use
    ``"authors"`` (``docs/architecture.md`` has the measurement).

    ## Starting state

    ``qpos = U(-0.1, 0.1)`` per coordinate (around ``qpos0 = 0``) and ``qvel = 0.1 N(0, 1)``, from the environment's
    own generator ``self.np_random`` (seeded by ``reset(seed=...)``). ``reset(options={"qpos": ..., "qvel": ...})``
    starts from a given state instead.

    ## Episode end

    Exactly 200 steps: ``terminated`` is always False, ``truncated`` is True at step 200 (the authors' runs never
    ended an episode early either). Stepping further without ``reset`` raises ``RuntimeError``.

    ## Rewards

    Per step, with ``v = (x_after - x_before) / dt`` the torso's forward velocity over the step (``dt = 0.05``):

    | Term     | Value                 | ``info`` key      |
    |----------|-----------------------|-------------------|
    | forward  | ``v``                 | ``reward_forward``|
    | height   | ``+ rootz``           | ``reward_height`` |
    | control  | ``- 0.05 * ||a||^2``  | ``reward_ctrl``   |

    ``rootz`` (observation 0) is the torso's height relative to its start; the authors added it (as ``obs[0]``) to
    penalise flipping over. ``info`` also holds ``x_position`` and ``x_velocity``.


    ## Task parameter

    | Name | Meaning                                      | Range    | Original distribution | Family          |
    |------|----------------------------------------------|----------|-----------------------|-----------------|
    | mass | factor on ``body_mass`` and ``body_inertia`` | [0.5, 2] | log2 U[-1, 1]         | ``LogBetaBox``  |

    Applied from the compiled model's values (never compounding), then ``mujoco.mj_setConst``. ``set_task(m)`` takes
    effect at the next reset; the default task is 1 (the original body). Factors outside [0.5, 2] raise
    ``ValueError``.

    ## Mass physics

    ``mass_physics="density"`` (the default) scales mass and inertia together (a denser body of the same shape) and
    recomputes the derived constants. ``mass_physics="authors"``, what the paper's experiments use, is the authors'
    version: ``body_mass`` times the factor, the radius of every capsule of the cheetah times the factor (``0.046 *
    factor``: a heavy cheetah is also a thick one), the inertias as compiled, and nothing derived recomputed
    (subtree masses, ``dof_invweight0``, collision bounds stay those of the original model).

    ## Differences from the authors' code (``RobustMetaRL/environments/mujoco/half_cheetah*.py``)

    - Gymnasium v5 and the ``mujoco`` bindings instead of gym 0.17 and mujoco-py; seeded resets.
    - ``observation="v5"`` (the default) drops the authors' last three entries, the torso's position; ``"authors"``
      keeps them.
    - By default a mass factor scales ``body_mass`` **and** ``body_inertia`` (then ``mj_setConst``); the authors
      scaled the masses alone and also set every capsule's radius to ``0.046 * factor``, mixing a geometry change
      into the mass task, and recomputed nothing; ``mass_physics="authors"`` does as they did.
    """

    name = "HalfCheetahMass"
    options = {**HalfCheetahTaskEnv.options, **MassPhysics.options}

    def _model_parameters(self) -> tuple[ModelParameter, ...]:
        return (self._mass_parameter(),)


class HalfCheetahBodyEnv(MassPhysics, HalfCheetahTaskEnv):
    """HalfCheetah-Body: run forward with unknown mass, joint damping and head size (App. D.2).

    ## Description

    Three independent factors in [0.5, 2] change the cheetah's mass, its joints' damping and the length of its
    head (the capsule in front of the torso, which hits the ground when the cheetah pitches forward).

    ## Action space

    ``Box(-1, 1, (6,), float32)``: the torques of the six motors (gear 120, 90, 60, 120, 60, 30), in the order
    back thigh, back shin, back foot, front thigh, front shin, front foot. Actions are not clipped by the
    environment: MuJoCo clamps the controls to [-1, 1] and the control cost uses the action as given (as in
    Gymnasium and the authors' code).

    ## Observation space

    ``Box(-inf, inf, (17,), float32)`` (``observation="v5"``, the default) or ``(20,)`` (``observation="authors"``,
    what the paper's experiments use), read after the step:

    | Index | Observation                                            | Unit                     |
    |-------|--------------------------------------------------------|--------------------------|
    | 0     | z of the torso (``rootz``, relative to its start 0.7)  | position (m)             |
    | 1     | angle of the torso (``rooty``)                         | angle (rad)              |
    | 2-7   | angles of the six joints (back thigh ... front foot)   | angle (rad)              |
    | 8     | x velocity of the torso                                | velocity (m/s)           |
    | 9     | z velocity of the torso                                | velocity (m/s)           |
    | 10    | angular velocity of the torso                          | angular velocity (rad/s) |
    | 11-16 | angular velocities of the six joints                   | angular velocity (rad/s) |
    | 17-19 | ``"authors"`` only: the torso's position x, y, z       | position (m)             |

    With ``"v5"`` the torso's x position is left out, as in Gymnasium's v5 default. The authors appended the torso's
    position (``data.xpos``, what their ``get_body_com("torso")`` returned; MuJoCo computes it before the step's
    last physics substep): its y is always 0 and its z about repeats ``rootz`` (plus 0.7), but its x, the distance
    run so far, tells a critic that cannot see the time how far into the episode it is. The roml experiments use
    ``"authors"`` (``docs/architecture.md`` has the measurement).

    ## Starting state

    ``qpos = U(-0.1, 0.1)`` per coordinate (around ``qpos0 = 0``) and ``qvel = 0.1 N(0, 1)``, from the environment's
    own generator ``self.np_random`` (seeded by ``reset(seed=...)``). ``reset(options={"qpos": ..., "qvel": ...})``
    starts from a given state instead.

    ## Episode end

    Exactly 200 steps: ``terminated`` is always False, ``truncated`` is True at step 200 (the authors' runs never
    ended an episode early either). Stepping further without ``reset`` raises ``RuntimeError``.

    ## Rewards

    Per step, with ``v = (x_after - x_before) / dt`` the torso's forward velocity over the step (``dt = 0.05``):

    | Term     | Value                 | ``info`` key      |
    |----------|-----------------------|-------------------|
    | forward  | ``v``                 | ``reward_forward``|
    | height   | ``+ rootz``           | ``reward_height`` |
    | control  | ``- 0.05 * ||a||^2``  | ``reward_ctrl``   |

    ``rootz`` (observation 0) is the torso's height relative to its start; the authors added it (as ``obs[0]``) to
    penalise flipping over. ``info`` also holds ``x_position`` and ``x_velocity``.


    ## Task parameters

    | Name | Meaning | Range | Original distribution |
    |------|---------|-------|-----------------------|
    | mass | factor on ``body_mass`` and ``body_inertia`` | [0.5, 2] | log2 U[-1, 1] |
    | damping | factor on ``dof_damping`` (joints: 6, 4.5, 3, 4.5, 3, 1.5) | [0.5, 2] | log2 U[-1, 1] |
    | head_size | factor on the head capsule's half-length (0.15) | [0.5, 2] | log2 U[-1, 1] |

    Family ``LogBetaBox([-1, -1, -1], [1, 1, 1])``, independent per dimension. The factors are applied from the
    compiled model's values (never compounding), then ``mujoco.mj_setConst``. The size factor changes the collision
    shape only: the geom's bounding sphere and box and its body's bounding-volume hierarchy are recomputed as the
    compiler would (:func:`refresh_collision_bounds`), while masses and inertias stay as compiled. The default task
    is (1, 1, 1).

    ## Mass physics

    ``mass_physics="density"`` (the default) scales mass and inertia together (a denser body of the same shape) and
    recomputes the derived constants. ``mass_physics="authors"``, what the paper's experiments use, is the authors'
    version: ``body_mass`` times the factor, the radius of every capsule of the cheetah times the factor (``0.046 *
    factor``: a heavy cheetah is also a thick one), the inertias as compiled, and nothing derived recomputed
    (subtree masses, ``dof_invweight0``, collision bounds stay those of the original model).

    ## Differences from the authors' code (``RobustMetaRL/environments/mujoco/half_cheetah*.py``)

    - Gymnasium v5 and the ``mujoco`` bindings instead of gym 0.17 and mujoco-py; seeded resets.
    - ``observation="v5"`` (the default) drops the authors' last three entries, the torso's position; ``"authors"``
      keeps them.
    - By default a mass factor scales ``body_mass`` **and** ``body_inertia`` (then ``mj_setConst``); the authors
      scaled the masses alone and also set every capsule's radius to ``0.046 * factor``, mixing a geometry change
      into the mass task, and recomputed nothing; ``mass_physics="authors"`` does as they did.
    """

    name = "HalfCheetahBody"
    options = {**HalfCheetahTaskEnv.options, **MassPhysics.options}

    def _model_parameters(self) -> tuple[ModelParameter, ...]:
        return (self._mass_parameter(), DofDampingScale(), GeomSizeScale("head", (1,)))


class HalfCheetah10DEnv(HalfCheetahTaskEnv):
    """HalfCheetah 10D-task a, b or c: run forward while 10 model properties vary (Section 6.2, App. D.2).

    ## Description

    Each task dimension multiplies one whole array of the compiled ``mujoco.MjModel`` (every row) by a factor in
    ``[2 ** -0.5, 2 ** 0.5]``. The three variants use three sets of 10 arrays drawn once, with seed
    ``TEN_D_SEED = 2023``, from the 16 arrays of ``TEN_D_CANDIDATES`` that change the dynamics (see
    :mod:`roml.envs.mujoco.catalog` for how the candidates were chosen):

    - set a: actuator_gainprm, actuator_gear, body_inertia, body_ipos, dof_damping, geom_friction, geom_solimp,
      geom_solref, jnt_solref, jnt_stiffness;
    - set b: actuator_gainprm, actuator_gear, body_inertia, body_ipos, body_mass, geom_friction, geom_size,
      jnt_range, jnt_solimp, jnt_solref;
    - set c: body_inertia, dof_armature, geom_friction, geom_pos, geom_size, geom_solimp, geom_solref, jnt_solimp,
      jnt_solref, jnt_stiffness.

    ## Action space

    ``Box(-1, 1, (6,), float32)``: the torques of the six motors (gear 120, 90, 60, 120, 60, 30), in the order
    back thigh, back shin, back foot, front thigh, front shin, front foot. Actions are not clipped by the
    environment: MuJoCo clamps the controls to [-1, 1] and the control cost uses the action as given (as in
    Gymnasium and the authors' code).

    ## Observation space

    ``Box(-inf, inf, (17,), float32)`` (``observation="v5"``, the default) or ``(20,)`` (``observation="authors"``,
    what the paper's experiments use), read after the step:

    | Index | Observation                                            | Unit                     |
    |-------|--------------------------------------------------------|--------------------------|
    | 0     | z of the torso (``rootz``, relative to its start 0.7)  | position (m)             |
    | 1     | angle of the torso (``rooty``)                         | angle (rad)              |
    | 2-7   | angles of the six joints (back thigh ... front foot)   | angle (rad)              |
    | 8     | x velocity of the torso                                | velocity (m/s)           |
    | 9     | z velocity of the torso                                | velocity (m/s)           |
    | 10    | angular velocity of the torso                          | angular velocity (rad/s) |
    | 11-16 | angular velocities of the six joints                   | angular velocity (rad/s) |
    | 17-19 | ``"authors"`` only: the torso's position x, y, z       | position (m)             |

    With ``"v5"`` the torso's x position is left out, as in Gymnasium's v5 default. The authors appended the torso's
    position (``data.xpos``, what their ``get_body_com("torso")`` returned; MuJoCo computes it before the step's
    last physics substep): its y is always 0 and its z about repeats ``rootz`` (plus 0.7), but its x, the distance
    run so far, tells a critic that cannot see the time how far into the episode it is. The roml experiments use
    ``"authors"`` (``docs/architecture.md`` has the measurement).

    ## Starting state

    ``qpos = U(-0.1, 0.1)`` per coordinate (around ``qpos0 = 0``) and ``qvel = 0.1 N(0, 1)``, from the environment's
    own generator ``self.np_random`` (seeded by ``reset(seed=...)``). ``reset(options={"qpos": ..., "qvel": ...})``
    starts from a given state instead.

    ## Episode end

    Exactly 200 steps: ``terminated`` is always False, ``truncated`` is True at step 200 (the authors' runs never
    ended an episode early either). Stepping further without ``reset`` raises ``RuntimeError``.

    ## Rewards

    Per step, with ``v = (x_after - x_before) / dt`` the torso's forward velocity over the step (``dt = 0.05``):

    | Term     | Value                 | ``info`` key      |
    |----------|-----------------------|-------------------|
    | forward  | ``v``                 | ``reward_forward``|
    | height   | ``+ rootz``           | ``reward_height`` |
    | control  | ``- 0.05 * ||a||^2``  | ``reward_ctrl``   |

    ``rootz`` (observation 0) is the torso's height relative to its start; the authors added it (as ``obs[0]``) to
    penalise flipping over. ``info`` also holds ``x_position`` and ``x_velocity``.

    ## Task parameters

    Ten factors named after their arrays (in the table's order), each in ``[0.707, 1.414]``, originally
    ``log2 U[-0.5, 0.5]`` independently; family ``LogBetaBox([-0.5] * 10, [0.5] * 10)``. They are applied from
    the compiled model's values (never compounding); then, if an array shapes collisions (``geom_size``,
    ``geom_pos``, ``body_ipos``), the collision bounds are recomputed, and finally ``mujoco.mj_setConst`` runs.
    ``body_mass`` here scales the masses alone (``body_inertia`` is its own property). The default task is all
    ones.

    Args:
        variant: "a", "b" or "c".

    ## Differences from the authors' code (``RobustMetaRL/environments/mujoco/half_cheetah*.py``)

    - Gymnasium v5 and the ``mujoco`` bindings instead of gym 0.17 and mujoco-py; seeded resets.
    - ``observation="v5"`` (the default) drops the authors' last three entries, the torso's position; ``"authors"``
      keeps them.
    - The authors drew their 10 arrays from every float array of the model, so their set (docs/authors-code.md,
      section 4, set "A") included camera, light and material fields and zero margins that leave the simulation
      unchanged; which of their three historical sets the paper used is unclear. Our sets contain only arrays that
      change the dynamics.
    """

    def __init__(self, variant: str = "a", task: Any = None, render_mode: str | None = None, **options: str):
        if variant not in TEN_D_SETS:
            raise ValueError(f"variant must be one of {sorted(TEN_D_SETS)}, got {variant!r}")
        self.variant = variant
        self.name = f"HalfCheetah10D-{variant}"
        self._build(task, render_mode, options, variant=variant)

    def _model_parameters(self) -> tuple[ModelParameter, ...]:
        return tuple(FieldScale(field) for field in TEN_D_SETS[self.variant])
