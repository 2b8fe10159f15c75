"""Shared machinery of the MuJoCo task environments: model loading, task parameters written into a compiled
model, the batched physics core that single and vector environments share, and the task-environment base class.

Three pieces, from the bottom up:

- **Task parameters** (:class:`ModelParameter` and its subclasses) multiply part of a compiled ``mujoco.MjModel`` by
  a factor. :class:`ModelTaskApplier` applies a whole task: it first restores every array the parameters touch from
  a pristine copy taken when the environment was built (so tasks never compound: setting A, then B, then A gives the
  model of A), multiplies, recomputes the collision bounds if geometry changed (:func:`refresh_collision_bounds`)
  and finally calls ``mujoco.mj_setConst`` so that the derived constants (subtree masses, ``dof_invweight0``, ...)
  match the new model; with ``recompute=False`` (the authors' physics) it does neither.
- **The physics batch** (:class:`PhysicsBatch`) steps ``n`` (model, data) pairs of one environment with one
  C call per sub-environment (``mujoco.mj_step(..., nstep=frame_skip)``), copies the arrays the environment needs into
  stacked ``(n, ...)`` buffers, and computes observations and rewards for all ``n`` at once with numpy. A single
  environment is the batch of one, so :class:`MujocoTaskEnv` and
  :class:`~roml.envs.mujoco.vector.MujocoTaskVecEnv` run the same code and give identical trajectories.
- **The environment base** (:class:`MujocoTaskEnv`) is mixed in before a Gymnasium v5 MuJoCo environment
  (``HalfCheetahEnv``, ``HumanoidEnv``, ``AntEnv``), whose model file, action space and renderer it keeps; it adds
  the task API (``set_task``, ``get_task``, ``reset(options={"task": ...})``, ``task_family()``), the fixed
  200-step episodes and exact pickling.

The robot modules (:mod:`~roml.envs.mujoco.half_cheetah`, :mod:`~roml.envs.mujoco.humanoid`,
:mod:`~roml.envs.mujoco.ant`) only declare what they observe and how they reward.
"""

from __future__ import annotations

import copy
import functools
import math
import textwrap
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium.error import DependencyNotInstalled

try:
    import mujoco
    from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
except (ImportError, DependencyNotInstalled) as _err:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "roml's MuJoCo task environments need the 'mujoco' package (>= 3.2) and Gymnasium's MuJoCo support "
        "(which also needs 'imageio'); install them with `pip install 'mujoco>=3.2' imageio` or reinstall "
        f"roml-rl. The import failed with: {_err}"
    ) from _err

import gymnasium
from gymnasium import spaces
from gymnasium.utils import EzPickle

from roml.envs.mujoco.catalog import EPISODE_LENGTH, ENVIRONMENTS
from roml.tasks import TaskFamily

__all__ = [
    "COLLISION_FIELDS",
    "EPISODE_LENGTH",
    "AuthorsMassScale",
    "BodyMassScale",
    "DofDampingScale",
    "FieldScale",
    "GeomSizeScale",
    "MASS_TASK_DOC",
    "MassPhysics",
    "ModelParameter",
    "ModelTaskApplier",
    "MujocoTaskEnv",
    "PhysicsBatch",
    "body_task_doc",
    "mass_physics_doc",
    "check_actions",
    "check_state",
    "check_tasks",
    "default_task",
    "load_model",
    "mass_difference_doc",
    "model_bytes",
    "refresh_collision_bounds",
]


