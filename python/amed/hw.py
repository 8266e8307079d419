"""Find hardware configs by shipped name or by path, and list the shipped ones.

Shipped configs are the ``*.toml`` files in the package folder ``amed/configs`` (the
repository's top-level ``configs`` links there), so a wheel and a source checkout both
carry them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Union

from amed._simcore import HwConfig
from amed.errors import ConfigError

__all__ = ["CONFIG_DIR", "config_path", "list_configs", "load"]

HwLike = Union[HwConfig, str, "os.PathLike[str]"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def list_configs() -> Dict[str, Path]:
    """Shipped config names (file stems) and their files, sorted by name."""
    return {path.stem: path for path in sorted(CONFIG_DIR.glob("*.toml"))}


def config_path(name_or_path: Union[str, "os.PathLike[str]"]) -> Path:
    """The file for a shipped name ("scalesim") or a path to a .toml/.cfg file.

    A value with a directory part or a .toml/.cfg suffix is a path (the loader reports a
    missing file); anything else must be a shipped name.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ConfigError(
            f"expected a config name or path, found {type(name_or_path).__name__}", field="hw"
        )
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.suffix in (".toml", ".cfg") or len(path.parts) > 1:
        return path
    shipped = list_configs()
    if text in shipped:
        return shipped[text]
    names = ", ".join(shipped) or "none found"
    raise ConfigError(
        f"unknown hardware config {text!r}: shipped configs are {names}; "
        "or pass the path of a .toml or SCALE-Sim .cfg file",
        field="hw",
    )


def load(hw: HwLike) -> HwConfig:
    """A HwConfig from a HwConfig (returned as is), a shipped name, or a file path."""
    if isinstance(hw, HwConfig):
        return hw
    return HwConfig.from_file(config_path(hw))
