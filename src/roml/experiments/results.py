"""Results files of one run, written atomically (the layout of docs/architecture.md)::

    <out>/<experiment>/<method>/seed<k>/
        config.json      the run's full configuration (a rerun with another configuration is refused)
        progress.csv     one row per training iteration: frames/tasks, wall time, steps/s, train mean/CVaR
        sampler.csv      one row per CEM update: phi, quantiles, sample and reference mean/CVaR
        checkpoint.pt    everything needed to resume exactly (model, optimiser, sampler, RNG states, log rows)
        versions.json    the versions of roml, Python, numpy, torch, mujoco, gymnasium and the CPU of each session
        test.csv         one row per fixed test task: task parameters and its scores
        summary.json     the run's test metrics; its presence marks the run as finished
        events.out.tfevents.*  TensorBoard's copy of progress.csv and sampler.csv (roml.experiments.events)

Every file but the event files is written to a temporary sibling and moved into place with ``os.replace``, so a run
killed at any moment leaves either the previous or the new version of each file, never a torn one.
"""

from __future__ import annotations

import functools
import io
import json
import os
import platform
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roml.experiments.config import flatten
from roml.experiments.events import EventLog

if TYPE_CHECKING:  # pandas loads where a table is written, not for `roml list`
    import pandas as pd

__all__ = ["RunDir", "RunFolderError", "atomic_write_bytes", "atomic_write_text", "read_json"]