# ------------------------------------------------------------------------------------------------------------------
# Model loading
# ------------------------------------------------------------------------------------------------------------------
@functools.cache
def _compiled(path: str) -> mujoco.MjModel:
    """Compile the model file once per process (through ``MjSpec``, as ``MjModel.from_xml_path`` would).

    Gymnasium's half_cheetah.xml sets the compiler attribute ``settotalmass``, which MuJoCo >= 4 deprecates with a
    warning (``from_xml_path`` even writes it to ``MUJOCO_LOG.TXT`` in the working directory). The compiled model is
    the same either way, so the warning is silenced here.
    """
    spec = mujoco.MjSpec.from_file(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*settotalmass.*", category=UserWarning)
        return spec.compile()


def load_model(path: str) -> mujoco.MjModel:
    """A private copy of the compiled model of ``path`` (the file is parsed once per process)."""
    return copy.copy(_compiled(str(path)))


def model_bytes(model: mujoco.MjModel) -> bytes:
    """The model serialised in MuJoCo's binary MJB format: two models are identical iff their bytes are."""
    buffer = np.zeros(mujoco.mj_sizeModel(model), dtype=np.uint8)
    mujoco.mj_saveModel(model, None, buffer)
    return buffer.tobytes()


# ------------------------------------------------------------------------------------------------------------------
# Collision bounds
# ------------------------------------------------------------------------------------------------------------------
COLLISION_FIELDS = ("geom_rbound", "geom_aabb", "body_margin", "bvh_aabb")
"""Model arrays the compiler derives from the geometry and that collision detection reads (bounding spheres, the
geoms' local bounding boxes, the bodies' margins and their bounding-volume hierarchies)."""

_SPHERE, _CAPSULE, _ELLIPSOID, _CYLINDER, _BOX = (
    int(t)
    for t in (
        mujoco.mjtGeom.mjGEOM_SPHERE,
        mujoco.mjtGeom.mjGEOM_CAPSULE,
        mujoco.mjtGeom.mjGEOM_ELLIPSOID,
        mujoco.mjtGeom.mjGEOM_CYLINDER,
        mujoco.mjtGeom.mjGEOM_BOX,
    )
)
_PRIMITIVES = (_SPHERE, _CAPSULE, _ELLIPSOID, _CYLINDER, _BOX)
_MJ_EPS = 1e-14  # mjEPS: the compiler inflates flat bounding boxes by this much
# corner k of a box has sign (+ if bit j of k is set) along axis j, as in the compiler's loop
_CORNER_SIGNS = np.array([[1.0 if k & (1 << j) else -1.0 for j in range(3)] for k in range(8)])


def _quat_to_mat(quat: np.ndarray) -> np.ndarray:
    mat = np.empty(9)
    mujoco.mju_quat2Mat(mat, np.asarray(quat, dtype=np.float64))
    return mat.reshape(3, 3)


def _primitive_bounds(geom_type: int, size: np.ndarray) -> tuple[float, np.ndarray]:
    """Bounding-sphere radius and local box half-sizes of a primitive geom, as MuJoCo's compiler computes them."""
    r = size[0]
    if geom_type == _SPHERE:
        return r, np.array([r, r, r])
    if geom_type == _CAPSULE:
        return r + size[1], np.array([r, r, r + size[1]])
    if geom_type == _CYLINDER:
        return float(np.sqrt(r * r + size[1] * size[1])), np.array([r, r, size[1]])
    if geom_type == _ELLIPSOID:
        return float(max(size[0], size[1], size[2])), size[:3].copy()
    return float(np.sqrt(size[0] ** 2 + size[1] ** 2 + size[2] ** 2)), size[:3].copy()  # box


def refresh_collision_bounds(model: mujoco.MjModel) -> None:
    """Recompute the collision data the compiler derives from the geometry, in place, the way the compiler does.

    After ``geom_size``, ``geom_pos``, ``geom_margin``, ``geom_gap`` or a body's inertial frame
    (``body_ipos``/``body_iquat``) has been edited in a compiled model, this brings the derived arrays back in line:

    - ``geom_rbound`` and ``geom_aabb`` (bounding sphere and local box) of every primitive geom (sphere, capsule,
      ellipsoid, cylinder, box), from its ``geom_size``;
    - ``body_margin``, the largest ``geom_margin + geom_gap`` among a body's geoms;
    - ``bvh_aabb``, every node of every body's bounding-volume hierarchy: the box, in the body's inertial frame, of
      the eight rotated corners of each collidable geom below the node (inflated by 1e-14 where flat). The tree's
      shape (``bvh_child``, ``bvh_nodeid``) is kept.

    Bodies that hold a plane, height field, mesh or SDF geom keep their stored hierarchy (none of those sizes is a
    task parameter here). ``tests/test_mujoco_envs.py`` checks the result against models compiled from an edited
    ``mujoco.MjSpec``.
    """
    editable = np.isin(model.geom_type, _PRIMITIVES)
    for g in np.flatnonzero(editable):
        rbound, half = _primitive_bounds(int(model.geom_type[g]), model.geom_size[g])
        model.geom_rbound[g] = rbound
        model.geom_aabb[g, :3] = 0.0
        model.geom_aabb[g, 3:] = half

    for b in range(model.nbody):
        start, count = model.body_geomadr[b], model.body_geomnum[b]
        if count <= 0:
            continue
        geoms = np.arange(start, start + count)
        model.body_margin[b] = np.max(model.geom_margin[geoms] + model.geom_gap[geoms])
        if model.body_bvhnum[b] <= 0 or not editable[geoms].all():
            continue
        _refresh_body_bvh(model, b)


def _refresh_body_bvh(model: mujoco.MjModel, body: int) -> None:
    """Recompute the node boxes of one body's bounding-volume hierarchy from its geoms (see the caller)."""
    adr, num = int(model.body_bvhadr[body]), int(model.body_bvhnum[body])
    inv_frame = _quat_to_mat(model.body_iquat[body]).T  # world-of-body -> inertial frame
    ipos = model.body_ipos[body]

    def corners(geom: int) -> np.ndarray:
        centre, half = model.geom_aabb[geom, :3], model.geom_aabb[geom, 3:]
        local = centre + _CORNER_SIGNS * half  # (8, 3) in the geom frame
        in_body = local @ _quat_to_mat(model.geom_quat[geom]).T + model.geom_pos[geom]
        return (in_body - ipos) @ inv_frame.T

    def leaves(node: int) -> list[int]:
        geom = int(model.bvh_nodeid[adr + node])
        if geom >= 0:
            return [geom]
        return [g for child in model.bvh_child[adr + node] if child >= 0 for g in leaves(int(child))]

    for node in range(num):
        points = np.concatenate([corners(g) for g in leaves(node)])
        low, high = points.min(axis=0), points.max(axis=0)
        flat = np.abs(high - low) < _MJ_EPS
        low[flat] -= _MJ_EPS
        high[flat] += _MJ_EPS
        model.bvh_aabb[adr + node, :3] = (high + low) / 2
        model.bvh_aabb[adr + node, 3:] = (high - low) / 2


# ------------------------------------------------------------------------------------------------------------------
# Task parameters
# ------------------------------------------------------------------------------------------------------------------
class ModelParameter:
    """One task dimension: a factor that multiplies some arrays of the compiled model.

    Subclasses set ``fields`` (the model arrays they write) and ``geometric`` (whether the collision bounds must be
    recomputed afterwards) and implement :meth:`scale`, which multiplies the *current* values in place;
    :class:`ModelTaskApplier` restores the pristine values first, so a factor always acts on the original model.
    """

    fields: tuple[str, ...] = ()
    geometric: bool = False

    def scale(self, model: mujoco.MjModel, factor: float) -> None:
        raise NotImplementedError

    def check(self, model: mujoco.MjModel) -> None:
        """Raise a ``ValueError`` if the parameter does not fit ``model`` (called once, when the env is built)."""


class BodyMassScale(ModelParameter):
    """Mass factor: ``body_mass`` and ``body_inertia`` of every body times the factor (uniform density change, so the
    inertia scales with the mass and the centres of mass and principal axes stay put)."""

    fields = ("body_mass", "body_inertia")

    def scale(self, model, factor):
        model.body_mass[:] *= factor
        model.body_inertia[:] *= factor

    def __repr__(self) -> str:
        return "BodyMassScale()"


class AuthorsMassScale(ModelParameter):
    """The authors' mass factor: ``body_mass`` of every body times the factor and, with ``radii``, the radius
    (``geom_size[:, 0]``) of every geom of the robot (every geom not attached to the world body) but those named in
    ``except_geoms``; inertias stay as compiled. Use it with ``ModelTaskApplier(..., recompute=False)``, as the
    authors never recomputed the derived constants or the collision bounds after the change."""

    def __init__(self, radii: bool = True, except_geoms: Sequence[str] = ()):
        self.radii = bool(radii)
        self.except_geoms = tuple(except_geoms)
        self.fields = ("body_mass", "geom_size") if self.radii else ("body_mass",)

    def check(self, model):
        for name in self.except_geoms:
            if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name) < 0:
                raise ValueError(f"the model has no geom named {name!r}")

    def scale(self, model, factor):
        model.body_mass[:] *= factor
        if self.radii:
            robot = model.geom_bodyid > 0
            for name in self.except_geoms:
                robot[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)] = False
            model.geom_size[robot, 0] *= factor

    def __repr__(self) -> str:
        return f"AuthorsMassScale(radii={self.radii}, except_geoms={self.except_geoms})"


