"""Ant task environments (Section 6.2, App. D.2): Goal, Mass and Body.

All three run Gymnasium's ``Ant-v5`` model (ant.xml: a free-floating spherical torso with four two-joint legs, 8
motors with gear 150 and control range [-1, 1], RK4 with timestep 0.01 and frame skip 5, so ``dt = 0.05``; the
same numbers as the authors' ant.xml) through the batched core of :mod:`roml.envs.mujoco.physics`, with the authors'
rewards (docs/authors-code.md, section 4) and 200-step episodes that never end early.
"""

from __future__ import annotations

import numpy as np

from roml.envs.mujoco.base import MassPhysics, MujocoTaskEnv
from roml.envs.mujoco.model import AuthorsMassScale, DofDampingScale, GeomSizeScale, ModelParameter
from roml.envs.mujoco.physics import PhysicsBatch

# imported after base, whose import explains a missing mujoco before Gymnasium's module fails on it
from gymnasium.envs.mujoco.ant_v5 import AntEnv

__all__ = ["AntBodyEnv", "AntGoalEnv", "AntMassEnv", "AntTaskEnv"]

CONTACT_COST_WEIGHT = 5e-4
HEALTHY_Z = (0.2, 1.0)


class AntTaskEnv(MujocoTaskEnv, AntEnv):
    """Base of the Ant task environments: model, start and the forward-walking reward of Mass and Body."""

    parent = AntEnv
    parent_kwargs = {
        "terminate_when_unhealthy": False,
        "include_cfrc_ext_in_observation": False,
        "reset_noise_scale": 0.1,
    }
    data_fields = ("qpos", "qvel", "cfrc_ext")
    contact_forces = True
    reset_noise = (("uniform", 0.1), ("normal", 0.1))

    @classmethod
    def _observe(cls, batch: PhysicsBatch) -> np.ndarray:
        return np.concatenate([batch.buffers["qpos"][:, 2:], batch.buffers["qvel"]], axis=1, dtype=np.float32)

    @classmethod
    def _position(cls, batch: PhysicsBatch) -> np.ndarray:
        return batch.buffers["qpos"][:, :2].copy()

    @staticmethod
    def _contact_cost(batch: PhysicsBatch) -> np.ndarray:
        forces = np.clip(batch.buffers["cfrc_ext"].reshape(batch.n, -1), -1.0, 1.0)
        return CONTACT_COST_WEIGHT * np.einsum("ij,ij->i", forces, forces)

    @classmethod
    def _reward(cls, batch, actions, before, after):
        velocity = (after[:, 0] - before[:, 0]) / batch.dt
        qpos, qvel = batch.buffers["qpos"], batch.buffers["qvel"]
        z = qpos[:, 2]
        healthy = (
            np.isfinite(qpos).all(axis=1) & np.isfinite(qvel).all(axis=1) & (z >= HEALTHY_Z[0]) & (z <= HEALTHY_Z[1])
        )
        survive = healthy.astype(np.float64)
        ctrl = 0.5 * np.einsum("ij,ij->i", actions, actions)
        contact = cls._contact_cost(batch)
        info = {
            "x_position": after[:, 0].copy(),
            "y_position": after[:, 1].copy(),
            "x_velocity": velocity,
            "healthy": healthy,
            "reward_forward": velocity,
            "reward_survive": survive,
            "reward_ctrl": -ctrl,
            "reward_contact": -contact,
        }
        return velocity + survive - ctrl - contact, info


