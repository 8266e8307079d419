"""The ``amed`` command line.

`parsers` types and checks every flag before a command runs; `commands` does the work. Every error
reaches the user as one line, ``amed: error: ...``, with exit status 2 for bad settings and 1 for
failures while working; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback
from typing import Optional, Sequence

from amed.errors import AmedError, ConfigError

__all__ = ["main"]

#: What `pip install '.[torch]'` adds: search, finetune, compare and pretrain need it; simulate,
#: hw and report do not.
_TORCH_EXTRA = ("torch", "torchvision", "numpy", "sklearn", "matplotlib", "scipy", "platformdirs")


def _say(message: str) -> None:
    print(f"amed: error: {message}", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `amed` command; returns the exit status."""
    from .parsers import build_parser

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, or a flag argparse refused (already reported)
        return int(done.code or 0)
    try:
        args.run(args)
    except BaseException as error:
        if args.debug and not isinstance(error, SystemExit):
            traceback.print_exc()
        return _report(error)
    return 0


def _report(error: BaseException) -> int:
    """One line for `error`; the exit status."""
    if isinstance(error, ConfigError):
        _say(str(error))
        return 2
    if isinstance(error, AmedError):
        _say(str(error))
        return 1
    if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] in _TORCH_EXTRA:
        _say(f"this command needs the '{error.name}' package of the torch extra; install it with: "
             "pip install 'amed[torch]' (from a checkout: pip install '.[torch]')")  # fmt: skip
        return 1
    if isinstance(error, KeyboardInterrupt):
        _say("interrupted")
        return 130
    if isinstance(error, SystemExit):
        raise error
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        _say(f"cannot access{where}: {error.strerror or error}")
        return 1
    if isinstance(error, MemoryError):
        _say("out of memory")
        return 1
    _say(f"internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
