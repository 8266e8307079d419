"""Redundant widths: a width counts as redundant only where a wider one is never slower, and a
search then trains it at that wider width, never proposes it, or keeps it, as asked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from amed.errors import ConfigError
from amed.hw import load as load_hw
from amed.models import build_model
from amed.quant import QuantConfig, get_allocation, quantize_model
from amed.search import SearchConfig, run
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


def test_a_replaced_width_is_no_faster_than_its_replacement_in_any_allocation():
    costs = resnet20_costs("eyeriss")
    replaced = [(i, b, w) for i, r in enumerate(costs.replacements(BITS)) for b, w in r.items() if b != w]
    # On eyeriss 3 bits buy nothing in stages 2 and 3 (docs/results.md §15); stage 1 keeps every width.
    assert {(costs.searched[i], b, w) for i, b, w in replaced} == {
        (f"layer{s}.{k}.conv{c}", 3, 4) for s in (2, 3) for k in range(3) for c in (1, 2)
    }
    rng = np.random.default_rng(0)
    for allocation in rng.choice(BITS, size=(200, len(costs.searched))):
        for i, b, w in replaced:
            narrow, wide = list(allocation), list(allocation)
            narrow[i], wide[i] = b, w
            assert costs.cost(wide).latency_ms <= costs.cost(narrow).latency_ms


def test_a_kept_width_is_faster_than_every_wider_one_somewhere():
    costs = resnet20_costs("eyeriss")
    for i, r in enumerate(costs.replacements(BITS)):
        for b in (b for b, w in r.items() if b == w and b < max(BITS)):
            for wide in (w for w in BITS if w > b):
                times = [(costs.cost(a[:i] + [wide] + a[i + 1:]).latency_ms, costs.cost(a[:i] + [b] + a[i + 1:]).latency_ms)
                         for a in ([u] * len(costs.searched) for u in BITS)]  # fmt: skip
                assert any(slow > fast for slow, fast in times), (costs.searched[i], b, wide)


def test_every_width_pays_on_the_default_hardware():
    assert resnet20_costs("scalesim").replacements(BITS) == [{b: b for b in BITS}] * 18


def _search(tmp_path, checkpoint, name, **options):
    # On eyeriss, 3 bits pay in no layer of ResNet-20 on 8x8 digits.
    result = run(quick_config(tmp_path / name, checkpoint, steps=6, hw="eyeriss", **options), progress=False)
    return result, json.loads((tmp_path / name / "search.json").read_text())


@pytest.mark.parametrize("method", ["amed", "random"])
def test_a_search_trains_only_widths_worth_training(tmp_path, digits_checkpoint, method):
    for policy in ("promote", "drop"):
        result, meta = _search(tmp_path, digits_checkpoint, policy, method=method, redundant_widths=policy)
        assert set(map(tuple, meta["choices"].values())) == {(2, 4, 8)}
        assert all(3 not in r["bits"] for r in result.records)
    result, meta = _search(tmp_path, digits_checkpoint, "keep", method=method, redundant_widths="keep")
    assert set(map(tuple, meta["choices"].values())) == {(2, 3, 4, 8)}
    assert any(3 in r["bits"] for r in result.records)


def test_promotion_trains_the_proposals_of_keep_at_their_replacements(tmp_path, digits_checkpoint):
    # Random search draws the same stream under both policies: only the 3s become 4s.
    kept, _ = _search(tmp_path, digits_checkpoint, "keep", method="random", redundant_widths="keep")
    promoted, _ = _search(tmp_path, digits_checkpoint, "promote", method="random")
    for k, p in zip(kept.records, promoted.records):
        assert p["bits"] == [4 if b == 3 else b for b in k["bits"]]


def test_uniform_methods_and_a_size_cap_keep_every_width(tmp_path, digits_checkpoint):
    result, _ = _search(tmp_path, digits_checkpoint, "u3", method="uniform-3")
    assert all(r["bits"] == [3] * 18 for r in result.records)
    _, meta = _search(tmp_path, digits_checkpoint, "capped", max_size=1e9)
    assert set(map(tuple, meta["choices"].values())) == {(2, 3, 4, 8)}


def test_an_unknown_policy_names_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown --redundant-widths 'prune'; valid: promote, drop, keep") as info:
        SearchConfig(redundant_widths="prune")
    assert info.value.field == "redundant_widths"


def test_a_config_saved_before_the_option_resumes_searching_every_width():
    saved = SearchConfig(hw="eyeriss").to_dict()
    del saved["redundant_widths"]
    assert SearchConfig.from_dict(saved).redundant_widths == "keep"
    assert SearchConfig().redundant_widths == "promote"
