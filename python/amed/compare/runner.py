"""Executes a study's runs: skips finished ones, resumes interrupted ones, survives failed ones.

A run is finished when its ``search.json`` has a ``"final"`` key (and its choice rule and objective
weights are the study's), interrupted when it has a checkpoint or a history but is not finished, new
otherwise. A new random run starts from a finished random run of its seed at another β
(`reuse_random_samples`). ``jobs`` > 1 runs searches in spawned worker
processes with one intra-op thread each (so N jobs use about N cores), which exit when the study
process dies; a run whose worker dies is started again (`WORKER_RETRIES`); jobs=1 runs in this
process; ``ray`` (a `RayOptions`) sends each run to Ray as a task instead
(`ray_runner`). A run that raises is recorded and the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import shutil
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
    "RayOptions", "Run", "RunFn", "execute", "plan", "reuse_random_samples", "run_search", "run_state",
    "saved_mismatch", "state",
]

#: Executes one search: ``run_fn(fields, resume)`` with ``fields`` the SearchConfig keyword arguments.
#: With jobs > 1 it is pickled into a worker, so it must be a module-level function.
RunFn = Callable[[dict, bool], Any]

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

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


def _choice_settings(fields: dict) -> dict:
    """What decides a finished run's choice among its samples: the rule and the objective's weights
    (a setting `fields` leaves out has SearchConfig's default)."""
    from amed.search.config import OBJECTIVE_FIELDS, SearchConfig

    defaults = {f.name: f.default for f in dataclasses.fields(SearchConfig)}
    return {name: fields.get(name, defaults[name]) for name in sorted({"choose"} | OBJECTIVE_FIELDS)}


def state(folder: Path, fields: Optional[dict] = None) -> str:
    """``"complete"``, ``"interrupted"`` or ``"new"`` by the run-folder contract. Given ``fields``
    (the run's SearchConfig fields), a finished run whose choice rule or objective weights differ
    from theirs is interrupted: resuming it chooses again and trains only the new choice
    (docs/search.md)."""
    saved = _search_json(folder)
    if isinstance(saved, dict) and "final" in saved:
        config = saved.get("config")
        config = config if isinstance(config, dict) else {}
        same = fields is None or _choice_settings(config) == _choice_settings(fields)
        return "complete" if same else "interrupted"
    if (folder / "checkpoint.json").exists() or (folder / "history.jsonl").exists():
        return "interrupted"
    return "new"


def run_state(run: Run) -> str:
    """`state` of a run under the choice rule and objective its study asks for."""
    return state(run.folder, run.fields)


def _first_difference(config: dict, expected: dict, method: str, *, absent_counts: bool) -> Optional[tuple]:
    """The first setting of ``expected`` that a saved ``config`` holds otherwise, as (name, saved,
    expected), or None; settings that leave the samples alone do not count (`sample_free_fields`).
    A setting the config lacks (saved before it existed) counts only when ``absent_counts``."""
    from amed.search.config import sample_free_fields

    ignored = {"out"} | sample_free_fields(method)
    for key, value in expected.items():
        if key in ignored or (key not in config and not absent_counts):
            continue
        have = config.get(key)
        have = list(have) if isinstance(have, (list, tuple)) else have
        want = list(value) if isinstance(value, (list, tuple)) else value
        if key not in config or have != want:
            return key, have, want
    return None


def _finished_config(folder: Path) -> Optional[dict]:
    saved = _search_json(folder)
    config = saved.get("config") if isinstance(saved, dict) and "final" in saved else None
    return config if isinstance(config, dict) else None


def saved_mismatch(run: Run, expected: dict) -> Optional[str]:
    """For a finished run, the first setting its saved config has other than ``expected``, in words.
    A random run draws and trains the same samples whatever the sampler's settings and the
    objective's weights say, so a study that changes only them reuses its finished random runs
    (resuming one under new weights weighs its samples again)."""
    difference = _first_difference(_finished_config(run.folder) or {}, expected, run.method, absent_counts=False)
    if difference is None:
        return None
    key, have, want = difference
    return f"{run.folder} is a finished run with {key}={have!r}, this study asks for {key}={want!r}"


def _finished_sibling(run: Run, expected: dict) -> Optional[Path]:
    """A finished random run of `run`'s seed at another β in the study folder that was saved with
    every setting of `expected` its samples depend on, or None."""
    for folder in sorted(run.folder.parent.glob(f"random-b*-s{run.seed}")):
        config = _finished_config(folder)
        if folder != run.folder and config is not None and \
                _first_difference(config, expected, run.method, absent_counts=True) is None:  # fmt: skip
            return folder
    return None


def _copy_run(source: Path, folder: Path) -> None:
    """`source`'s files into the new run `folder`, which appears whole or not at all: a copy killed
    midway leaves only a hidden scratch folder, replaced by the next attempt."""
    scratch = folder.with_name(f".{folder.name}.copying")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(source, scratch, ignore=shutil.ignore_patterns(".lock"))
    if folder.is_dir():
        folder.rmdir()  # a new run's folder holds nothing (a search that stopped early removes its own)
    os.replace(scratch, folder)


def reuse_random_samples(runs: list[Run], expected: dict[str, dict], log: Callable[[str], None] = print) -> list[Run]:
    """Starts each new random run from a finished random run of its seed at another β, copied into
    its folder: random search draws and trains the same samples at every β, so the copy is resumed,
    weighs its samples again, and trains only its new choice. Returns the new random runs that wait
    for such a run earlier in `runs` to finish (call again for them once it has)."""
    waiting = []
    for index, run in enumerate(runs):
        if run.method != "random" or run_state(run) != "new":
            continue
        source = _finished_sibling(run, expected[run.name])
        if source is not None:
            _copy_run(source, run.folder)
            log(f"{run.name} starts from the samples of {source.name}: random search draws the same ones at every β")
        elif any(o.method == "random" and o.seed == run.seed and run_state(o) != "complete" for o in runs[:index]):
            waiting.append(run)
    return waiting


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