class AntGoalEnv(AntTaskEnv):
    """Ant-Goal: walk to a goal position on the floor (App. D.2; radius extended from VariBAD's 3 to 5).

    ## Description

    The ant starts at the origin and must walk to the task's goal ``(goal_x, goal_y)``, uniform on the disc of
    radius 5, which it does not observe; it can infer it from the rewards.

    ## Action space

    ``Box(-1, 1, (8,), float32)``: the torques of the 8 motors (hip and ankle of the front-left, front-right,
    back-left and back-right legs, in ant.xml's order). Actions are not clipped by the environment: MuJoCo clamps
    the controls to [-1, 1] and the control cost uses the action as given.

    ## Observation space

    ``Box(-inf, inf, (29,), float32)``, read after the step:

    | Index | Observation                                        | Unit           |
    |-------|----------------------------------------------------|----------------|
    | 0-1   | torso x and y                                      | position (m)   |
    | 2     | torso z                                            | position (m)   |
    | 3-6   | torso orientation (quaternion w, x, y, z)          |                |
    | 7-14  | the 8 joint angles                                 | angle (rad)    |
    | 15-20 | torso linear and angular velocity                  | (m/s, rad/s)   |
    | 21-28 | the 8 joint angular velocities                     | (rad/s)        |

    ## Rewards

    Per step, with ``xy`` the torso's position after the step:

    | Term     | Value                                  | ``info`` key        |
    |----------|----------------------------------------|---------------------|
    | goal     | ``- (|x - goal_x| + |y - goal_y|)``    | ``reward_goal``     |
    | control  | ``- 0.1 * ||a||^2``                    | ``reward_ctrl``     |
    | contact  | ``- 5e-4 * ||clip(cfrc_ext, -1, 1)||^2`` (all bodies) | ``reward_contact`` |

    There is no healthy reward (as in the authors' code). ``info`` also holds ``x_position`` and ``y_position``.

    ## Starting state

    ``qpos = qpos0 + U(-0.1, 0.1)`` per coordinate (torso at height 0.75; the orientation quaternion gets the
    noise too, as in Gymnasium) and ``qvel = 0.1 N(0, 1)``, from the environment's own generator
    ``self.np_random``. ``reset(options={"qpos": ..., "qvel": ...})`` starts from a given state instead.

    ## Episode end

    Exactly 200 steps: ``terminated`` is always False, ``truncated`` is True at step 200. An ant that flips or
    jumps out of the healthy range is *not* terminated, as in the authors' runs (all episodes of a vector
    environment therefore end on the same step, which VariBAD's BAMDP loop needs).

    ## Task parameters

    | Name   | Meaning         | Range                      | Original distribution          | Family             |
    |--------|-----------------|----------------------------|--------------------------------|--------------------|
    | goal_x | goal x (m)      | the disc ``x^2 + y^2 <= 25`` | uniform on the disc of radius 5 | ``PolarDisc(5)`` |
    | goal_y | goal y (m)      |                            |                                |                    |

    ``PolarDisc`` writes the goal as ``r = 5 sqrt(u_r)``, ``theta = 2 pi u_theta`` with independent mean-parameterised
    Beta ``u_r, u_theta`` (``phi0 = (0.5, 0.5)`` is uniform on the disc). ``set_task((x, y))`` takes effect at the
    next reset; goals outside the disc raise ``ValueError``. The default task is ``(-5 / sqrt(2), 0)`` (the
    family's median: ``u = (0.5, 0.5)``).

    ## Differences from the authors' code (``RobustMetaRL/environments/mujoco/ant*.py``)

    - Gymnasium v5's ant.xml and the ``mujoco`` bindings instead of the VariBAD/PEARL ant.xml and mujoco-py
      (same timestep, frame skip, gear and control range); seeded resets.
    - The contact cost uses working contact forces; under mujoco-py with MuJoCo >= 2.0, ``cfrc_ext`` was zero, so
      the authors' contact terms (and AntGoal's 84 contact-force observations) were zero.
    - Positions and velocities come from the torso's free joint (``qpos``), which is exact after the step; the
      authors (and Gymnasium) read the body position ``xpos``, which lags one MuJoCo substep behind.
    - The observation leaves out the authors' 84 clipped contact forces (zero in their runs, see above).
    - The task family's angle is consistent between sampling and density (the authors' was off by half a turn,
      which rotated RoML's angle update; see ``roml.tasks.PolarDisc``).
    """

    name = "AntGoal"

    @classmethod
    def _observe(cls, batch: PhysicsBatch) -> np.ndarray:
        return np.concatenate([batch.buffers["qpos"], batch.buffers["qvel"]], axis=1, dtype=np.float32)

    @classmethod
    def _reward(cls, batch, actions, before, after):
        goal = -np.abs(after - batch.tasks).sum(axis=1)
        ctrl = 0.1 * np.einsum("ij,ij->i", actions, actions)
        contact = cls._contact_cost(batch)
        info = {
            "x_position": after[:, 0].copy(),
            "y_position": after[:, 1].copy(),
            "reward_goal": goal,
            "reward_ctrl": -ctrl,
            "reward_contact": -contact,
        }
        return goal - ctrl - contact, info