class DofDampingScale(ModelParameter):
    """Damping factor: ``dof_damping`` of every degree of freedom times the factor (joints with no damping keep
    none)."""

    fields = ("dof_damping",)

    def scale(self, model, factor):
        model.dof_damping[:] *= factor

    def __repr__(self) -> str:
        return "DofDampingScale()"


class GeomSizeScale(ModelParameter):
    """Size factor of one geom: ``geom_size[geom, columns]`` times the factor, then the collision bounds are
    recomputed. Masses and inertias are left as they are (the mass factor is the only task parameter that changes
    them).

    Args:
        geom: the geom's name in the model.
        columns: which ``geom_size`` entries to scale (e.g. ``(0,)`` for a sphere's radius, ``(1,)`` for a
            capsule's half-length).
    """

    fields = ("geom_size",)
    geometric = True

    def __init__(self, geom: str, columns: Sequence[int]):
        self.geom = str(geom)
        self.columns = tuple(int(c) for c in columns)
        if not self.columns or any(c not in (0, 1, 2) for c in self.columns):
            raise ValueError(f"columns must be a non-empty subset of (0, 1, 2), got {columns!r}")

    def _id(self, model) -> int:
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, self.geom)

    def check(self, model):
        gid = self._id(model)
        if gid < 0:
            raise ValueError(f"the model has no geom named {self.geom!r}")
        if int(model.geom_type[gid]) not in _PRIMITIVES:
            raise ValueError(f"geom {self.geom!r} is not a primitive shape; its size cannot be a task parameter")

    def scale(self, model, factor):
        model.geom_size[self._id(model), list(self.columns)] *= factor

    def __repr__(self) -> str:
        return f"GeomSizeScale({self.geom!r}, columns={self.columns})"


