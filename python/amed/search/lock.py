"""One search per output folder: an exclusive, non-blocking lock on ``OUT/.lock``.

A second process on the same folder fails at once, naming the holder's pid, instead of
interleaving its steps with the first one's. The lock dies with its process (flock), so a killed
search never leaves the folder locked. A folder this process created and left empty (a search that
stopped before writing anything) is removed again.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from amed.errors import AmedIOError, ConfigError

__all__ = ["LOCK_FILE", "folder_lock"]

LOCK_FILE = ".lock"


@contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / LOCK_FILE, "a+")
    except OSError as err:
        raise AmedIOError(f"cannot write {out}: {err.strerror or err}", file=str(out), field="out") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ConfigError(
                f"{out} is in use by another search (pid {holder}); wait for it or choose another --out",
                field="out",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
        if created and [p.name for p in out.iterdir()] == [LOCK_FILE]:
            (out / LOCK_FILE).unlink(missing_ok=True)
            out.rmdir()
