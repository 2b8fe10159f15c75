"""Humanoid task environments (Section 6.2, App. D.2): Vel, Mass and Body.

All three run Gymnasium's ``Humanoid-v5`` model (humanoid.xml: a free-floating torso and 17 hinge joints, 17 motors
with control range [-0.4, 0.4], RK4 with timestep 0.003 and frame skip 5, so ``dt = 0.015``) through the batched
core of :mod:`roml.envs.mujoco.physics`, with Gymnasium v5's reward terms, the authors' task rewards
(docs/authors-code.md, section 4) and 200-step episodes that never end early.
"""

from __future__ import annotations

import numpy as np

from roml.envs.mujoco.base import MassPhysics, MujocoTaskEnv
from roml.envs.mujoco.model import AuthorsMassScale, DofDampingScale, GeomSizeScale, ModelParameter
from roml.envs.mujoco.physics import PhysicsBatch

# imported after base, whose import explains a missing mujoco before Gymnasium's module fails on it
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv

__all__ = ["HumanoidBodyEnv", "HumanoidMassEnv", "HumanoidTaskEnv", "HumanoidVelEnv"]

FORWARD_WEIGHT = 1.25
HEALTHY_REWARD = 5.0
CTRL_COST_WEIGHT = 0.1
CONTACT_COST_WEIGHT = 5e-7
CONTACT_COST_MAX = 10.0
HEALTHY_Z = (1.0, 2.0)


class HumanoidTaskEnv(MujocoTaskEnv, HumanoidEnv):
    """Base of the Humanoid task environments: the model, observation and start; subclasses choose the forward
    term and the task parameters."""

    parent = HumanoidEnv
    parent_kwargs = {"terminate_when_unhealthy": False, "reset_noise_scale": 1e-2}
    data_fields = ("qpos", "qvel", "cinert", "cvel", "qfrc_actuator", "cfrc_ext", "xipos")
    contact_forces = True
    reset_noise = (("uniform", 1e-2), ("uniform", 1e-2))

    @classmethod
    def _observe(cls, batch: PhysicsBatch) -> np.ndarray:
        b, n = batch.buffers, batch.n
        parts = (
            b["qpos"][:, 2:],
            b["qvel"],
            b["cinert"][:, 1:].reshape(n, -1),
            b["cvel"][:, 1:].reshape(n, -1),
            b["qfrc_actuator"][:, 6:],
            b["cfrc_ext"][:, 1:].reshape(n, -1),
        )
        return np.concatenate(parts, axis=1, dtype=np.float32)

    @classmethod
    def _position(cls, batch: PhysicsBatch) -> np.ndarray:
        mass = batch.body_mass
        centre = np.einsum("nb,nbj->nj", mass, batch.buffers["xipos"]) / mass.sum(axis=1, keepdims=True)
        return centre[:, :2]

    @classmethod
    def _forward(cls, batch: PhysicsBatch, velocity: np.ndarray) -> tuple[str, np.ndarray]:
        """The task's forward term and its ``info`` key."""
        return "reward_forward", FORWARD_WEIGHT * velocity

    @classmethod
    def _reward(cls, batch, actions, before, after):
        velocity = (after[:, 0] - before[:, 0]) / batch.dt
        z = batch.buffers["qpos"][:, 2]
        healthy = (z > HEALTHY_Z[0]) & (z < HEALTHY_Z[1])
        survive = HEALTHY_REWARD * healthy
        ctrl = CTRL_COST_WEIGHT * np.einsum("ij,ij->i", actions, actions)
        forces = batch.buffers["cfrc_ext"].reshape(batch.n, -1)
        contact = np.minimum(CONTACT_COST_WEIGHT * np.einsum("ij,ij->i", forces, forces), CONTACT_COST_MAX)
        key, forward = cls._forward(batch, velocity)
        info = {
            "x_velocity": velocity,
            "healthy": healthy,
            key: forward,
            "reward_survive": survive,
            "reward_ctrl": -ctrl,
            "reward_contact": -contact,
        }
        return forward + survive - ctrl - contact, info


