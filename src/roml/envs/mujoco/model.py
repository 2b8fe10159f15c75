"""Editing a compiled MuJoCo model for tasks: the model files compiled once per process, the collision bounds the
compiler derives from the geometry, and the task parameters written into a model.

**Task parameters** (:class:`ModelParameter` and its subclasses) multiply part of a compiled ``mujoco.MjModel`` by a
factor. :class:`ModelTaskApplier` applies a whole task: it first restores every array the parameters touch from a
pristine copy taken when the environment was built (so tasks never compound: setting A, then B, then A gives the
model of A), multiplies, recomputes the collision bounds if geometry changed (:func:`refresh_collision_bounds`) and
finally calls ``mujoco.mj_setConst`` so that the derived constants (subtree masses, ``dof_invweight0``, ...) match
the new model; with ``recompute=False`` (the authors' physics) it does neither.

This is the lowest module of :mod:`roml.envs.mujoco` that needs ``mujoco``: a missing ``mujoco`` raises here the
``ImportError`` that says what to install.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Sequence

import numpy as np


def missing_dependency(error: Exception) -> ImportError:
    """The ``ImportError`` raised when ``mujoco`` or Gymnasium's MuJoCo support cannot be imported."""
    return ImportError(
        "roml's MuJoCo task environments need the 'mujoco' package (>= 3.2) and Gymnasium's MuJoCo support "
        "(which also needs 'imageio'); install them with `pip install 'mujoco>=3.2' imageio` or reinstall "
        f"roml-rl. The import failed with: {error}"
    )


try:
    import mujoco
except ImportError as _err:  # pragma: no cover - exercised in a subprocess by the tests
    raise missing_dependency(_err) from _err

__all__ = [
    "COLLISION_FIELDS",
    "AuthorsMassScale",
    "BodyMassScale",
    "DofDampingScale",
    "FieldScale",
    "GeomSizeScale",
    "ModelParameter",
    "ModelTaskApplier",
    "load_model",
    "missing_dependency",
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