class AntMassEnv(MassPhysics, AntTaskEnv):
    """Ant-Mass: walk forward as fast as possible with a body of unknown mass (App. D.2).

    ## Description

    The task multiplies the mass of every body of the ant by one factor in [0.5, 2] (and, by default, its inertia;
    under the authors' mass physics, the mass alone).

    ## Action space

    ``Box(-1, 1, (8,), float32)``: the torques of the 8 motors (hip and ankle of the front-left, front-right,
    back-left and back-right legs, in ant.xml's order). Actions are not clipped by the environment: MuJoCo clamps
    the controls to [-1, 1] and the control cost uses the action as given.

    ## Observation space

    ``Box(-inf, inf, (27,), float32)``, read after the step (as the authors' Mass and Body tasks):

    | Index | Observation                                                      | Unit               |
    |-------|------------------------------------------------------------------|--------------------|
    | 0     | torso z                                                          | position (m)       |
    | 1-4   | torso orientation (quaternion w, x, y, z)                        |                    |
    | 5-12  | the 8 joint angles                                               | angle (rad)        |
    | 13-15 | torso linear velocity (x, y, z)                                  | velocity (m/s)     |
    | 16-18 | torso angular velocity                                           | (rad/s)            |
    | 19-26 | the 8 joint angular velocities                                   | (rad/s)            |

    ## Rewards

    Per step, with ``v = (x_after - x_before) / dt`` the torso's x velocity over the step:

    | Term    | Value                                                      | ``info`` key       |
    |---------|------------------------------------------------------------|--------------------|
    | forward | ``v``                                                      | ``reward_forward`` |
    | healthy | ``+ 1`` if the state is finite and the torso's z in [0.2, 1] | ``reward_survive`` |
    | control | ``- 0.5 * ||a||^2``                                        | ``reward_ctrl``    |
    | contact | ``- 5e-4 * ||clip(cfrc_ext, -1, 1)||^2`` (all bodies) | ``reward_contact`` |

    ``info`` also holds ``x_position``, ``y_position``, ``x_velocity`` and ``healthy``.

    ## Starting state

    ``qpos = qpos0 + U(-0.1, 0.1)`` per coordinate (torso at height 0.75; the orientation quaternion gets the
    noise too, as in Gymnasium) and ``qvel = 0.1 N(0, 1)``, from the environment's own generator
    ``self.np_random``. ``reset(options={"qpos": ..., "qvel": ...})`` starts from a given state instead.

    ## Episode end

    Exactly 200 steps: ``terminated`` is always False, ``truncated`` is True at step 200. An ant that flips or
    jumps out of the healthy range is *not* terminated, as in the authors' runs (all episodes of a vector
    environment therefore end on the same step, which VariBAD's BAMDP loop needs).


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
    version: ``body_mass`` times the factor, the geometry as compiled, the inertias as compiled, and nothing derived
    recomputed (subtree masses, ``dof_invweight0``, collision bounds stay those of the original model).

    ## Differences from the authors' code (``RobustMetaRL/environments/mujoco/ant*.py``)

    - Gymnasium v5's ant.xml and the ``mujoco`` bindings instead of the VariBAD/PEARL ant.xml and mujoco-py
      (same timestep, frame skip, gear and control range); seeded resets.
    - The contact cost uses working contact forces; under mujoco-py with MuJoCo >= 2.0, ``cfrc_ext`` was zero, so
      the authors' contact terms (and AntGoal's 84 contact-force observations) were zero.
    - Positions and velocities come from the torso's free joint (``qpos``), which is exact after the step; the
      authors (and Gymnasium) read the body position ``xpos``, which lags one MuJoCo substep behind.
    - By default a mass factor scales ``body_mass`` **and** ``body_inertia`` (then ``mj_setConst``); the authors
      scaled the masses alone, and recomputed nothing; ``mass_physics="authors"`` does as they did.
    """

    name = "AntMass"
    authors_mass = AuthorsMassScale(radii=False)

    def _model_parameters(self) -> tuple[ModelParameter, ...]:
        return (self._mass_parameter(),)


