"""Latency of uniform 2-, 3- and 4-bit networks relative to uniform 8 bit, on every shipped
hardware config with Bit Fusion on and off (the table of docs/precision.md, "Which default and
why", and of configs/README.md).

    python benches/low_bit_latency.py            # needs the torch extra (amed.models)

Each network is extracted from the model registry with ``amed.topology.extract`` on one
image (1 input channel, 10 classes). Every layer, the first conv and the classifier included,
is at the same bits (w = a = b), and the network output at b bits too (``CostModel.cost``'s
default). "on" and "off" are the shipped config with ``bit_fusion`` set to true / false
(``pe_bits`` = 8 in both), so the table does not depend on which one the file ships.
"""

from __future__ import annotations

from amed.models import build_model
from amed.simcore import CostModel, HwConfig
from amed.topology import extract

BITS = (2, 3, 4, 8)
NETWORKS = [("resnet20", 28), ("resnet20", 8), ("resnet18", 28), ("resnet50", 28)]
CONFIGS = ("scalesim", "scalesim_lowmem", "eyeriss")


def with_fusion(name: str, fusion: bool) -> HwConfig:
    settings = HwConfig.from_name(name).to_dict()
    settings.update(bit_fusion=fusion, pe_bits=8)
    return HwConfig(**settings)


def main() -> None:
    print("| network | input | config | fusion | uniform 8 (ms) | 2 / 8 | 3 / 8 | 4 / 8 |")
    print("|---|---|---|---|---|---|---|---|")
    for model_name, size in NETWORKS:
        model = build_model(model_name, num_classes=10, in_channels=1, image_size=size)
        topology = extract(model, (1, size, size))
        n = len(topology.layers)
        for config in CONFIGS:
            for fusion in (False, True):
                cost = CostModel(topology, with_fusion(config, fusion), bits=BITS)
                ref = cost.cost([(8, 8)] * n).latency_ms
                ratios = [cost.cost([(b, b)] * n).latency_ms / ref for b in (2, 3, 4)]
                cells = " | ".join(f"{r:.3f}" for r in ratios)
                print(f"| {model_name} ({n} layers) | {size}x{size} | {config} | "
                      f"{'on' if fusion else 'off'} | {ref:.4f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
