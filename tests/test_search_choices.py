"""Per-layer width choices: a width is dropped only where a wider one is never slower, and a
search draws only what is left (AMED and random search alike)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from amed.hw import load as load_hw
from amed.models import build_model
from amed.quant import QuantConfig, get_allocation, quantize_model
from amed.search import run
from amed.search.costs import SearchCosts
from amed.topology import extract

from test_search import quick_config

BITS = [2, 3, 4, 8]


def resnet20_costs(hw: str, image_size: int = 28) -> SearchCosts:
    shape = dict(num_classes=10, in_channels=1, image_size=image_size)
    topology = extract(build_model("resnet20", **shape), (1, image_size, image_size), name="resnet20")
    model = build_model("resnet20", **shape)
    quantize_model(model, config=QuantConfig(weight_bits=8, act_bits=8, edge_bits=8))
    searched = list(get_allocation(model))
    fixed = {n: tuple(b) for n, b in get_allocation(model, include_fixed=True).items() if n not in searched}
    return SearchCosts(topology, load_hw(hw), searched, fixed, BITS, compat="scalesim-v3")


def test_a_dropped_width_is_no_faster_than_a_wider_one_in_any_allocation():
    costs = resnet20_costs("eyeriss")
    choices = costs.choices(BITS)
    dropped = [(i, b) for i, kept in enumerate(choices) for b in BITS if b not in kept]
    # On eyeriss 3 bits buy nothing in stages 2 and 3 (docs/results.md §15); stage 1 keeps every width.
    assert {(costs.searched[i], b) for i, b in dropped} == {
        (f"layer{s}.{k}.conv{c}", 3) for s in (2, 3) for k in range(3) for c in (1, 2)
    }
    rng = np.random.default_rng(0)
    for allocation in rng.choice(BITS, size=(200, len(costs.searched))):
        for i, b in dropped:
            narrow, wide = list(allocation), list(allocation)
            narrow[i], wide[i] = b, min(w for w in choices[i] if w > b)
            assert costs.cost(wide).latency_ms <= costs.cost(narrow).latency_ms


def test_a_kept_width_is_faster_than_every_wider_one_somewhere():
    costs = resnet20_costs("eyeriss")
    for i, kept in enumerate(costs.choices(BITS)):
        for b in kept[:-1]:
            for wide in (w for w in BITS if w > b):
                times = [(costs.cost(a[:i] + [wide] + a[i + 1:]).latency_ms, costs.cost(a[:i] + [b] + a[i + 1:]).latency_ms)
                         for a in ([u] * len(costs.searched) for u in BITS)]  # fmt: skip
                assert any(slow > fast for slow, fast in times), (costs.searched[i], b, wide)


def test_every_width_pays_on_the_default_hardware():
    assert resnet20_costs("scalesim").choices(BITS) == [BITS] * 18


@pytest.mark.parametrize("method", ["amed", "random"])
def test_a_search_draws_only_each_layers_choices(tmp_path, digits_checkpoint, method):
    # On eyeriss, 3 bits pay in no layer of ResNet-20 on 8x8 digits.
    result = run(quick_config(tmp_path / "pruned", digits_checkpoint, steps=6, hw="eyeriss", method=method),
                 progress=False)  # fmt: skip
    meta = json.loads((tmp_path / "pruned" / "search.json").read_text())
    assert set(map(tuple, meta["choices"].values())) == {(2, 4, 8)}
    assert all(3 not in r["bits"] for r in result.records)
    full = run(quick_config(tmp_path / "full", digits_checkpoint, steps=6, hw="eyeriss", method=method,
                            prune_widths=False), progress=False)  # fmt: skip
    meta = json.loads((tmp_path / "full" / "search.json").read_text())
    assert set(map(tuple, meta["choices"].values())) == {(2, 3, 4, 8)}
    assert any(3 in r["bits"] for r in full.records)


def test_a_size_cap_keeps_every_width(tmp_path, digits_checkpoint):
    run(quick_config(tmp_path, digits_checkpoint, steps=1, hw="eyeriss", max_size=1e9), progress=False)
    meta = json.loads((tmp_path / "search.json").read_text())
    assert set(map(tuple, meta["choices"].values())) == {(2, 3, 4, 8)}
