"""LSQ quantization-aware training: quantizer, fake-quantized layers, and in-place bit changes."""

from .lsq import LsqQuantizer, QuantConfig
from .modules import QConv2d, QLinear
from .prepare import get_allocation, quantize_model, quantized_layers, set_act_init, set_bits

__all__ = [
    "LsqQuantizer",
    "QConv2d",
    "QLinear",
    "QuantConfig",
    "get_allocation",
    "quantize_model",
    "quantized_layers",
    "set_act_init",
    "set_bits",
]
