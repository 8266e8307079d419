"""The exceptions amed raises. Every error from the simulator core arrives as one of these.

All derive from :class:`AmedError` and carry ``file``, ``line`` and ``field`` attributes
(``None`` when unknown), so callers can point at the bad input::

    try:
        amed.simcore.Topology.from_csv("net.csv")
    except amed.errors.TopologyError as e:
        print(e.file, e.line, e.field)
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "AmedError",
    "AmedIOError",
    "AllocationError",
    "ConfigError",
    "SamplerError",
    "TopologyError",
]


class AmedError(Exception):
    """Base class of every amed error."""

    def __init__(
        self,
        message: str,
        *,
        file: Optional[str] = None,
        line: Optional[int] = None,
        field: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.field = field

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep the attributes when pickled (multiprocessing)
        return (_rebuild, (type(self), self.message, self.file, self.line, self.field))


def _rebuild(cls, message, file, line, field):
    return cls(message, file=file, line=line, field=field)


class ConfigError(AmedError):
    """A hardware config (TOML or SCALE-Sim .cfg) is malformed or out of range."""


class TopologyError(AmedError):
    """A topology CSV or a layer description is malformed or out of range."""


class AllocationError(AmedError):
    """A bit allocation does not fit the topology or the hardware."""


class SamplerError(AmedError):
    """The bit-allocation sampler was given an invalid setting or state."""


class AmedIOError(AmedError, OSError):
    """A file could not be read or written; ``file`` (and ``filename``) is the path."""

    def __init__(
        self,
        message: str,
        *,
        file: Optional[str] = None,
        line: Optional[int] = None,
        field: Optional[str] = None,
        errno: Optional[int] = None,
    ) -> None:
        super().__init__(message, file=file, line=line, field=field)
        self.errno = errno
        self.strerror = message
        self.filename = file


class ResourceLimitError(AmedError):
    """A layer needs more working memory than the simulator's limit allows (the message names
    the layer and the limit); nothing was allocated."""


__all__.append("ResourceLimitError")
