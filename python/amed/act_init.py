"""The ways an LSQ activation step is initialised, importable without torch: the CLI's parser and
`SearchConfig` name them, `amed.quant.lsq` implements them."""

from __future__ import annotations

__all__ = ["ACT_INITS", "check_act_init"]

#: The MSE-optimal step on the first batch, or the paper's Eq. 9 (`amed.quant.lsq` has both).
ACT_INITS = ("mse", "max")


def check_act_init(mode: object, field: str = "act_init") -> str:
    """Return `mode`, or raise ValueError naming the field when it is not one of `ACT_INITS`."""
    if mode not in ACT_INITS:
        raise ValueError(f"{field} must be one of {', '.join(ACT_INITS)}, got {mode!r}")
    return str(mode)
