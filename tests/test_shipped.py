"""Shipped topologies are found by name, and a file on disk beats a name of the same spelling."""

from pathlib import Path

import pytest

from amed.errors import AmedError, AmedIOError, TopologyError
from amed.shipped import TOPOLOGY_DIR, resolve_topology, shipped_topologies
from amed.simcore import as_topology, simulate

ONE_LAYER = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    "only, 8, 8, 3, 3, 4, 8, 1,\n"
)


def test_shipped_names_are_the_package_csv_files(topologies):
    shipped = shipped_topologies()
    assert list(shipped) == ["mobilenet", "resnet18", "resnet50", "test"]
    assert all(path.parent == TOPOLOGY_DIR and path.is_file() for path in shipped.values())
    # The repository's top-level folder is the same files (the differential tests read it).
    assert sorted(p.name for p in topologies.glob("*.csv")) == sorted(p.name for p in shipped.values())


@pytest.mark.parametrize("name", ["resnet18", "Resnet18", "RESNET18"])
def test_known_name_resolves_to_the_shipped_file(name):
    assert resolve_topology(name) == TOPOLOGY_DIR / "Resnet18.csv"


def test_simulate_and_as_topology_accept_a_name(topologies, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    by_name = simulate("resnet18", "scalesim")
    by_path = simulate(topologies / "Resnet18.csv", "scalesim")
    assert by_name.total_cycles == by_path.total_cycles == 19_971_167
    assert len(as_topology("mobilenet")) == 27


def test_unknown_name_lists_the_shipped_names():
    with pytest.raises(TopologyError) as info:
        resolve_topology("resnet19")
    message = str(info.value)
    assert isinstance(info.value, AmedError) and info.value.field == "topology"
    assert "'resnet19'" in message
    for name in ("mobilenet", "resnet18", "resnet50", "test"):
        assert name in message
    with pytest.raises(TopologyError, match="shipped topologies are"):
        simulate("resnet19", "scalesim")


def test_existing_file_beats_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("resnet18").write_text(ONE_LAYER)
    assert resolve_topology("resnet18") == Path("resnet18")
    assert len(simulate("resnet18", "scalesim").layers) == 1


def test_a_missing_path_is_reported_as_a_file(tmp_path):
    missing = tmp_path / "nowhere.csv"
    assert resolve_topology(missing) == missing
    assert resolve_topology("sub/resnet18") == Path("sub/resnet18")
    with pytest.raises(AmedIOError):
        simulate(missing, "scalesim")


def test_a_non_path_value_is_a_topology_error():
    with pytest.raises(TopologyError, match="expected a topology name or path, found int"):
        resolve_topology(18)
