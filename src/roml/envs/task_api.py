"""The task-environment protocol every roml environment implements, and the one implementation they share.

A *task environment* is a Gymnasium environment whose task (the rain of Khazad-Dum, the mass of a HalfCheetah, ...)
is set from outside, by a sampler, between episodes. Single and vector environments name things alike:

=========================================  ==========================================================================
single env (:class:`TaskEnv`)              vector env (:class:`TaskVecEnv`, ``num_envs`` sub-environments)
=========================================  ==========================================================================
``task_family()``                          ``task_family()``: a new :class:`roml.tasks.TaskFamily` of the tasks
``task_names``, ``task_dim``               ``task_names``, ``task_dim``
``set_task(task)``: ``(d,)`` (a number     ``set_tasks(tasks)``: ``(num_envs, d)`` (``(num_envs,)`` or a number
for ``d = 1``), from the next reset        for ``d = 1``), from the next reset
``get_task()``: the task set last          ``get_tasks()``: the tasks set last, ``(num_envs, d)``
``task``: the current episode's            ``tasks``: the current episodes', ``(num_envs, d)``
``reset(options={"task": task})``          ``reset(options={"tasks": tasks})``
=========================================  ==========================================================================

Tasks are validated against the family (shape, finite, inside the task space: a ``ValueError`` naming the
environment otherwise), and an unknown ``reset`` option is refused rather than ignored, so that a misspelt task key
cannot silently keep the previous task. :class:`TaskEnvBase` and :class:`TaskVecEnvBase` implement all of it once;
an environment subclasses one of them, defines ``task_family()``, and in ``reset`` checks the options with
``_reset_options`` before it changes anything, then starts the episode's task(s) with ``_start_tasks``.

This module imports only numpy and :mod:`roml.tasks`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from roml.tasks import TaskFamily

__all__ = [
    "TaskEnv",
    "TaskEnvBase",
    "TaskVecEnv",
    "TaskVecEnvBase",
    "check_reset_options",
    "check_tasks",
    "median_task",
]


@runtime_checkable
class TaskEnv(Protocol):
    """A single task environment (see the module docstring)."""

    def task_family(self) -> TaskFamily: ...

    @property
    def task_names(self) -> tuple[str, ...]: ...

    @property
    def task_dim(self) -> int: ...

    def set_task(self, task: Any) -> None: ...

    def get_task(self) -> np.ndarray: ...

    @property
    def task(self) -> np.ndarray: ...

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]: ...


@runtime_checkable
class TaskVecEnv(Protocol):
    """A vector of ``num_envs`` task environments, one task each (see the module docstring)."""

    num_envs: int

    def task_family(self) -> TaskFamily: ...

    @property
    def task_names(self) -> tuple[str, ...]: ...

    @property
    def task_dim(self) -> int: ...

    def set_tasks(self, tasks: Any) -> None: ...

    def get_tasks(self) -> np.ndarray: ...

    @property
    def tasks(self) -> np.ndarray: ...

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]: ...


def check_tasks(family: TaskFamily, tasks: Any, n: int | None, where: str, name: str) -> np.ndarray:
    """Validate tasks against ``family``: one task (``n is None``; a ``(d,)`` array, or a number when ``d == 1``)
    or ``n`` tasks (``(n, d)``, or ``(n,)`` or one number for all when ``d == 1``), finite and inside the task space
    (:meth:`~roml.tasks.TaskFamily.to_unit` accepts them). Returns ``(d,)`` or ``(n, d)`` float64; raises a
    ``ValueError`` naming ``name`` and ``where`` otherwise."""
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
        if d == 1 and arr.shape in ((), (n,)):
            arr = np.broadcast_to(arr, (n,))
        elif arr.shape != (n, d):
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


def median_task(family: TaskFamily) -> np.ndarray:
    """The family's median task, ``(d,)``: every unit coordinate at 0.5 (velocity mid-range, factors 1, ...)."""
    return family.from_unit(np.full((1, family.dim), 0.5))[0]


