"""Executes a study's runs: skips finished ones, resumes interrupted ones, survives failed ones.

A run is finished when its ``search.json`` has a ``"final"`` key, interrupted when it has a
checkpoint or a history but no final, new otherwise. ``jobs`` > 1 runs searches in spawned worker
processes with one intra-op thread each (so N jobs use about N cores), which exit when the study
process dies; a run whose worker dies is started again (`WORKER_RETRIES`); jobs=1 runs in this
process; ``ray`` (a `RayOptions`) sends each run to Ray as a task instead
(`ray_runner`). A run that raises is recorded and the others go on.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from .ray_runner import RayOptions
from .study import Study, run_name

__all__ = [
    "DEFAULT_CHOICE", "RayOptions", "Run", "RunFn", "execute", "plan", "run_search", "run_state", "saved_mismatch", "state",
]

#: Executes one search: ``run_fn(fields, resume)`` with ``fields`` the SearchConfig keyword arguments.
#: With jobs > 1 it is pickled into a worker, so it must be a module-level function.
RunFn = Callable[[dict, bool], Any]

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: The choice rule of a run whose settings name none (SearchConfig's default).
DEFAULT_CHOICE = "objective"

#: How many times a run whose worker process died is started again (it resumes from its folder).
WORKER_RETRIES = 3


@dataclass(frozen=True)
class Run:
    """One cell of the study matrix and the SearchConfig fields it runs with."""

    name: str
    method: str
    beta: float
    seed: int
    fields: dict

    @property
    def folder(self) -> Path:
        return Path(self.fields["out"])


def plan(study: Study) -> list[Run]:
    """Every run of the study, seed by seed (each seed's baseline run first)."""
    return [
        Run(run_name(method, beta, seed), method, beta, seed, study.fields(method, beta, seed))
        for seed in study.seeds
        for method in study.methods
        for beta in study.betas
    ]


def _search_json(folder: Path) -> Optional[dict]:
    try:
        return json.loads((folder / "search.json").read_text())
    except (OSError, ValueError):
        return None


def state(folder: Path, choose: str = DEFAULT_CHOICE) -> str:
    """``"complete"``, ``"interrupted"`` or ``"new"`` by the run-folder contract. A finished run
    that chose its model by another rule than ``choose`` is interrupted: resuming it chooses again
    and trains only the new choice (docs/search.md)."""
    saved = _search_json(folder)
    if isinstance(saved, dict) and "final" in saved:
        config = saved.get("config")
        saved_rule = config.get("choose", DEFAULT_CHOICE) if isinstance(config, dict) else DEFAULT_CHOICE
        return "complete" if saved_rule == choose else "interrupted"
    if (folder / "checkpoint.json").exists() or (folder / "history.jsonl").exists():
        return "interrupted"
    return "new"


def run_state(run: Run) -> str:
    """`state` of a run under the choice rule its study asks for."""
    return state(run.folder, run.fields.get("choose", DEFAULT_CHOICE))


def saved_mismatch(run: Run, expected: dict) -> Optional[str]:
    """For a finished run, the first setting its saved config has other than ``expected``, in words.
    The sampler's settings count only for AMED runs: a random or uniform run is the same run
    whatever they say, so a study that changes only them reuses its finished random runs."""
    from amed.search.config import SAMPLER_FIELDS

    saved = _search_json(run.folder)
    config = saved.get("config", {}) if isinstance(saved, dict) and "final" in saved else {}
    ignored = {"out", "baselines", "choose"} | (SAMPLER_FIELDS if run.method != "amed" else set())
    for key, value in expected.items():
        if key in ignored or key not in config:
            continue
        have = list(config[key]) if isinstance(config[key], (list, tuple)) else config[key]
        want = list(value) if isinstance(value, (list, tuple)) else value
        if have != want:
            return f"{run.folder} is a finished run with {key}={have!r}, this study asks for {key}={want!r}"
    return None


def run_search(fields: dict, resume: bool) -> None:
    """The real run: one `amed.search.run` without progress bars."""
    from amed.search import SearchConfig, run

    run(SearchConfig(**fields), resume=resume, progress=False)


def _worker_init(parent: int) -> None:
    """Worker initializer: one intra-op thread (set before torch is imported, so its pools start at
    one), and an exit as soon as the study process is gone, so a killed `amed compare` leaves no
    search running in the background; the run's folder stays resumable, as after any kill."""
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    threading.Thread(target=_exit_with_parent, args=(parent,), name="amed-parent-watch", daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _attempt(run_fn: RunFn, fields: dict, resume: bool) -> tuple[Optional[str], float]:
    """Runs one search; returns (traceback or None, seconds). Never raises an Exception."""
    started = time.perf_counter()
    try:
        run_fn(fields, resume)
    except Exception:
        return traceback.format_exc(), time.perf_counter() - started
    return None, time.perf_counter() - started


def execute(
    runs: list[Run],
    run_fn: RunFn = run_search,
    jobs: int = 1,
    log: Callable[[str], None] = print,
    *,
    ray: Optional[RayOptions] = None,
) -> dict:
    """Runs every unfinished run; returns ``{run name: traceback}`` of those that failed.

    With `ray`, the runs are Ray tasks (`ray_runner.execute_on_ray`) and `jobs` is not used: Ray
    schedules as many at once as the cluster's resources allow.
    """
    if ray is not None:
        from .ray_runner import check_address, require_ray

        require_ray()
        check_address(ray.address, ray.connect_timeout_s)
    todo = [run for run in runs if run_state(run) != "complete"]
    if len(todo) < len(runs):
        log(f"{len(runs) - len(todo)} of {len(runs)} runs already complete, skipped")
    failures: dict[str, str] = {}
    done = len(runs) - len(todo)

    def finished(run: Run, error: Optional[str], seconds: float) -> None:
        nonlocal done
        done += 1
        if error is None and run_state(run) != "complete":
            error = 'the search returned but its search.json has no "final" key'
        if error is None:
            log(f"[{done}/{len(runs)}] {run.name} done in {seconds:.1f} s")
            return
        failures[run.name] = error
        last = error.strip().splitlines()[-1] if error.strip() else "unknown error"
        log(f"[{done}/{len(runs)}] {run.name} FAILED after {seconds:.1f} s: {last}")

    if ray is not None and todo:
        from .ray_runner import execute_on_ray

        execute_on_ray(todo, run_fn, finished, ray, log)
        return failures
    if jobs == 1 or len(todo) <= 1:
        for run in todo:
            finished(run, *_attempt(run_fn, run.fields, run_state(run) == "interrupted"))
        return failures
    attempts = {run.name: 0 for run in todo}
    pending = todo
    while pending:
        broken = _run_in_workers(pending, run_fn, jobs, finished, attempts)
        if broken:
            log(f"a worker process died; {len(broken)} unfinished run(s) start again in new workers "
                "(each resumes from its checkpoint)")  # fmt: skip
        pending = broken
    return failures


def _run_in_workers(runs: list[Run], run_fn: RunFn, jobs: int, finished, attempts: dict[str, int]) -> list[Run]:
    """One pool of worker processes over `runs`; returns those to start again because a worker died.

    A worker that dies (killed, out of memory) breaks the whole pool, and every run still in it
    fails with BrokenProcessPool: each of those is started again, up to `WORKER_RETRIES` times.
    """
    context = multiprocessing.get_context("spawn")
    again: list[Run] = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(runs)), mp_context=context, initializer=_worker_init,
                             initargs=(os.getpid(),)) as pool:  # fmt: skip
        futures = {pool.submit(_attempt, run_fn, run.fields, run_state(run) == "interrupted"): run for run in runs}
        for future in as_completed(futures):
            run = futures[future]
            try:
                error, seconds = future.result()
            except BrokenProcessPool as crash:
                attempts[run.name] += 1
                if attempts[run.name] <= WORKER_RETRIES:
                    again.append(run)
                    continue
                error, seconds = f"its worker process died {attempts[run.name]} times ({crash})", 0.0
            except Exception as crash:  # the job could not be sent to the worker
                error, seconds = f"{type(crash).__name__}: {crash}", 0.0
            finished(run, error, seconds)
    return sorted(again, key=runs.index)