class AntBodyEnv(MassPhysics, AntTaskEnv):
    """Ant-Body: walk forward with unknown mass, joint damping and torso size (App. D.2).

    ## Description

    Three independent factors in [0.5, 2] change the ant's mass, its joints' damping and the radius of its
    spherical torso. The ant has no head; its torso is the part the paper's "head size" maps to.

    ## Action space

    ``Box(-1, 1, (8,), float32)``: the torques of the 8 motors (hip and ankle of the front-left, front-right,
    back-left and back-right legs, in ant.xml's order). Actions are not clipped by the environment: MuJoCo clamps
    the controls to [-1, 1] and the control cost uses the action as given.

    ## Observation space

    ``Box(-inf, inf, (27,), float32)``, read after the step (as the authors' Mass and Body tasks):

    | Index | Observation                                                      | Unit               |
    |-------|------------------------------------------------------------------|--------------------|
    | 0     | torso z                                                          | position (m)       |
    | 1-4   | torso orientation (quaternion w, x, y, z)                        |                    |
    | 5-12  | the 8 joint angles                                               | angle (rad)        |
    | 13-15 | torso linear velocity (x, y, z)                                  | velocity (m/s)     |
    | 16-18 | torso angular velocity                                           | (rad/s)            |
    | 19-26 | the 8 joint angular velocities                                   | (rad/s)            |

    ## Rewards

    Per step, with ``v = (x_after - x_before) / dt`` the torso's x velocity over the step:

    | Term    | Value                                                      | ``info`` key       |
    |---------|------------------------------------------------------------|--------------------|
    | forward | ``v``                                                      | ``reward_forward`` |
    | healthy | ``+ 1`` if the state is finite and the torso's z in [0.2, 1] | ``reward_survive`` |
    | control | ``- 0.5 * ||a||^2``                                        | ``reward_ctrl``    |
    | contact | ``- 5e-4 * ||clip(cfrc_ext, -1, 1)||^2`` (all bodies) | ``reward_contact`` |

    ``info`` also holds ``x_position``, ``y_position``, ``x_velocity`` and ``healthy``.

    ## Starting state

    ``qpos = qpos0 + U(-0.1, 0.1)`` per coordinate (torso at height 0.75; the orientation quaternion gets the
    noise too, as in Gymnasium) and ``qvel = 0.1 N(0, 1)``, from the environment's own generator
    ``self.np_random``. ``reset(options={"qpos": ..., "qvel": ...})`` starts from a given state instead.

    ## Episode end

    Exactly 200 steps: ``terminated`` is always False, ``truncated`` is True at step 200. An ant that flips or
    jumps out of the healthy range is *not* terminated, as in the authors' runs (all episodes of a vector
    environment therefore end on the same step, which VariBAD's BAMDP loop needs).


    ## Task parameters

    | Name | Meaning | Range | Original distribution |
    |------|---------|-------|-----------------------|
    | mass | factor on ``body_mass`` and ``body_inertia`` | [0.5, 2] | log2 U[-1, 1] |
    | damping | factor on ``dof_damping`` (1 on each leg joint) | [0.5, 2] | log2 U[-1, 1] |
    | torso_size | factor on the torso sphere's radius (0.25) | [0.5, 2] | log2 U[-1, 1] |

    Family ``LogBetaBox([-1, -1, -1], [1, 1, 1])``, independent per dimension. The factors are applied from the
    compiled model's values (never compounding), then ``mujoco.mj_setConst``. The size factor changes the collision
    shape only: the geom's bounding sphere and box and its body's bounding-volume hierarchy are recomputed as the
    compiler would (:func:`refresh_collision_bounds`), while masses and inertias stay as compiled. The default task
    is (1, 1, 1).

    ## Mass physics

    ``mass_physics="density"`` (the default) scales mass and inertia together (a denser body of the same shape) and
    recomputes the derived constants. ``mass_physics="authors"``, what the paper's experiments use, is the authors'
    version: ``body_mass`` times the factor, the geometry as compiled, the inertias as compiled, and nothing derived
    recomputed (subtree masses, ``dof_invweight0``, collision bounds stay those of the original model).

    ## Differences from the authors' code (``RobustMetaRL/environments/mujoco/ant*.py``)

    - Gymnasium v5's ant.xml and the ``mujoco`` bindings instead of the VariBAD/PEARL ant.xml and mujoco-py
      (same timestep, frame skip, gear and control range); seeded resets.
    - The contact cost uses working contact forces; under mujoco-py with MuJoCo >= 2.0, ``cfrc_ext`` was zero, so
      the authors' contact terms (and AntGoal's 84 contact-force observations) were zero.
    - Positions and velocities come from the torso's free joint (``qpos``), which is exact after the step; the
      authors (and Gymnasium) read the body position ``xpos``, which lags one MuJoCo substep behind.
    - By default a mass factor scales ``body_mass`` **and** ``body_inertia`` (then ``mj_setConst``); the authors
      scaled the masses alone, and recomputed nothing; ``mass_physics="authors"`` does as they did.
    - The authors' third factor scaled ``geom_size[2, 1]``, the half-length of one hip capsule (``aux_1_geom``,
      leg 1 only), under the name "head_size" (with a TODO); here it is the torso's radius, named ``torso_size``.
    """

    name = "AntBody"
    authors_mass = AuthorsMassScale(radii=False)

    def _model_parameters(self) -> tuple[ModelParameter, ...]:
        return (self._mass_parameter(), DofDampingScale(), GeomSizeScale("torso_geom", (0,)))