_GEOMETRIC_FIELDS = frozenset({"geom_size", "geom_pos", "geom_margin", "geom_gap", "body_ipos"})


class FieldScale(ModelParameter):
    """A whole model array times the factor (every row, as the authors' 10-D tasks do), e.g. ``"geom_friction"``.
    Arrays that shape collision bounds (``geom_size``, ``geom_pos``, ``geom_margin``, ``geom_gap``, ``body_ipos``)
    get their bounds recomputed."""

    def __init__(self, field: str):
        self.field = str(field)
        self.fields = (self.field,)
        self.geometric = self.field in _GEOMETRIC_FIELDS

    def check(self, model):
        value = getattr(model, self.field, None)
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise ValueError(f"{self.field!r} is not a floating-point array of mujoco.MjModel")

    def scale(self, model, factor):
        getattr(model, self.field)[...] *= factor

    def __repr__(self) -> str:
        return f"FieldScale({self.field!r})"


class ModelTaskApplier:
    """Writes a task (one factor per :class:`ModelParameter`) into a compiled model, never compounding.

    At construction it copies every array the parameters write (plus :data:`COLLISION_FIELDS` if any parameter is
    geometric) from the model as compiled. :meth:`apply` restores those copies, multiplies by the factors in order,
    recomputes the collision bounds if needed and calls ``mujoco.mj_setConst(model, data)`` (which also overwrites
    ``data``: apply tasks only between episodes). All-ones factors give back the compiled model exactly. With
    ``recompute=False`` neither the collision bounds nor the derived constants are recomputed: they stay those of
    the compiled model, as in the authors' code, which edited the model arrays in place.
    """

    def __init__(self, model: mujoco.MjModel, parameters: Sequence[ModelParameter], recompute: bool = True):
        self.parameters = tuple(parameters)
        for parameter in self.parameters:
            parameter.check(model)
        self.recompute = bool(recompute)
        self.geometric = self.recompute and any(p.geometric for p in self.parameters)
        names = {f for p in self.parameters for f in p.fields}
        if self.geometric:
            names.update(COLLISION_FIELDS)
        self._pristine = {name: getattr(model, name).copy() for name in sorted(names)}

    def apply(self, model: mujoco.MjModel, data: mujoco.MjData, factors: np.ndarray) -> None:
        if len(factors) != len(self.parameters):
            raise ValueError(f"expected {len(self.parameters)} factors, got {len(factors)}")
        for name, value in self._pristine.items():
            getattr(model, name)[...] = value
        for parameter, factor in zip(self.parameters, factors):
            parameter.scale(model, float(factor))
        if self.geometric:
            refresh_collision_bounds(model)
        if self.recompute:
            mujoco.mj_setConst(model, data)


