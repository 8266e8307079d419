"""The AMED search: Algorithm 2 with durable history, checkpoints, resume and outputs.

    from amed.search import SearchConfig, run
    result = run(SearchConfig(model="resnet20", hw="scalesim", steps=20, out="amed-out"))

``amed search`` and ``amed report`` are the command-line faces of `search` and `amed.report.render`.
"""

from __future__ import annotations

import dataclasses

from amed.errors import ConfigError

from .config import SearchConfig, default_dataset, parse_bits
from .loop import Search, SearchResult, Timings

__all__ = ["Search", "SearchConfig", "SearchResult", "Timings", "default_dataset", "parse_bits", "run", "search"]


def run(config: SearchConfig, *, resume: bool = False, progress: bool = True) -> SearchResult:
    """Run (or resume) a search and write every output file into ``config.out``."""
    from .outputs import write_outputs

    engine = Search(config, progress=progress)
    result = engine.run(resume=resume)
    write_outputs(engine, result)
    return result


def _coerce(field: dataclasses.Field, value):
    """A command-line value as the field's type ("none" means None where None is allowed)."""
    kind = str(field.type)
    if field.name == "weights":  # "none" (random weights) differs from no value (the converged start)
        return None if value is None else str(value)
    if value is None or (isinstance(value, str) and value.lower() == "none" and "Optional" in kind):
        return None
    if field.name == "bits":
        return parse_bits(value)
    for name, convert in (("bool", _bool), ("int", int), ("float", float), ("str", str)):
        if name in kind:
            try:
                return convert(value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"--{field.name.replace('_', '-')} expects {name}, got {value!r}", field=field.name
                ) from None
    return value


def _bool(value) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def search(*, resume: bool = False, progress: bool = True, **options) -> str:
    """Runs a search from command-line values (any `SearchConfig` field) and returns the summary.

    Unknown model names are rejected before any data is loaded.
    """
    from amed import report
    from amed.models import MODEL_NAMES

    fields = {f.name: f for f in dataclasses.fields(SearchConfig)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ConfigError(f"unknown search option(s): {', '.join(unknown)}", field=unknown[0])
    values = {name: _coerce(fields[name], value) for name, value in options.items()}
    if values.get("model", "resnet20") not in MODEL_NAMES:
        raise ConfigError(
            f"unknown model {values['model']!r}; valid models: {', '.join(MODEL_NAMES)}", field="model"
        )
    result = run(SearchConfig(**values), resume=resume, progress=progress)
    meta, records = report.load_run(result.out)
    return report.summary(meta, records) + f"\n\noutputs in {result.out}/"
