"""Runs a study's searches as Ray tasks (``amed compare --ray [ADDRESS]``), one task per run.

Each task asks Ray for `RayOptions.cpus` CPUs and `RayOptions.gpus` GPUs; the search inside uses
that many torch threads, and Ray's CUDA_VISIBLE_DEVICES gives it its GPUs (``--device auto``
finds them as cuda:0...). A task whose worker process dies (a killed node, an out-of-memory kill)
is retried up to `RayOptions.retries` times; the retry looks at the run folder again and resumes
from the search's last checkpoint. An exception raised by the search itself is not retried: it is
a failed run, as with ``--jobs``. The driver records each run as soon as its task ends, so an
interrupted study loses no finished run, and rerunning it skips them (`runner.state`).

Every node must see the study folder at the same path (one machine, or a shared file system).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import urlparse

from amed.errors import AmedError, ConfigError

if TYPE_CHECKING:
    from .runner import Run, RunFn

__all__ = ["RayOptions", "check_address", "execute_on_ray", "require_ray"]

INSTALL_HINT = "pip install 'amed[ray]'"
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class RayOptions:
    """Where and how runs go to Ray.

    address: None or ``"local"`` starts a Ray instance on this machine (or joins the one that
        RAY_ADDRESS names); ``"auto"`` joins the cluster this machine belongs to; ``HOST:PORT``
        joins a cluster's GCS; ``ray://HOST:PORT`` connects through Ray Client.
    cpus, gpus: resources of one run (gpus may be fractional: 0.5 puts two runs on a GPU).
    retries: how many times a run whose worker died is started again.
    connect_timeout_s: how long an explicit address may take to answer before it is an error.
    """

    address: Optional[str] = None
    cpus: float = 1.0
    gpus: float = 0.0
    retries: int = 3
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.cpus > 0:
            raise ConfigError(f"--ray-cpus must be > 0, got {self.cpus}", field="ray_cpus")
        if not self.gpus >= 0:
            raise ConfigError(f"--ray-gpus must be >= 0, got {self.gpus}", field="ray_gpus")
        if int(self.retries) != self.retries or self.retries < 0:
            raise ConfigError(f"--ray-retries must be an integer >= 0, got {self.retries}", field="ray_retries")


def require_ray():
    """The `ray` module, or an AmedError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise AmedError(
            f"--ray needs the optional Ray dependency, which is not installed: {INSTALL_HINT}",
            field="ray",
        ) from None
    return ray


def _host_port(address: str) -> Optional[tuple[str, int]]:
    """(host, port) of an explicit address; None for local / auto."""
    if address in ("", "local", "auto"):
        return None
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    if not parsed.hostname:
        raise ConfigError(f"--ray {address!r} is not an address (HOST:PORT or ray://HOST:PORT)", field="ray")
    try:
        port = parsed.port
    except ValueError:
        port = None
    if port is None:
        raise ConfigError(f"--ray {address!r} has no valid port (HOST:PORT or ray://HOST:PORT)", field="ray")
    return parsed.hostname, port


def check_address(address: Optional[str], timeout_s: float = 10.0) -> None:
    """Raise a one-line ConfigError when an explicit Ray address does not accept a connection."""
    target = _host_port(address or "")
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ConfigError(
            f"--ray {address}: no Ray cluster answers at {target[0]}:{target[1]} ({reason}); "
            "start one with `ray start --head` or omit the address to run Ray on this machine",
            field="ray",
        ) from None


def _connect(ray, options: RayOptions) -> bool:
    """Initialise Ray for `options`; True when this call started it (so it should shut it down)."""
    if ray.is_initialized():
        return False
    address = options.address
    check_address(address, options.connect_timeout_s)
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
    if address not in (None, "", "local"):
        kwargs["address"] = address
    # Workers import amed (and the run function's module) the way this process does.
    path = [p for p in sys.path if p and os.path.isdir(p)]
    kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(path)}}
    try:
        ray.init(**kwargs)
    except ConnectionError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"--ray {address or 'local'}: cannot connect to Ray ({first})", field="ray") from None
    return True


def _task(run_fn: "RunFn", fields: dict, cpus: float) -> tuple[Optional[str], float]:
    """Body of one Ray task: resume if the folder says so (a retried task finds a checkpoint)."""
    from pathlib import Path

    from .runner import _attempt, state

    threads = str(max(1, int(cpus)))
    for name in _THREAD_VARIABLES:
        os.environ[name] = threads
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))
    return _attempt(run_fn, fields, state(Path(fields["out"]), fields) == "interrupted")


def execute_on_ray(
    todo: "list[Run]",
    run_fn: "RunFn",
    finished: Callable[["Run", Optional[str], float], None],
    options: RayOptions,
    log: Callable[[str], None] = print,
) -> None:
    """Submit every run in `todo` as a Ray task and call `finished(run, error, seconds)` as each
    ends (in completion order). A task that still fails after its retries is a failed run."""
    ray = require_ray()
    started_here = _connect(ray, options)
    try:
        remote = ray.remote(_task).options(
            num_cpus=options.cpus,
            num_gpus=options.gpus,
            max_retries=int(options.retries),
            retry_exceptions=False,
        )
        log(f"sending {len(todo)} runs to Ray ({options.cpus:g} CPU, {options.gpus:g} GPU each)")
        pending = {remote.remote(run_fn, run.fields, options.cpus): (run, time.perf_counter()) for run in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                run, submitted = pending.pop(ref)
                try:
                    error, seconds = ray.get(ref)
                except Exception as crash:  # the worker died more often than retried, or Ray failed
                    first = str(crash).strip().splitlines()[0] if str(crash).strip() else ""
                    error, seconds = f"{type(crash).__name__}: {first}", time.perf_counter() - submitted
                finished(run, error, seconds)
    finally:
        if started_here:
            ray.shutdown()