# Docstring fragments the robot modules share (the task tables of the Mass and Body tasks).
MASS_TASK_DOC = """
    ## Task parameter

    | Name | Meaning                                      | Range    | Original distribution | Family          |
    |------|----------------------------------------------|----------|-----------------------|-----------------|
    | mass | factor on ``body_mass`` and ``body_inertia`` | [0.5, 2] | log2 U[-1, 1]         | ``LogBetaBox``  |

    Applied from the compiled model's values (never compounding), then ``mujoco.mj_setConst``. ``set_task(m)`` takes
    effect at the next reset; the default task is 1 (the original body). Factors outside [0.5, 2] raise
    ``ValueError``.
"""


def body_task_doc(damping: str, size_name: str, size_meaning: str) -> str:
    """The task table of a Body task: mass, damping (``damping`` describes the original values) and a geom size."""
    return f"""
    ## Task parameters

    | Name | Meaning | Range | Original distribution |
    |------|---------|-------|-----------------------|
    | mass | factor on ``body_mass`` and ``body_inertia`` | [0.5, 2] | log2 U[-1, 1] |
    | damping | factor on ``dof_damping`` ({damping}) | [0.5, 2] | log2 U[-1, 1] |
    | {size_name} | factor on {size_meaning} | [0.5, 2] | log2 U[-1, 1] |

    Family ``LogBetaBox([-1, -1, -1], [1, 1, 1])``, independent per dimension. The factors are applied from the
    compiled model's values (never compounding), then ``mujoco.mj_setConst``. The size factor changes the collision
    shape only: the geom's bounding sphere and box and its body's bounding-volume hierarchy are recomputed as the
    compiler would (:func:`refresh_collision_bounds`), while masses and inertias stay as compiled. The default task
    is (1, 1, 1).
"""


def mass_difference_doc(also: str = "") -> str:
    """The "differences" bullet of the Mass and Body tasks; ``also`` adds what else the authors' factor did."""
    text = (
        "By default a mass factor scales ``body_mass`` **and** ``body_inertia`` (then ``mj_setConst``); the "
        f'authors scaled the masses alone{also}, and recomputed nothing; ``mass_physics="authors"`` does as '
        "they did."
    )
    return textwrap.fill(text, width=116, initial_indent="    - ", subsequent_indent="      ") + "\n"


def mass_physics_doc(radii: str) -> str:
    """The "Mass physics" section of the Mass and Body tasks; ``radii`` says which radii the authors' factor scales."""
    text = (
        '``mass_physics="density"`` (the default) scales mass and inertia together (a denser body of the same '
        'shape) and recomputes the derived constants. ``mass_physics="authors"``, what the paper\'s experiments '
        f"use, is the authors' version: ``body_mass`` times the factor, {radii}, the inertias as compiled, and "
        "nothing derived recomputed (subtree masses, ``dof_invweight0``, collision bounds stay those of the "
        "original model)."
    )
    body = textwrap.fill(text, width=116, initial_indent="    ", subsequent_indent="    ")
    return f"\n    ## Mass physics\n\n{body}\n"


class MassPhysics:
    """Mixin (before the robot's task-environment class) of the tasks whose first factor is the mass: the
    ``mass_physics`` option, ``"density"`` (:class:`BodyMassScale`, constants recomputed) or ``"authors"``
    (the class's :attr:`authors_mass`, nothing recomputed)."""

    options: ClassVar[dict[str, tuple[str, ...]]] = {"mass_physics": ("density", "authors")}
    authors_mass: ClassVar[AuthorsMassScale] = AuthorsMassScale()
    """The authors' mass factor of the robot (which radii it scales)."""
    mass_physics: str

    @property
    def recompute_derived(self) -> bool:
        return self.mass_physics != "authors"

    def _mass_parameter(self) -> ModelParameter:
        return self.authors_mass if self.mass_physics == "authors" else BodyMassScale()


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


