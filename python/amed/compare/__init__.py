"""`amed compare`: AMED against random search over betas and seeds, at the search's equal final budget.

    from amed.compare import compare
    summary = compare("compare-out", methods="amed,random", betas="0.5,1", seeds="0,1,2", jobs=2)

Each run is one `amed.search.run` in ``out/<method>-b<beta>-s<seed>``; rerunning the same call
skips finished runs and resumes interrupted ones. Random search's samples do not depend on β, so
each seed's are trained once: its runs at other βs start from a copy and only choose again. The
summary lands in ``out/compare.json``, ``compare.md`` and ``compare.png`` (docs/compare.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from amed.errors import ConfigError

from .runner import Run, RunFn, execute, plan, reuse_random_samples, run_search, saved_mismatch
from .study import METHODS, Study, run_name
from .summary import summarise, write

if TYPE_CHECKING:
    from .ray_runner import RayOptions

__all__ = ["METHODS", "Run", "RunFn", "Study", "compare", "run_name"]


def _normalised(run: Run) -> dict:
    """The run's fields as SearchConfig stores them; builds the config so a bad option fails first."""
    from amed.search import SearchConfig

    known = {f.name for f in dataclasses.fields(SearchConfig)}
    unknown = sorted(set(run.fields) - known)
    if unknown:
        raise ConfigError(
            f"--options has unknown search settings {unknown}: valid are {sorted(known)}", field="options"
        )
    from amed.device import resolve_device

    saved = SearchConfig(**run.fields).to_dict()
    resolve_device(saved["device"])  # a device this machine lacks fails before any folder is made
    return {key: saved.get(key, value) for key, value in run.fields.items()}


def compare(
    out: Any = "compare-out",
    methods: Any = "amed,random",
    betas: Any = "1",
    seeds: Any = "0,1",
    jobs: Any = 1,
    model: Any = "resnet20",
    hw: Any = "scalesim",
    dataset: Any = None,
    steps: Any = None,
    options: Any = None,
    device: Any = None,
    *,
    ray: Optional["RayOptions"] = None,
    command: Optional[str] = None,
    run_fn: Optional[RunFn] = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Runs (or resumes) the study and writes its summary; returns the summary dict.

    Everything is validated before a folder is made. ``options`` is a dict or JSON object of
    extra SearchConfig fields. ``command`` is recorded in compare.md (default: the equivalent
    `amed compare` line). ``run_fn(fields, resume)`` replaces the real search (tests); with the
    default, every run's SearchConfig is built up front. ``ray`` sends each run to Ray as a task
    (`ray_runner.RayOptions`). Failed runs are listed in the summary's
    ``"failed"`` (name: traceback), not raised.
    """
    study = Study.parse(out, methods, betas, seeds, jobs, model, hw, dataset, steps, options, device)
    runs = plan(study)
    expected = {run.name: (_normalised(run) if run_fn is None else run.fields) for run in runs}
    for run in runs:
        mismatch = saved_mismatch(run, expected[run.name])
        if mismatch:
            raise ConfigError(f"{mismatch}; pass another --out or delete that folder", field="out")
    # execute checks a Ray address before any run starts; each run makes its own folder.
    run_fn = run_search if run_fn is None else run_fn
    waiting = reuse_random_samples(runs, expected, log)
    failures = execute([run for run in runs if run not in waiting], run_fn, study.jobs, log, ray=ray)
    if waiting:
        reuse_random_samples(waiting, expected, log)
        failures.update(execute(waiting, run_fn, study.jobs, log, ray=ray))
    summary = summarise(runs, failures, study.command() if command is None else command)
    Path(study.out).mkdir(parents=True, exist_ok=True)
    write(summary, study.out)
    return summary
