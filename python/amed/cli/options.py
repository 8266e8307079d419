"""Typed converters for the command line: each turns one flag's text into its value or says, in
one line, what the flag expects. argparse calls them before any command runs."""

from __future__ import annotations

import argparse
import math
from typing import Callable, Optional, TypeVar

__all__ = ["bits_list", "boolean", "integer", "number", "optional", "text"]

T = TypeVar("T")


def integer(low: Optional[int] = None) -> Callable[[str], int]:
    """Whole numbers only (``1.5`` is an error, not 1), at least `low`."""

    def convert(value: str) -> int:
        try:
            number_ = int(value.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expects a whole number, got {value!r}") from None
        if low is not None and number_ < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {number_}")
        return number_

    convert.__name__ = "integer"
    return convert


def number(value: str) -> float:
    """A finite decimal number (``nan`` and ``inf`` are errors)."""
    try:
        result = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a number, got {value!r}") from None
    if not math.isfinite(result):
        raise argparse.ArgumentTypeError(f"expects a finite number, got {value!r}")
    return result


def optional(convert: Callable[[str], T]) -> Callable[[str], Optional[T]]:
    """`convert`, or None for the word ``none``."""

    def maybe(value: str) -> Optional[T]:
        return None if value.strip().lower() == "none" else convert(value)

    maybe.__name__ = "optional_" + getattr(convert, "__name__", "value")
    return maybe


def boolean(value: str) -> bool:
    """true/false, yes/no, on/off or 1/0."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expects true or false, got {value!r}")


def text(value: str) -> str:
    """Any non-empty text."""
    if not value.strip():
        raise argparse.ArgumentTypeError("expects a value, got an empty string")
    return value


def bits_list(value: str) -> tuple[int, ...]:
    """Bit choices such as ``2,3,4,8``: whole numbers in 2..8."""
    from amed.errors import ConfigError
    from amed.search.config import parse_bits

    try:
        return parse_bits(value)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--bits ")) from None