class RunFailure(RuntimeError):
    """One or more runs of a ``reproduce`` command failed; the others finished and were kept."""


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked: another configuration, a corrupt file."""


@functools.cache
def _file_mode() -> int:
    """The mode a plain ``open`` would give a new file (0644 under the usual umask 022); ``mkstemp`` gives 0600."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename), with the mode of a
    file written by ``open`` (results are shared like other tools' outputs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


IDENTITY_KEY = "roml_run"
"""The key of a checkpoint's state that names its run and configuration (added and removed by :class:`RunDir`)."""

_RESTART = "move or delete it to restart this run from scratch"


def _safe_globals() -> list:
    """What a roml checkpoint may hold besides tensors and Python's plain types: numpy arrays, scalars and
    dtypes, and a sampler's pending :class:`~roml.samplers.TaskBatch`. Nothing here can run arbitrary code."""
    import numpy as np

    from roml.samplers import TaskBatch

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    dtype_classes = [type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDG"]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, bytes, TaskBatch, *dtype_classes]


def _safe_torch_load(path: Path) -> Any:
    """``torch.load`` that runs no code from the file; any failure is a one-line :class:`RunFolderError`."""
    import pickle
    import warnings

    import torch

    try:
        with torch.serialization.safe_globals(_safe_globals()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's note on a foreign pickle protocol: the error says enough
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # a global outside the allow-list: possibly code, never run
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        what = f"refers to {found.group(1)}" if found else "holds objects roml does not load"
        raise RunFolderError(f"{path} {what}, which a roml checkpoint never does (not loaded); {_RESTART}") from None
    except Exception as error:  # torch raises a zoo of types for truncated or foreign files
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise RunFolderError(f"{path} is corrupt or unreadable ({type(error).__name__}: {first}); {_RESTART}") from None


VERSIONED_PACKAGES = ("numpy", "torch", "mujoco", "gymnasium")


@functools.cache
def environment_versions() -> dict[str, str | None]:
    """What produces a run here: the versions of roml (and its git commit, ``+dirty`` with uncommitted changes,
    when it runs from a checkout), Python and :data:`VERSIONED_PACKAGES` (``None`` when not installed), and the
    CPU model. The same seed gives identical files only where all of these agree."""
    from importlib import metadata

    from roml import __version__

    versions: dict[str, str | None] = {"roml": __version__, "git_commit": _git_commit()}
    versions["python"] = platform.python_version()
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    versions["cpu"] = _cpu_model()
    return versions


def _git_commit() -> str | None:
    """The commit of the git checkout roml's source lies in, ``None`` for an installed package."""
    import subprocess

    source = Path(__file__).resolve().parents[1]  # .../src/roml in a checkout
    if not (source.parents[1] / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no", "."],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def read_json(path: Path) -> Any:
    """Read a JSON file, turning a corrupt one into a :class:`RunFolderError` that names it."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{path} is unreadable or corrupt ({error})") from None


def _json_default(value):
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class RunDir:
    """The folder of one run: ``<root>/<experiment>/<method>/seed<seed>``, with typed access to its files."""

    def __init__(self, root: str | Path, experiment: str, method: str, seed: int):
        self.root = Path(root)
        self.experiment, self.method, self.seed = experiment, method, int(seed)
        self.path = self.root / experiment / method / f"seed{self.seed}"
        self._versions_recorded = False
        self._events = EventLog(self.path)

    config_file = property(lambda self: self.path / "config.json")
    progress_file = property(lambda self: self.path / "progress.csv")
    sampler_file = property(lambda self: self.path / "sampler.csv")
    checkpoint_file = property(lambda self: self.path / "checkpoint.pt")
    test_file = property(lambda self: self.path / "test.csv")
    summary_file = property(lambda self: self.path / "summary.json")
    versions_file = property(lambda self: self.path / "versions.json")

    def model_file(self, stem: str, model: str, suffix: str = ".csv") -> Path:
        """``<stem><suffix>`` for the final model, ``<stem>_<model><suffix>`` for another (e.g. ``best_cvar``)."""
        return self.path / (f"{stem}{suffix}" if model == "final" else f"{stem}_{model}{suffix}")

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def name(self) -> str:
        return f"{self.experiment}/{self.method}/seed{self.seed}"

    # --- state ---------------------------------------------------------------------------------------------
    def is_finished(self) -> bool:
        return self.summary_file.exists()

    def prepare(self, config: dict, convert: Callable[[dict], dict] | None = None) -> None:
        """Create the folder for ``config``, or check that an existing one holds the same configuration (see
        :meth:`check_config`; an existing ``config.json`` is kept as it is).

        Raises :class:`RunFolderError` (and touches nothing) when the folder holds a run of another configuration.
        """
        if not self.check_config(config, convert):
            self.write_json(self.config_file, config)

    def check_config(self, config: dict, convert: Callable[[dict], dict] | None = None) -> bool:
        """Whether the folder already holds a run of ``config``; :class:`RunFolderError` if it holds a run of
        another configuration. ``convert`` reads the existing ``config.json`` first (e.g. a flat configuration
        written by an older roml, as today's nested one); a ``ValueError`` it raises counts as another
        configuration. Writes nothing."""
        if not self.config_file.exists():
            return False
        existing = read_json(self.config_file)
        if convert is not None:
            try:
                existing = convert(existing)
            except ValueError as error:
                raise RunFolderError(
                    f"{self.path} holds a run of another configuration ({error}); use another --out folder or "
                    "remove that run"
                ) from None
        existing = json.loads(json.dumps(existing, default=_json_default))
        config = json.loads(json.dumps(config, default=_json_default))
        if existing != config:
            flat_existing, flat_config = flatten(existing), flatten(config)
            keys = set(flat_existing) | set(flat_config)
            changed = sorted(k for k in keys if flat_existing.get(k) != flat_config.get(k))
            raise RunFolderError(
                f"{self.path} holds a run of another configuration (differs in {', '.join(changed)}); "
                "use another --out folder or remove that run"
            )
        return True

    def record_versions(self) -> None:
        """Add this process's :func:`environment_versions` to ``versions.json`` (``{"sessions": [...]}``) unless
        they are those of the last session recorded: a run resumed elsewhere lists every environment it ran in.
        Called by the first checkpoint a process writes."""
        sessions = read_json(self.versions_file)["sessions"] if self.versions_file.exists() else []
        if not sessions or sessions[-1] != environment_versions():
            self.write_json(self.versions_file, {"sessions": [*sessions, environment_versions()]})
        self._versions_recorded = True

    # --- writing -------------------------------------------------------------------------------------------
    @staticmethod
    def write_json(path: Path, obj: Any) -> None:
        atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")

    @staticmethod
    def write_csv(path: Path, frame: pd.DataFrame) -> None:
        atomic_write_text(path, frame.to_csv(index=False))

    def save_checkpoint(self, state: dict) -> None:
        """Write ``state`` (a dict) with the identity of its run added (``roml_run``: name and configuration,
        checked on loading; the experiment's own keys are unchanged)."""
        import torch

        if not self._versions_recorded:  # on the first write of this process: a refused resume writes nothing
            self.record_versions()
        identity = {"name": self.name, "config": read_json(self.config_file)}
        buffer = io.BytesIO()
        torch.save({**state, IDENTITY_KEY: identity}, buffer)
        atomic_write_bytes(self.checkpoint_file, buffer.getvalue())

    def save_progress(self, rows: list[dict], sampler_history: pd.DataFrame, state: dict) -> None:
        """Write ``progress.csv`` (``rows``), ``sampler.csv``, their TensorBoard events (:mod:`roml.experiments.
        events`, when installed) and the checkpoint ``state``, which must hold ``rows`` too: a run killed between the
        writes resumes from the checkpoint and rewrites the CSVs and events."""
        import pandas as pd

        self.write_csv(self.progress_file, pd.DataFrame(rows))
        self.write_csv(self.sampler_file, sampler_history)
        self._events.write(rows, sampler_history)
        self.save_checkpoint(state)

    def write_summary(self, config, n_test_tasks: int, metrics: dict[str, float]) -> dict:
        """Write ``summary.json`` (last: its presence marks the run finished) and return it."""
        summary = {
            "experiment": config.experiment,
            "method": config.method,
            "seed": config.seed,
            "scale": config.scale,
            "alpha": config.sampler.alpha,
            "n_test_tasks": n_test_tasks,
            "metrics": metrics,
        }
        self.write_json(self.summary_file, summary)
        self._events.close()
        return summary

    def load_checkpoint(self) -> dict | None:
        """The saved training state, ``None`` if there is none.

        The file is read with ``torch.load(weights_only=True)`` and only roml's own types allowed, so no code in
        it can run. A corrupt or foreign file, or a checkpoint of another run or configuration, raises
        :class:`RunFolderError` naming it; nothing is changed. A checkpoint written before the run's identity was
        recorded in it (roml 0.x) is accepted without that check.
        """
        if not self.checkpoint_file.exists():
            return None
        state = _safe_torch_load(self.checkpoint_file)
        if not isinstance(state, dict) or not {"sampler", "progress", "iteration"} <= set(state):
            raise RunFolderError(f"{self.checkpoint_file} is not a roml checkpoint; {_RESTART}")
        if IDENTITY_KEY in state:
            self._check_identity(state.pop(IDENTITY_KEY))
        return state

    def _check_identity(self, identity) -> None:
        """Refuse a checkpoint written by another run or with another configuration (e.g. a copied file)."""
        name = identity.get("name") if isinstance(identity, dict) else None
        if name != self.name:
            raise RunFolderError(
                f"{self.checkpoint_file} is the checkpoint of run {name}, not of {self.name}; {_RESTART}"
            )
        if identity.get("config") != read_json(self.config_file):
            raise RunFolderError(
                f"{self.checkpoint_file} was written with another configuration than {self.config_file}; {_RESTART}"
            )

    def read_summary(self) -> dict:
        return read_json(self.summary_file)