class HumanoidVelEnv(HumanoidTaskEnv):
    """Humanoid-Vel: walk forward at a target velocity (App. D.2).

    ## Description

    The humanoid must move its centre of mass forward at the task's target velocity ``v_goal`` in [0, 2.5], which
    it does not observe.

    ## Action space

    ``Box(-0.4, 0.4, (17,), float32)``: the controls of the 17 motors (abdomen y/z/x, right hip x/z/y, right knee,
    left hip x/z/y, left knee, right shoulder 1/2, right elbow, left shoulder 1/2, left elbow), as in Gymnasium v5.
    Actions are not clipped by the environment: MuJoCo clamps the controls to [-0.4, 0.4] and the control cost
    uses the action as given.

    ## Observation space

    ``Box(-inf, inf, (348,), float32)``, Gymnasium v5's layout, read after the step:

    | Index   | Observation                                                        | Size          |
    |---------|--------------------------------------------------------------------|---------------|
    | 0-21    | ``qpos[2:]``: torso z, torso orientation (quaternion), 17 joint angles | 22        |
    | 22-44   | ``qvel``: torso linear and angular velocity, 17 joint velocities   | 23            |
    | 45-174  | ``cinert[1:]``: mass and inertia of the 13 bodies about the centre of mass | 13 x 10 |
    | 175-252 | ``cvel[1:]``: the 13 bodies' velocities about the centre of mass   | 13 x 6        |
    | 253-269 | ``qfrc_actuator[6:]``: the actuators' joint forces                  | 17            |
    | 270-347 | ``cfrc_ext[1:]``: external (contact) forces on the 13 bodies       | 13 x 6        |

    ## Starting state

    ``qpos = qpos0 + U(-0.01, 0.01)`` and ``qvel = U(-0.01, 0.01)`` per coordinate (Gymnasium v5), from the
    environment's own generator ``self.np_random``. ``reset(options={"qpos": ..., "qvel": ...})`` starts from a
    given state instead.

    ## Episode end

    Exactly 200 steps: ``terminated`` is always False, ``truncated`` is True at step 200. A fallen humanoid (torso
    z outside (1, 2)) is *not* terminated, as in the authors' runs: it only loses the healthy reward. (All
    episodes of a vector environment therefore end on the same step, which VariBAD's BAMDP loop needs.)

    ## Rewards

    | Term    | Value                                          | ``info`` key       |
    |---------|------------------------------------------------|--------------------|
    | velocity| ``- 1.25 * |v - v_goal|``                      | ``reward_velocity``|
    | healthy | ``+ 5`` if the torso's z is in (1, 2), else 0   | ``reward_survive`` |
    | control | ``- 0.1 * ||a||^2``                            | ``reward_ctrl``    |
    | contact | ``- min(5e-7 * ||cfrc_ext||^2, 10)``           | ``reward_contact`` |

    ``v = (x_after - x_before) / dt`` is the x velocity of the whole body's centre of mass over the step (computed
    from ``xipos`` and the current task's masses, as Gymnasium v5 does). ``info`` also holds ``x_velocity`` and
    ``healthy``.

    ## Task parameter

    | Name     | Meaning                                   | Range    | Original distribution | Family              |
    |----------|-------------------------------------------|----------|-----------------------|---------------------|
    | velocity | target forward velocity (m/s)             | [0, 2.5] | U[0, 2.5]             | ``BetaBox(0, 2.5)`` |

    ``set_task(v)`` takes effect at the next reset; the default task is 1.25. Tasks outside [0, 2.5] raise
    ``ValueError``.

    ## Differences from the authors' code (``RobustMetaRL/environments/mujoco/humanoid*.py``)

    - Gymnasium v5 and the ``mujoco`` bindings instead of mujoco-py; seeded resets.
    - The action space is Gymnasium's [-0.4, 0.4]^17. The authors re-declared it as [-1, 1]^17 without rescaling,
      so MuJoCo clamped most of that range to +-0.4 while the control cost grew with the unclamped value.
    - The observation is v5's 348 entries (the authors': the older 376-entry layout, which also held the world
      body's constant rows and the free joint's actuator forces, always zero).
    - The contact cost uses working contact forces (under mujoco-py with MuJoCo >= 2.0, ``cfrc_ext`` was zero).
    """

    name = "HumanoidVel"

    @classmethod
    def _forward(cls, batch, velocity):
        return "reward_velocity", -FORWARD_WEIGHT * np.abs(velocity - batch.tasks[:, 0])