# ------------------------------------------------------------------------------------------------------------------
# The environment base class
# ------------------------------------------------------------------------------------------------------------------
def check_tasks(family: TaskFamily, tasks: Any, n: int | None, where: str, name: str) -> np.ndarray:
    """Validate tasks against ``family``: one task (``n is None``; a ``(d,)`` array, or a number when ``d == 1``)
    or ``n`` tasks (``(n, d)``, or ``(n,)`` when ``d == 1``), finite and inside the task space. Returns ``(d,)`` or
    ``(n, d)`` float64; raises ``ValueError`` naming ``name`` and ``where`` otherwise."""
    d = family.dim
    try:
        arr = np.array(tasks, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers ({where}: {family.names}), got {tasks!r}") from None
    if n is None:
        if arr.shape not in ((d,),) + (((), (1,)) if d == 1 else ()):
            raise ValueError(f"{name} must have shape ({d},) ({where}: {family.names}), got shape {arr.shape}")
        rows = arr.reshape(1, d)
    else:
        if arr.shape != (n, d) and not (d == 1 and arr.shape == (n,)):
            raise ValueError(
                f"{name} must have shape ({n}, {d}) (one task per environment, {where}: "
                f"{family.names}), got shape {arr.shape}"
            )
        rows = arr.reshape(n, d)
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"{name} must be finite, got {rows.tolist()}")
    try:
        family.to_unit(rows)
    except ValueError:
        raise ValueError(
            f"{name} must lie in the task space of {where} ({_describe_space(family)}), got {rows.tolist()}"
        ) from None
    return rows[0].copy() if n is None else rows.copy()


def _describe_space(family: TaskFamily) -> str:
    radius = getattr(family, "radius", None)
    if radius is not None:
        return f"the disc of radius {radius} around the origin"
    return ", ".join(f"{name} in [{lo:g}, {hi:g}]" for name, lo, hi in zip(family.names, family.low, family.high))


def default_task(family: TaskFamily) -> np.ndarray:
    """The family's median task: every unit coordinate at 0.5 (velocity mid-range, factors 1, ...)."""
    return family.from_unit(np.full((1, family.dim), 0.5))[0]


