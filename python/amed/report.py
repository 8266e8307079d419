"""Plots and tables of a search, rendered from its output folder alone (no model, no training).

Reads ``history.jsonl`` and ``search.json`` and writes:
  pareto.csv       the Pareto front (top-1 up; latency and size down) of the evaluated samples
  pareto.png       top-1 vs simulated latency: every sample, the front, the uniform baselines, the best
  bits.png         the best allocation's bits per layer (fixed layers marked)
  latency.png      latency per layer of the best allocation next to uniform 8 bit
and returns the summary table (``amed report DIR`` prints it).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from amed.errors import AmedIOError

__all__ = ["PARETO_FIELDS", "load_run", "render", "summary"]

PARETO_FIELDS = ("step", "top1", "top5", "ce", "latency_ms", "size_bytes", "energy_uj", "objective", "bits")


def load_run(out: str | Path) -> tuple[dict, list[dict]]:
    """(search.json contents, history records) of an output folder."""
    from amed.search.history import HISTORY_FILE, read
    from amed.search.loop import SEARCH_FILE

    out = Path(out)
    meta_path = out / SEARCH_FILE
    if not meta_path.is_file():
        raise AmedIOError(
            f"{out} holds no search ({meta_path.name} is missing); pass the --out folder of `amed search`",
            file=str(meta_path),
        )
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise AmedIOError(f"{meta_path}: {err}", file=str(meta_path), line=err.lineno) from None
    return meta, read(out / HISTORY_FILE)


def _write_pareto(path: Path, front: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(PARETO_FIELDS)
        for r in front:
            writer.writerow([r[k] if k != "bits" else "-".join(map(str, r["bits"])) for k in PARETO_FIELDS])


def _front_2d(front: list[dict]) -> list[dict]:
    """The part of the 3-objective front that is also non-dominated in top-1 vs latency alone."""
    kept: list[dict] = []
    for r in sorted(front, key=lambda r: (r["latency_ms"], -r["top1"])):
        if not kept or r["top1"] > kept[-1]["top1"]:
            kept.append(r)
    return kept


def _plot_pareto(path: Path, meta: dict, records: list[dict], front: list[dict]) -> None:
    import matplotlib.pyplot as plt

    evaluated = [r for r in records if r["evaluated"]]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.scatter([r["latency_ms"] for r in evaluated], [r["top1"] for r in evaluated], s=14, alpha=0.45,
               color="tab:gray", label=f"{meta['config']['method']} samples")  # fmt: skip
    front2d = _front_2d(front)
    ax.step([r["latency_ms"] for r in front2d], [r["top1"] for r in front2d], where="post", color="tab:blue",
            marker="o", ms=4, label="Pareto front (top-1 vs latency)")  # fmt: skip
    for b in meta.get("baselines", []):
        ax.scatter(b["latency_ms"], b["top1"], marker="s", s=50, zorder=3, label=f"uniform {b['bits']} bit")
    best = meta.get("best")
    if best:
        ax.scatter(best["latency_ms"], best["top1"], marker="*", s=180, color="tab:red", zorder=4, label="best")
    ax.set_xlabel(f"simulated latency (ms) on {meta['hw']}")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(f"{meta['config']['model']} on {meta['config']['dataset']}: accuracy vs latency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_bits(path: Path, layers: list[dict]) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * len(layers)), 3.6))
    colors = ["tab:blue" if r["searched"] else "tab:gray" for r in layers]
    ax.bar(range(len(layers)), [r["w_bits"] for r in layers], color=colors)
    ax.set_xticks(range(len(layers)), [r["name"] for r in layers], rotation=90, fontsize=7)
    ax.set_ylabel("bits (weights = activations)")
    ax.set_title("best allocation (gray: held at fixed bits)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_latency(path: Path, best: list[dict], reference: list[dict]) -> None:
    import matplotlib.pyplot as plt

    x = range(len(best))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * len(best)), 3.6))
    ax.bar([i - 0.2 for i in x], [r["latency_ms"] for r in reference], width=0.4, label="uniform 8 bit", color="tab:gray")
    ax.bar([i + 0.2 for i in x], [r["latency_ms"] for r in best], width=0.4, label="best", color="tab:blue")
    ax.set_xticks(list(x), [r["name"] for r in best], rotation=90, fontsize=7)
    ax.set_ylabel("simulated latency (ms)")
    ax.set_title("latency per layer")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _row(name: str, r: dict) -> str:
    top5 = "-" if r.get("top5") is None else f"{r['top5']:.2f}"
    return (f"{name:<22} {r['top1']:>7.2f} {top5:>7} {r['ce']:>7.4f} {r['latency_ms']:>12.4f} "
            f"{r['size_bytes'] / 1024:>10.1f}")  # fmt: skip


def summary(meta: dict, records: list[dict]) -> str:
    """A plain-text table: reference, baselines and best, plus the run's counts."""
    c = meta["config"]
    lines = [
        f"{c['method']} search: {c['model']} on {c['dataset']}, hw {meta['hw']}, bits {c['bits']}, "
        f"beta {c['beta']}, seed {c['seed']}",
        f"{len(records)} samples ({sum(r['evaluated'] for r in records)} fine-tuned, "
        f"{sum(not r['feasible'] for r in records)} over the size cap); one step = {meta['budget']}",
        "",
        f"{'model':<22} {'top-1 %':>7} {'top-5 %':>7} {'CE':>7} {'latency ms':>12} {'size KiB':>10}",
    ]
    lines.append(_row("uniform 8 (reference)", meta["reference"]))
    lines += [_row(f"uniform {b['bits']}", b) for b in meta.get("baselines", [])]
    best = meta.get("best")
    if best:
        lines.append(_row(f"best (step {best['step']})", best))
        counts = {}
        for b in best["bits"]:
            counts[b] = counts.get(b, 0) + 1
        lines.append("")
        lines.append("best bits: " + ", ".join(f"{n} layers at {b}" for b, n in sorted(counts.items())))
        if not best["meets_threshold"]:
            lines.append("no sample met the accuracy threshold; the best shown is the best objective overall")
    return "\n".join(lines)


def render(out: str | Path) -> str:
    """Write pareto.csv and the PNG plots into `out`; return the summary table."""
    import matplotlib

    matplotlib.use("Agg")
    from amed.search.history import pareto_front

    out = Path(out)
    meta, records = load_run(out)
    front = pareto_front(records)
    _write_pareto(out / "pareto.csv", front)
    _plot_pareto(out / "pareto.png", meta, records, front)
    if meta.get("best_layers"):
        _plot_bits(out / "bits.png", meta["best_layers"])
        _plot_latency(out / "latency.png", meta["best_layers"], meta["reference_layers"])
    return summary(meta, records)
