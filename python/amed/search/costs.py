"""The cost model seen through the searched layers.

The simulator's topology has every conv and linear of the network, in execution order; the
search only moves the searchable ones. Layers held at fixed bits (the first conv and the
classifier) keep those bits in every query, so they are counted in latency, size and energy
without being searched. The cost model is built once, for the bit choices plus the fixed
layers' widths.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Mapping, Sequence

from amed.errors import AllocationError
from amed.simcore import CostModel

__all__ = ["Cost", "SearchCosts"]


@dataclass(frozen=True)
class Cost:
    """One allocation's simulated totals (latency in ms, size in bytes, energy in microjoules)."""

    latency_ms: float
    size_bytes: float
    energy_uj: float


def _base_name(name: str) -> str:
    # `amed.topology.extract` names the k-th call of a module "name#k"; bits belong to the module.
    return name.split("#", 1)[0]


class SearchCosts:
    """Latency, size and energy of allocations of the searched layers (in their order)."""

    def __init__(
        self,
        topology,
        hw,
        searched: Sequence[str],
        fixed: Mapping[str, tuple[int, int]],
        choices: Sequence[int],
        *,
        compat: str,
        native_bits: int = 8,
    ) -> None:
        self.topology = topology
        self.searched = list(searched)
        names = [_base_name(n) for n in topology.names]
        missing = [n for n in self.searched if n not in names]
        if missing:
            raise AllocationError(
                f"searched layers missing from the simulator topology: {', '.join(missing)}",
                field="allocation",
            )
        position = {name: i for i, name in enumerate(self.searched)}
        # Per topology layer: the index of its searched layer, or its fixed (w, a) bits.
        self._plan: list[int | tuple[int, int]] = [
            position[n] if n in position else tuple(fixed.get(n, (native_bits, native_bits)))
            for n in names
        ]
        # The uniform-8-bit reference and the fixed layers' widths are priced whatever the choices.
        widths = set(choices) | {8} | {b for p in self._plan if isinstance(p, tuple) for b in p}
        self.model = CostModel(topology, hw, bits=sorted(widths), compat=compat)
        self.names = list(topology.names)

    def pairs(self, bits: Sequence[int]) -> list[tuple[int, int]]:
        """(w, a) per topology layer for searched bits `bits` (W = A per searched layer)."""
        if len(bits) != len(self.searched):
            raise AllocationError(f"{len(bits)} bitwidths for {len(self.searched)} searched layers", field="allocation")
        return [(bits[p], bits[p]) if isinstance(p, int) else p for p in self._plan]

    def cost(self, bits: Sequence[int]) -> Cost:
        total = self.model.cost(self.pairs(bits))
        return Cost(total.latency_us / 1000.0, total.size_bytes, total.energy_pj / 1e6)

    def layers(self, bits: Sequence[int]) -> list[dict]:
        """Per topology layer: name, whether searched, bits, latency (ms), size (bytes) and energy
        (uJ), from the same tables as `cost` (each layer's output at the next layer's a bits)."""
        pairs = self.pairs(bits)
        index = {b: i for i, b in enumerate(self.model.bits)}
        rows = []
        for l, (name, plan, (w, a)) in enumerate(zip(self.names, self._plan, pairs)):
            next_a = index[pairs[l + 1][1]] if l + 1 < len(pairs) else 0
            layer = self.model.layer_cost(l, index[w], index[a], next_a)
            rows.append(
                {
                    "name": name,
                    "searched": isinstance(plan, int),
                    "w_bits": w,
                    "a_bits": a,
                    "latency_ms": layer.latency_us / 1000.0,
                    "size_bytes": layer.size_bytes,
                    "energy_uj": layer.energy_pj / 1e6,
                }
            )
        return rows

    def replacements(self, choices: Sequence[int]) -> list[dict[int, int]]:
        """Per searched layer, each width of `choices` mapped to the width worth training instead:
        itself, or, where a wider choice is never slower, the narrowest such choice that is itself
        worth training. A redundant width would cost accuracy and buy no time.

        "Never slower" holds whatever the neighbouring layers hold. A layer's width enters the
        latency through its own rows and through the rows just before them (their output is
        written at its bits), so only the searched layers next to those rows matter, and every
        combination of their choices is tried.
        """
        choices = sorted(choices)
        result = []
        for i in range(len(self.searched)):
            neighbours = self._neighbours(i)
            contexts = list(itertools.product(choices, repeat=len(neighbours)))
            latency = {b: [self._latency_with(i, b, neighbours, c) for c in contexts] for b in choices}
            never_slower = {b: [w for w in choices if w > b and all(x <= y for x, y in zip(latency[w], latency[b]))]
                            for b in choices}  # fmt: skip
            kept = [b for b in choices if not never_slower[b]]
            result.append({b: b if b in kept else min(w for w in never_slower[b] if w in kept) for b in choices})
        return result

    def _neighbours(self, i: int) -> list[int]:
        """The other searched layers whose rows sit next to layer `i`'s rows in the topology."""
        rows = [r for r, p in enumerate(self._plan) if p == i]
        near = {r + d for r in rows for d in (-1, 1)} & set(range(len(self._plan)))
        return sorted({self._plan[r] for r in near if isinstance(self._plan[r], int)} - {i})

    def _latency_with(self, i: int, bits: int, neighbours: Sequence[int], context: Sequence[int]) -> float:
        allocation = [max(self.model.bits)] * len(self.searched)
        for layer, b in zip(neighbours, context):
            allocation[layer] = b
        allocation[i] = bits
        return self.cost(allocation).latency_ms

    def minimum_size(self, choices: Sequence[int]) -> float:
        """The smallest model: every searched layer at the narrowest choice."""
        return self.cost([min(choices)] * len(self.searched)).size_bytes
