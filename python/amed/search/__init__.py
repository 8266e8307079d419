"""The AMED search: Algorithm 2 with durable history, checkpoints, resume and outputs.

    from amed.search import SearchConfig, run
    result = run(SearchConfig(model="resnet20", hw="scalesim", steps=20, out="amed-out"))

``amed search`` is `configure` then `run`; ``amed report`` renders a run folder (`amed.report`).
Importing this package does not import torch: the loop is loaded when a search runs.
"""

from __future__ import annotations

from typing import Any

from amed.errors import ConfigError

from .config import SearchConfig, default_dataset, parse_bits

__all__ = ["Search", "SearchConfig", "SearchResult", "Timings", "configure", "default_dataset", "parse_bits", "run"]


def run(config: SearchConfig, *, resume: bool = False, progress: bool = True):
    """Run (or resume) a search and write every output file into ``config.out``; a `SearchResult`.

    Under torchrun (`amed.distributed.init` called first) every rank calls this: rank 0 searches
    and returns the result, the others fine-tune alongside it and return None.
    """
    from amed import distributed

    from .loop import Search
    from .outputs import write_outputs

    if distributed.world_size() > 1 and config.protocol == "continued":
        raise ConfigError(
            "--protocol continued trains one model across the samples and runs in one process; start it "
            "without torchrun, or use the default protocol under torchrun",
            field="protocol",
        )
    engine = Search(config, progress=progress and distributed.is_main())
    if not distributed.is_main():
        engine.follow()
        return None
    result = engine.run(resume=resume)
    write_outputs(engine, result)
    return result


def configure(options: dict[str, Any], *, resume: bool = False) -> SearchConfig:
    """The settings of a search from typed values of `SearchConfig` fields, checked before any work.

    A new search takes `options` over the defaults. A resumed one takes them over the settings it
    was started with, and refuses any that would change its results (only ``steps`` may grow), so
    an omitted flag never silently changes a resumed run. The hardware file is read and the device
    resolved here, so a bad one fails before any training.
    """
    from amed import store
    from amed.device import resolve_device
    from amed.hw import load as load_hw

    if resume:
        out = options.get("out", SearchConfig.out)
        saved = SearchConfig.from_dict(store.saved_config(out))
        config = SearchConfig.from_dict({**saved.to_dict(), **options})
        changed = config.mismatches(saved)
        if changed:
            details = ", ".join(f"--{n.replace('_', '-')} {getattr(config, n)!r} (started with "
                                f"{getattr(saved, n)!r})" for n in changed)  # fmt: skip
            raise ConfigError(
                f"cannot resume {out} with {details}: that would change its results; resume with the same "
                "settings or start a new search in another --out",
                field=changed[0],
            )
    else:
        config = SearchConfig(**options)
    load_hw(config.hw)
    resolve_device(config.device)
    return config


def __getattr__(name: str):
    if name in ("Search", "SearchResult", "Timings"):
        from . import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