class MujocoTaskEnv:
    """Base class of roml's MuJoCo task environments; mixed in *before* a Gymnasium v5 MuJoCo environment.

    A subclass sets the class attributes below (``parent`` is the Gymnasium environment class it extends and
    ``parent_kwargs`` the arguments it is built with) and implements the batched ``_observe``, ``_position`` and
    ``_reward`` class methods, which :class:`PhysicsBatch` calls on ``(n, ...)`` buffers.

    Episodes last exactly :data:`EPISODE_LENGTH` = 200 steps: ``terminated`` is always False and ``truncated`` is
    True at step 200 (no ``TimeLimit`` wrapper is needed or registered); stepping further without ``reset`` raises
    ``RuntimeError``. ``set_task`` takes effect at the next ``reset``; ``reset(options={"task": ...})`` sets it
    too; ``get_task`` returns the task set last and the ``task`` property the current episode's. ``reset`` also
    accepts ``options={"qpos": ..., "qvel": ...}`` to start from a given state instead of a random one (the reset
    noise is drawn anyway, so the generator's stream does not depend on the options).
    """

    name: ClassVar[str]
    """The environment's name in :data:`roml.envs.mujoco.ENVIRONMENTS` (its id is ``roml/<name>-v0``)."""
    data_fields: ClassVar[tuple[str, ...]] = ("qpos", "qvel")
    """The ``mujoco.MjData`` arrays the batched functions read."""
    contact_forces: ClassVar[bool] = False
    """Whether to run ``mj_rnePostConstraint`` after each step (fills ``cfrc_ext``)."""
    reset_noise: ClassVar[tuple[tuple[str, float], tuple[str, float]]] = (("uniform", 0.1), ("normal", 0.1))
    """``((kind, scale) for qpos, (kind, scale) for qvel)``; kind "uniform" is U(-scale, scale), "normal"
    scale * N(0, 1)."""
    episode_length: ClassVar[int] = EPISODE_LENGTH
    parent: ClassVar[type[MujocoEnv]]
    """The Gymnasium v5 environment class mixed in after this one."""
    parent_kwargs: ClassVar[dict[str, Any]] = {}
    """Arguments for ``parent.__init__`` (besides ``render_mode``)."""
    model_parameters: ClassVar[tuple[ModelParameter, ...]] = ()
    """The task's model parameters, one per task dimension (none for reward-only tasks such as velocities)."""
    options: ClassVar[dict[str, tuple[str, ...]]] = {}
    """The environment's constructor options and their values, the default first (e.g. HalfCheetah's
    ``observation``); :meth:`check_options` validates them."""
    recompute_derived: bool = True
    """Whether a task recomputes the model's derived constants and collision bounds (see :class:`ModelTaskApplier`;
    False under the authors' mass physics)."""

    def __init__(self, task: Any = None, render_mode: str | None = None, **options: str):
        """Args:
        task: the first task (default: the family's median task, e.g. factor 1); see :meth:`set_task`.
        render_mode: as Gymnasium's MuJoCo environments ("human", "rgb_array", ...; needs OpenGL).
        options: the environment's options (:attr:`options`), e.g. ``observation="authors"``.
        """
        self._build(task, render_mode, options)

    def _build(self, task: Any, render_mode: str | None, options: dict[str, str], **pickle_kwargs: Any) -> None:
        """Set the options as attributes, build the Gymnasium environment (model, action space, renderer), then the
        task machinery, and record ``task``, ``render_mode``, the options and ``pickle_kwargs`` as the constructor
        arguments that pickling replays."""
        for key, value in self.check_options(**options).items():
            setattr(self, key, value)
        self.parent.__init__(self, render_mode=render_mode, **self.parent_kwargs)
        self._init_task_env(task)
        EzPickle.__init__(self, task=task, render_mode=render_mode, **options, **pickle_kwargs)

    # -------------------------------------------------------------------------------------- set-up (subclasses)
    def _initialize_simulation(self):
        # MujocoEnv's hook: a private copy of a model compiled once per process (parsing the XML for each of 32
        # sub-environments is slow, and MuJoCo >= 4 would log a deprecation warning each time).
        model = load_model(self.fullpath)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        return model, mujoco.MjData(model)

    @classmethod
    def check_options(cls, **options: Any) -> dict[str, str]:
        """``options`` with the defaults of the options not given; ``ValueError`` naming an unknown option or a
        bad value (cheap: nothing is built)."""
        unknown = set(options) - set(cls.options)
        if unknown:
            have = ", ".join(cls.options) or "none"
            raise ValueError(f"{cls.__name__} has no option {', '.join(sorted(unknown))} (its options: {have})")
        for key, value in options.items():
            if value not in cls.options[key]:
                raise ValueError(
                    f"{cls.__name__}: {key} must be one of {', '.join(map(repr, cls.options[key]))}, got {value!r}"
                )
        return {key: options.get(key, values[0]) for key, values in cls.options.items()}

    def _model_parameters(self) -> tuple[ModelParameter, ...]:
        """The model parameters of this instance (``model_parameters`` unless a subclass depends on its
        arguments, as the 10-D tasks do)."""
        return self.model_parameters

    def _init_task_env(self, task: Any) -> None:
        self._family = self.task_family()
        parameters = self._model_parameters()
        if parameters and len(parameters) != self._family.dim:
            raise ValueError(
                f"{type(self).__name__}: {len(parameters)} model parameters for {self._family.dim} task dimensions"
            )
        self._applier = ModelTaskApplier(self.model, parameters, self.recompute_derived) if parameters else None
        self._applied: np.ndarray | None = None
        self._batch = PhysicsBatch(self, [self.model], [self.data], self.frame_skip)
        self._next_task = default_task(self._family) if task is None else self._check_task(task)
        self._task = self._next_task.copy()
        self._apply_model_task(self._task)
        obs = self._batch.start(self._task[None], np.random.default_rng(0))  # sizes the observation space
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=obs.shape[1:], dtype=np.float32)
        self._needs_reset = True

    # -------------------------------------------------------------------------------------------- task API
    def task_family(self) -> TaskFamily:
        """A new :class:`roml.tasks.TaskFamily` of this environment's task distribution (``phi0`` is the paper's
        original distribution); see :func:`roml.envs.mujoco.task_family`."""
        return ENVIRONMENTS[self.name].family()

    @property
    def task_names(self) -> tuple[str, ...]:
        """Names of the task parameters."""
        return self._family.names

    @property
    def task_dim(self) -> int:
        return self._family.dim

    def _check_task(self, task: Any, name: str = "task") -> np.ndarray:
        return check_tasks(self._family, task, None, self.name, name)

    def set_task(self, task: Any) -> None:
        """Set the task (a ``(task_dim,)`` array, or a number for 1-D tasks); it takes effect at the next reset.
        Raises ``ValueError`` for a wrong shape, non-finite values or a task outside the task space."""
        self._next_task = self._check_task(task)

    def get_task(self) -> np.ndarray:
        """The task set last (the current episode's unless ``set_task`` was called since), shape ``(task_dim,)``."""
        return self._next_task.copy()

    @property
    def task(self) -> np.ndarray:
        """The current episode's task."""
        return self._task.copy()

    @property
    def elapsed_steps(self) -> int:
        return self._batch.steps

    def _apply_model_task(self, task: np.ndarray) -> None:
        """Write ``task`` into the model (from the pristine copy) unless it is there already."""
        if self._applier is None or (self._applied is not None and np.array_equal(self._applied, task)):
            return
        self._applier.apply(self.model, self.data, task)
        self._applied = task.copy()

    # -------------------------------------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        gymnasium.Env.reset(self, seed=seed)  # seeds self.np_random; MujocoEnv.reset's own start is replaced
        options = {} if options is None else dict(options)
        unknown = set(options) - {"task", "qpos", "qvel"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; expected 'task', 'qpos' or 'qvel'")
        if "task" in options:
            self.set_task(options["task"])
        qpos = check_state(options.get("qpos"), 1, self.model.nq, "options['qpos']")
        qvel = check_state(options.get("qvel"), 1, self.model.nv, "options['qvel']")
        self._task = self._next_task.copy()
        self._apply_model_task(self._task)
        obs = self._batch.start(self._task[None], self.np_random, qpos, qvel)
        self._needs_reset = False
        if self.render_mode == "human":
            self.render()
        return obs[0], {}

    def step(self, action: Any):
        if self._needs_reset:
            raise RuntimeError(
                f"{type(self).__name__}.step called before reset() or after the episode ended "
                f"({self.episode_length} steps)"
            )
        actions = check_actions(action, 1, self.model.nu, "action")
        obs, reward, info = self._batch.step(actions)
        truncated = self._batch.steps >= self.episode_length
        self._needs_reset = truncated
        if self.render_mode == "human":
            self.render()
        return obs[0], reward.item(0), False, truncated, {key: value.item(0) for key, value in info.items()}

    def set_state(self, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Gymnasium's ``MujocoEnv.set_state`` (set positions and velocities, then ``mj_forward``), which also
        moves the reference position of the next step's velocity to the new state."""
        super().set_state(qpos, qvel)
        self._batch.refresh()

    # -------------------------------------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        state = EzPickle.__getstate__(self)
        state["_roml_state"] = {
            "next_task": self._next_task,
            "task": self._task,
            "batch": self._batch.get_state(),
            "needs_reset": self._needs_reset,
            "np_random": self._np_random,
            "np_random_seed": self._np_random_seed,
        }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        extra = state.pop("_roml_state")
        EzPickle.__setstate__(self, state)  # builds a fresh environment from the constructor arguments
        self._next_task = extra["next_task"]
        self._task = extra["task"]
        self._apply_model_task(self._task)
        self._batch.set_state(extra["batch"])
        self._needs_reset = extra["needs_reset"]
        self._np_random = extra["np_random"]
        self._np_random_seed = extra["np_random_seed"]

    # -------------------------------------------------------------------------------------------- batched hooks
    @classmethod
    def _observe(cls, batch: PhysicsBatch) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def _position(cls, batch: PhysicsBatch) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def _reward(
        cls, batch: PhysicsBatch, actions: np.ndarray, before: np.ndarray, after: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError


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
    flat = arr.reshape(-1)
    # the squared norm is NaN or infinite iff an entry is, unless entries above ~1e154 overflow it: then the exact
    # check decides (the norm is the cheaper test, and this runs at every step)
    if not math.isfinite(flat.dot(flat)) and not np.isfinite(arr).all():
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