class HumanoidMassEnv(MassPhysics, HumanoidTaskEnv):
    """Humanoid-Mass: walk forward as fast as possible with a body of unknown mass (App. D.2).

    ## Description

    The task multiplies the mass of every body of the humanoid by one factor in [0.5, 2] (and, by default, its
    inertia; under the authors' mass physics, the geoms' radii instead).

    ## Action space

    ``Box(-0.4, 0.4, (17,), float32)``: the controls of the 17 motors (abdomen y/z/x, right hip x/z/y, right knee,
    left hip x/z/y, left knee, right shoulder 1/2, right elbow, left shoulder 1/2, left elbow), as in Gymnasium v5.
    Actions are not clipped by the environment: MuJoCo clamps the controls to [-0.4, 0.4] and the control cost
    uses the action as given.

    ## Observation space

    ``Box(-inf, inf, (348,), float32)``, Gymnasium v5's layout, read after the step:

    | Index   | Observation                                                        | Size          |
    |---------|--------------------------------------------------------------------|---------------|
    | 0-21    | ``qpos[2:]``: torso z, torso orientation (quaternion), 17 joint angles | 22        |
    | 22-44   | ``qvel``: torso linear and angular velocity, 17 joint velocities   | 23            |
    | 45-174  | ``cinert[1:]``: mass and inertia of the 13 bodies about the centre of mass | 13 x 10 |
    | 175-252 | ``cvel[1:]``: the 13 bodies' velocities about the centre of mass   | 13 x 6        |
    | 253-269 | ``qfrc_actuator[6:]``: the actuators' joint forces                  | 17            |
    | 270-347 | ``cfrc_ext[1:]``: external (contact) forces on the 13 bodies       | 13 x 6        |

    ## Starting state

    ``qpos = qpos0 + U(-0.01, 0.01)`` and ``qvel = U(-0.01, 0.01)`` per coordinate (Gymnasium v5), from the
    environment's own generator ``self.np_random``. ``reset(options={"qpos": ..., "qvel": ...})`` starts from a
    given state instead.

    ## Episode end

    Exactly 200 steps: ``terminated`` is always False, ``truncated`` is True at step 200. A fallen humanoid (torso
    z outside (1, 2)) is *not* terminated, as in the authors' runs: it only loses the healthy reward. (All
    episodes of a vector environment therefore end on the same step, which VariBAD's BAMDP loop needs.)

    ## Rewards

    | Term    | Value                                          | ``info`` key       |
    |---------|------------------------------------------------|--------------------|
    | forward | ``1.25 * v``                                   | ``reward_forward`` |
    | healthy | ``+ 5`` if the torso's z is in (1, 2), else 0   | ``reward_survive`` |
    | control | ``- 0.1 * ||a||^2``                            | ``reward_ctrl``    |
    | contact | ``- min(5e-7 * ||cfrc_ext||^2, 10)``           | ``reward_contact`` |

    ``v = (x_after - x_before) / dt`` is the x velocity of the whole body's centre of mass over the step (computed
    from ``xipos`` and the current task's masses, as Gymnasium v5 does). ``info`` also holds ``x_velocity`` and
    ``healthy``.


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
    version: ``body_mass`` times the factor, the radius of every geom of the humanoid times the factor (Body: but
    the head's, which its own factor scales), the inertias as compiled, and nothing derived recomputed (subtree
    masses, ``dof_invweight0``, collision bounds stay those of the original model).

    ## Differences from the authors' code (``RobustMetaRL/environments/mujoco/humanoid*.py``)

    - Gymnasium v5 and the ``mujoco`` bindings instead of mujoco-py; seeded resets.
    - The action space is Gymnasium's [-0.4, 0.4]^17. The authors re-declared it as [-1, 1]^17 without rescaling,
      so MuJoCo clamped most of that range to +-0.4 while the control cost grew with the unclamped value.
    - The observation is v5's 348 entries (the authors': the older 376-entry layout, which also held the world
      body's constant rows and the free joint's actuator forces, always zero).
    - The contact cost uses working contact forces (under mujoco-py with MuJoCo >= 2.0, ``cfrc_ext`` was zero).
    - By default a mass factor scales ``body_mass`` **and** ``body_inertia`` (then ``mj_setConst``); the authors
      scaled the masses alone and also every capsule's radius, mixing a geometry change into the mass task, and
      recomputed nothing; ``mass_physics="authors"`` does as they did.
    """

    name = "HumanoidMass"

    def _model_parameters(self) -> tuple[ModelParameter, ...]:
        return (self._mass_parameter(),)


