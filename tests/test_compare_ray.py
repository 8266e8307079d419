"""`amed compare --ray`: a tiny study on a local Ray (2 CPUs) with a fake search; no torch."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from amed.compare.ray_runner import RayOptions, check_address, require_ray
from amed.compare.runner import execute, plan, state
from amed.compare.study import Study
from amed.errors import AmedError, ConfigError


def _finish(folder: Path, fields: dict) -> None:
    meta = {"config": fields, "final": {"label": "chosen", "test_top1": 80.0 + fields["seed"]}}
    (folder / "search.json").write_text(json.dumps(meta))


def flaky_search(fields: dict, resume: bool) -> None:
    """Logs each call. Seed 7 raises; seed 5's first attempt leaves a history and kills its
    worker process, so Ray must retry it and the retry must resume."""
    folder = Path(fields["out"])
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "calls.txt", "a") as log:
        log.write(f"resume={resume} pid={os.getpid()}\n")
    if fields["seed"] == 7:
        raise RuntimeError("simulated crash")
    if fields["seed"] == 5 and not resume:
        (folder / "history.jsonl").write_text("{}\n")
        os._exit(1)
    _finish(folder, fields)


def _calls(folder: Path) -> list[str]:
    return [line.split()[0] for line in (folder / "calls.txt").read_text().splitlines()]


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})  # fmt: skip
    yield ray
    ray.shutdown()


def test_a_study_on_local_ray_retries_dead_workers_and_resumes(local_ray, tmp_path):
    study = Study.parse(tmp_path / "study", "amed,random", "1", "0,5,7")
    runs = plan(study)
    for run in runs:  # one run is already finished: it must not run again
        if run.name == "random-b1-s0":
            run.folder.mkdir(parents=True)
            _finish(run.folder, run.fields)
    lines: list[str] = []
    failures = execute(runs, flaky_search, log=lines.append, ray=RayOptions(cpus=1, retries=2))
    assert set(failures) == {"amed-b1-s7", "random-b1-s7"}
    assert "RuntimeError: simulated crash" in failures["amed-b1-s7"]
    out = tmp_path / "study"
    assert not (out / "random-b1-s0" / "calls.txt").exists()
    assert _calls(out / "amed-b1-s0") == ["resume=False"]
    for name in ("amed-b1-s5", "random-b1-s5"):
        assert _calls(out / name) == ["resume=False", "resume=True"]
    assert all(state(out / name) == "complete" for name in ("amed-b1-s0", "amed-b1-s5", "random-b1-s5"))
    assert lines[0] == "1 of 6 runs already complete, skipped"

    # Resuming the study: only the failed runs go again.
    failures = execute(runs, flaky_search, log=lines.append, ray=RayOptions(cpus=1))
    assert set(failures) == {"amed-b1-s7", "random-b1-s7"}
    assert _calls(out / "amed-b1-s0") == ["resume=False"]
    assert len(_calls(out / "amed-b1-s7")) == 2


def test_without_ray_the_message_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(AmedError, match=r"pip install 'amed\[ray\]'"):
        require_ray()
    study = Study.parse(tmp_path / "never-made", "amed", "1", "0,1")
    with pytest.raises(AmedError, match="--ray needs"):
        execute(plan(study), flaky_search, ray=RayOptions())
    assert not (tmp_path / "never-made").exists()


@pytest.mark.parametrize("address", ["127.0.0.1:9", "ray://127.0.0.1:9"])
def test_an_address_that_does_not_answer_is_one_line(address):
    with pytest.raises(ConfigError) as err:
        check_address(address, timeout_s=2)
    assert "\n" not in str(err.value) and "no Ray cluster answers at 127.0.0.1:9" in str(err.value)


@pytest.mark.parametrize("address", ["127.0.0.1", "host:port"])
def test_an_address_without_a_port_is_refused(address):
    with pytest.raises(ConfigError, match="port"):
        check_address(address)
