"""Progress of long simulations: the engine counts layers and folds done, the 100 ms polling
loop that watches for Ctrl-C hands the count to a callable, and ``progress=True`` shows a
tqdm bar once a simulation has run for a while (``amed.simcore.PROGRESS_DELAY_S``)."""

from __future__ import annotations

import pytest

import amed.simcore as simcore
from amed._simcore import simulate as raw_simulate
from amed._simcore import simulate_mixed as raw_simulate_mixed
from amed.simcore import Topology, simulate, simulate_mixed

# One layer that takes a few hundred milliseconds, and two copies of a small one beside it.
SLOW = Topology.from_csv_text(
    "h\nslow,400,400,3,3,64,64,1,\nsmall,16,16,3,3,8,8,1,\nagain,16,16,3,3,8,8,1,\n"
)
FAST = Topology.from_csv_text("h\nsmall,16,16,3,3,8,8,1,\n")


def _hw():
    return simcore._hw.load("scalesim")


def test_callback_sees_layers_done_out_of_distinct_layers():
    seen = []
    report = raw_simulate(SLOW, _hw(), "scalesim-v3", lambda done, total: seen.append((done, total)))
    assert seen, "a simulation over 100 ms reports at least once"
    assert all(total == 2 for _, total in seen)  # two distinct layer shapes
    assert all(0.0 <= done <= total for done, total in seen)
    assert report.total_cycles == simulate(SLOW, "scalesim").total_cycles


def test_an_exception_from_the_callback_stops_the_simulation():
    def stop(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        raw_simulate(SLOW, _hw(), "scalesim-v3", stop)
    with pytest.raises(RuntimeError, match="stop here"):
        raw_simulate_mixed(SLOW, _hw(), 4, "scalesim-v3", None, stop)


def test_progress_bar_appears_after_the_delay_and_ends_full(monkeypatch, capsys):
    monkeypatch.setattr(simcore, "PROGRESS_DELAY_S", 0.0)
    report = simulate(SLOW, "scalesim", progress=True)
    err = capsys.readouterr().err
    assert "simulate" in err and "2.0/2 layers" in err, err
    assert report.total_cycles == simulate(SLOW, "scalesim").total_cycles
    mixed = simulate_mixed(SLOW, "scalesim", 4, progress=True)
    assert "layers" in capsys.readouterr().err
    assert mixed.latency_ms == simulate_mixed(SLOW, "scalesim", 4).latency_ms


def test_short_simulations_show_no_bar(capsys):
    simulate(FAST, "scalesim", progress=True)
    simulate_mixed(FAST, "scalesim", 8, progress=True)
    assert capsys.readouterr().err == ""