def check_reset_options(options: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The ``options`` of a ``reset`` as a new dict (``{}`` for None); a ``ValueError`` for a non-dict or an
    unknown key."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValueError(f"options must be a dict, got {type(options).__name__}")
    unknown = set(options) - set(allowed)
    if unknown:
        expected = ", ".join(map(repr, allowed[:-1])) + f" or {allowed[-1]!r}" if len(allowed) > 1 else repr(allowed[0])
        raise ValueError(f"unknown reset options {sorted(unknown)}; expected {expected}")
    return dict(options)


class _TaskAPI:
    """What single and vector task environments share: the family, validation and the reset options."""

    _family: TaskFamily
    _task_where: str
    _task_count: int | None  # None for a single environment, num_envs for a vector
    _task_key: str  # the reset option that sets the task(s)

    def task_family(self) -> TaskFamily:
        """A new :class:`roml.tasks.TaskFamily` of this environment's tasks (``phi0`` is the original
        distribution)."""
        raise NotImplementedError

    @property
    def task_names(self) -> tuple[str, ...]:
        """Names of the task parameters."""
        return self._family.names

    @property
    def task_dim(self) -> int:
        """Number of task parameters ``d``."""
        return self._family.dim

    def _init_task_api(self, where: str, count: int | None) -> TaskFamily:
        self._family = self.task_family()
        self._task_where = where
        self._task_count = count
        self._task_key = "task" if count is None else "tasks"
        return self._family

    def _check_tasks(self, tasks: Any, name: str) -> np.ndarray:
        return check_tasks(self._family, tasks, self._task_count, self._task_where, name)

    def _reset_options(self, options: Any, *others: str) -> dict[str, Any]:
        """Check ``options`` (the task key and ``others`` allowed) and the task(s) they hold, changing nothing;
        returns them with the task(s) validated, for :meth:`_start_tasks`."""
        options = check_reset_options(options, (self._task_key, *others))
        if self._task_key in options:
            options[self._task_key] = self._check_tasks(options[self._task_key], f"options[{self._task_key!r}]")
        return options


class TaskEnvBase(_TaskAPI):
    """The task API of a single environment (:class:`TaskEnv`); a subclass calls :meth:`_init_tasks` in its
    constructor, and ``_reset_options`` then :meth:`_start_tasks` in ``reset``."""

    _next_task: np.ndarray
    _task: np.ndarray

    def _init_tasks(self, where: str, task: Any, default: Any = None) -> None:
        """Set up the task API: the family, and the first task: ``task``, else ``default``, else the family's
        median task (:func:`median_task`)."""
        family = self._init_task_api(where, None)
        if task is None:
            task = median_task(family) if default is None else default
        self._next_task = self._check_tasks(task, "task")
        self._task = self._next_task.copy()

    def set_task(self, task: Any) -> None:
        """Set the task (``(task_dim,)``, or a number for 1-D tasks); it takes effect at the next reset. Raises a
        ``ValueError`` for a wrong shape, non-finite values or a task outside the task space."""
        self._next_task = self._check_tasks(task, "task")

    def get_task(self) -> np.ndarray:
        """The task set last (the current episode's unless ``set_task`` was called since), ``(task_dim,)``."""
        return self._next_task.copy()

    @property
    def task(self) -> np.ndarray:
        """The current episode's task, ``(task_dim,)``."""
        return self._task.copy()

    def _start_tasks(self, options: dict[str, Any]) -> np.ndarray:
        """At a reset: the task of ``options`` (checked by :meth:`_reset_options`), else the task set last, becomes
        the current episode's; returns it (not a copy)."""
        if "task" in options:
            self._next_task = options["task"]
        self._task = self._next_task.copy()
        return self._task


class TaskVecEnvBase(_TaskAPI):
    """The task API of a vector environment (:class:`TaskVecEnv`); a subclass sets ``num_envs``, calls
    :meth:`_init_tasks` in its constructor, and ``_reset_options`` then :meth:`_start_tasks` in ``reset``."""

    num_envs: int
    _next_tasks: np.ndarray
    _tasks: np.ndarray

    def _init_tasks(self, where: str, tasks: Any, default: Any = None) -> None:
        """Set up the task API: the family, and the first tasks: ``tasks``, else ``default``, else the family's
        median task (:func:`median_task`) in every sub-environment."""
        family = self._init_task_api(where, self.num_envs)
        if tasks is None:
            tasks = np.tile(median_task(family), (self.num_envs, 1)) if default is None else default
        self._next_tasks = self._check_tasks(tasks, "tasks")
        self._tasks = self._next_tasks.copy()

    def set_tasks(self, tasks: Any) -> None:
        """Set one task per sub-environment (``(num_envs, task_dim)``; ``(num_envs,)`` or one number for all when
        ``task_dim == 1``); they apply from the next reset. Raises a ``ValueError`` for a wrong shape, non-finite
        values or a task outside the task space."""
        self._next_tasks = self._check_tasks(tasks, "tasks")

    def get_tasks(self) -> np.ndarray:
        """The tasks set last, ``(num_envs, task_dim)``."""
        return self._next_tasks.copy()

    @property
    def tasks(self) -> np.ndarray:
        """The tasks of the current episodes, ``(num_envs, task_dim)``."""
        return self._tasks.copy()

    def _start_tasks(self, options: dict[str, Any]) -> np.ndarray:
        """At a reset: the tasks of ``options`` (checked by :meth:`_reset_options`), else the tasks set last, become
        the current episodes'; returns them (not a copy)."""
        if "tasks" in options:
            self._next_tasks = options["tasks"]
        self._tasks = self._next_tasks.copy()
        return self._tasks
