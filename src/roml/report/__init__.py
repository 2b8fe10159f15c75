"""The report of a folder of runs (``roml report OUT``): tables and the paper's figures, from the results files only.

It reads ``OUT/<experiment>/<method>/seed<k>/`` (the layout of :mod:`roml.experiments.results`) and writes into
``OUT`` itself:

==============================  ======================================================================================
``summary.csv``                 every test metric of every finished run, long format (experiment, method, seed, scale,
                                metric, value): the raw numbers behind every table and figure below
``table.md``                    per experiment (its header: the scale, any setting changed from the scale's preset
                                with ``--set``, the seeds), the layout of the paper's Tables 1-2: one row per method,
                                one column per ``table_metrics`` entry, ``mean ± std`` over seeds, the best mean in
                                bold; then one table per metric family ``<base>@<x>`` (sine: the mean and CVaR test
                                loss after 0..5 inner steps, the numbers of Fig. 5 / 14) and one of any other metric,
                                so nothing is hidden; unfinished runs are listed and left out. The paper-layout
                                table comes twice, the second time as ``mean ± standard error`` (std / √seeds). Then
                                each method against the experiment's risk-neutral baseline (sine: ``maml``; VariBAD
                                experiments: ``varibad``): per seed, the method's final test CVaR (``cvar_return``;
                                sine: ``cvar_loss@1``) minus the baseline's, their mean and a paired t-test; and the
                                mean over seeds of that difference in the validation CVaR (``valid_cvar_return``)
                                along training, from the ``progress.csv`` of every run, finished or not
``<experiment>_test_curves.png``  every metric family against ``x``, one line per method, mean over seeds with a
                                shaded 95% confidence interval: the paper's Fig. 5 (CVaR) and Fig. 14 (mean and CVaR)
``<experiment>_sampler.png``    RoML's cross-entropy method, for every method whose ``sampler.csv`` has rows: ``phi``
                                per task dimension, then the sample vs reference mean and CVaR scores, against the
                                number of training tasks: the paper's Fig. 10-13
``<experiment>_training.png``   the ``train_*`` columns of ``progress.csv`` against tasks / frames / iterations,
                                smoothed, and its ``valid_*`` columns (periodic evaluations on fixed tasks, as
                                recorded), mean over seeds with a 95% confidence interval
``<experiment>_<suffix>.png``   the experiment's own figures (``report_figures``; Khazad-Dum: ``episodes``, the
                                test episodes in the heaviest rain on the map, the paper's Fig. 3)
==============================  ======================================================================================

Optional attributes of an experiment class refine the figures (all have fallbacks, and an experiment folder whose
name is not registered is reported generically):

* ``curve_xlabel`` (str, default ``"x"``): the x label of the test curves, e.g. "inner gradient steps at test time".
* ``phi0_line`` (float, or a mapping from task-dimension name to float; default none): ``phi`` of the original task
  distribution, drawn dashed in the sampler panels (0.5 for the Beta families).
* ``score_label`` (str, default ``"task score"``): the y label of the sample / reference score panel.
* ``report_figures`` (``{suffix: "module:function"}``, default none): experiment-specific figures, see
  :mod:`roml.report.experiment_figures`.

Nothing is written before every run folder has been read, and every file is written atomically. A file that cannot
be read (a corrupt ``summary.json``, whose run is then left out; a corrupt, empty or torn CSV file) does not stop
the report: ``table.md`` ends with a section naming each such file and why, and ``roml report`` prints them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from roml.experiments.results import atomic_write_bytes, atomic_write_text
from roml.report.figures import _figures
from roml.report.reading import SUMMARY_COLUMNS, _find_runs, _method_order, _Reader, _spec, _summary_frame
from roml.report.tables import _experiment_section

__all__ = ["SUMMARY_COLUMNS", "write_report"]


def write_report(out: str | Path, skipped: list[str] | None = None) -> list[Path]:
    """Write ``summary.csv``, ``table.md`` and the figures (see the module docstring) into ``out``.

    Returns the written paths: ``summary.csv``, ``table.md``, then the PNG files. A file that cannot be read (a
    corrupt ``summary.json``: its run is left out; a corrupt, empty or torn CSV file) is named, with the reason, in
    a last section of ``table.md`` and appended to ``skipped`` if given; the report goes on with the rest. Raises a
    ``ValueError`` when ``out`` holds no finished run; nothing is written then.
    """
    out = Path(out)
    reader = _Reader()
    runs = _find_runs(out, reader) if out.is_dir() else []
    finished = [run for run in runs if run.summary is not None]
    if not finished:
        unread = f" ({len(reader.skipped)} unreadable: {reader.skipped[0]})" if reader.skipped else ""
        raise ValueError(f"no finished runs in {out}{unread}")
    lines = [f"# Results in {out}", ""]
    images: dict[str, bytes] = {}
    frames = []
    for name in sorted({run.experiment for run in runs}):
        spec = _spec(name)
        runs_here = [run for run in runs if run.experiment == name]
        methods = _method_order((run.method for run in runs_here), spec.methods)
        runs_here.sort(key=lambda run: (methods.index(run.method), run.seed))
        done = [run for run in runs_here if run.summary is not None]
        frame = _summary_frame(done)
        figures = _figures(spec, done, frame, _method_order(frame["method"], spec.methods)) if done else {}
        images.update(figures)
        lines += _experiment_section(spec, runs_here, frame, list(figures))
        frames.append(frame)
    if reader.skipped:
        lines += ["## Files not read", "", *(f"- {note}" for note in reader.skipped), ""]
    if skipped is not None:
        skipped.extend(reader.skipped)
    paths = [out / "summary.csv", out / "table.md"]
    atomic_write_text(paths[0], pd.concat(frames, ignore_index=True).to_csv(index=False))
    atomic_write_text(paths[1], "\n".join(lines).rstrip() + "\n")
    for filename, data in images.items():
        atomic_write_bytes(out / filename, data)
        paths.append(out / filename)
    return paths