class HumanoidBodyEnv(MassPhysics, HumanoidTaskEnv):
    """Humanoid-Body: walk forward with unknown mass, joint damping and head size (App. D.2).

    ## Description

    Three independent factors in [0.5, 2] change the humanoid's mass, its joints' damping and the radius of its
    head (a sphere of radius 0.09 on top of the torso).

    ## Action space

    ``Box(-0.4, 0.4, (17,), float32)``: the controls of the 17 motors (abdomen y/z/x, right hip x/z/y, right knee,
    left hip x/z/y, left knee, right shoulder 1/2, right elbow, left shoulder 1/2, left elbow), as in Gymnasium v5.
    Actions are not clipped by the environment: MuJoCo clamps the controls to [-0.4, 0.4] and the control cost
    uses the action as given.

    ## Observation space

    ``Box(-inf, inf, (348,), float32)``, Gymnasium v5's layout, read after the step:

    | Index   | Observation                                                        | Size          |
    |---------|--------------------------------------------------------------------|---------------|
    | 0-21    | ``qpos[2:]``: torso z, torso orientation (quaternion), 17 joint angles | 22        |
    | 22-44   | ``qvel``: torso linear and angular velocity, 17 joint velocities   | 23            |
    | 45-174  | ``cinert[1:]``: mass and inertia of the 13 bodies about the centre of mass | 13 x 10 |
    | 175-252 | ``cvel[1:]``: the 13 bodies' velocities about the centre of mass   | 13 x 6        |
    | 253-269 | ``qfrc_actuator[6:]``: the actuators' joint forces                  | 17            |
    | 270-347 | ``cfrc_ext[1:]``: external (contact) forces on the 13 bodies       | 13 x 6        |

    ## Starting state

    ``qpos = qpos0 + U(-0.01, 0.01)`` and ``qvel = U(-0.01, 0.01)`` per coordinate (Gymnasium v5), from the
    environment's own generator ``self.np_random``. ``reset(options={"qpos": ..., "qvel": ...})`` starts from a
    given state instead.

    ## Episode end

    Exactly 200 steps: ``terminated`` is always False, ``truncated`` is True at step 200. A fallen humanoid (torso
    z outside (1, 2)) is *not* terminated, as in the authors' runs: it only loses the healthy reward. (All
    episodes of a vector environment therefore end on the same step, which VariBAD's BAMDP loop needs.)

    ## Rewards

    | Term    | Value                                          | ``info`` key       |
    |---------|------------------------------------------------|--------------------|
    | forward | ``1.25 * v``                                   | ``reward_forward`` |
    | healthy | ``+ 5`` if the torso's z is in (1, 2), else 0   | ``reward_survive`` |
    | control | ``- 0.1 * ||a||^2``                            | ``reward_ctrl``    |
    | contact | ``- min(5e-7 * ||cfrc_ext||^2, 10)``           | ``reward_contact`` |

    ``v = (x_after - x_before) / dt`` is the x velocity of the whole body's centre of mass over the step (computed
    from ``xipos`` and the current task's masses, as Gymnasium v5 does). ``info`` also holds ``x_velocity`` and
    ``healthy``.


    ## Task parameters

    | Name | Meaning | Range | Original distribution |
    |------|---------|-------|-----------------------|
    | mass | factor on ``body_mass`` and ``body_inertia`` | [0.5, 2] | log2 U[-1, 1] |
    | damping | factor on ``dof_damping`` (5: abdomen, hips; 1: knees, arms) | [0.5, 2] | log2 U[-1, 1] |
    | head_size | factor on the head sphere's radius (0.09) | [0.5, 2] | log2 U[-1, 1] |

    Family ``LogBetaBox([-1, -1, -1], [1, 1, 1])``, independent per dimension. The factors are applied from the
    compiled model's values (never compounding), then ``mujoco.mj_setConst``. The size factor changes the collision
    shape only: the geom's bounding sphere and box and its body's bounding-volume hierarchy are recomputed as the
    compiler would (:func:`refresh_collision_bounds`), while masses and inertias stay as compiled. The default task
    is (1, 1, 1).

    ## Mass physics

    ``mass_physics="density"`` (the default) scales mass and inertia together (a denser body of the same shape) and
    recomputes the derived constants. ``mass_physics="authors"``, what the paper's experiments use, is the authors'
    version: ``body_mass`` times the factor, the radius of every geom of the humanoid times the factor (Body: but
    the head's, which its own factor scales), the inertias as compiled, and nothing derived recomputed (subtree
    masses, ``dof_invweight0``, collision bounds stay those of the original model).

    ## Differences from the authors' code (``RobustMetaRL/environments/mujoco/humanoid*.py``)

    - Gymnasium v5 and the ``mujoco`` bindings instead of mujoco-py; seeded resets.
    - The action space is Gymnasium's [-0.4, 0.4]^17. The authors re-declared it as [-1, 1]^17 without rescaling,
      so MuJoCo clamped most of that range to +-0.4 while the control cost grew with the unclamped value.
    - The observation is v5's 348 entries (the authors': the older 376-entry layout, which also held the world
      body's constant rows and the free joint's actuator forces, always zero).
    - The contact cost uses working contact forces (under mujoco-py with MuJoCo >= 2.0, ``cfrc_ext`` was zero).
    - By default a mass factor scales ``body_mass`` **and** ``body_inertia`` (then ``mj_setConst``); the authors
      scaled the masses alone and also every capsule's radius, mixing a geometry change into the mass task, and
      recomputed nothing; ``mass_physics="authors"`` does as they did.
    """

    name = "HumanoidBody"
    authors_mass = AuthorsMassScale(except_geoms=("head",))

    def _model_parameters(self) -> tuple[ModelParameter, ...]:
        return (self._mass_parameter(), DofDampingScale(), GeomSizeScale("head", (0,)))
