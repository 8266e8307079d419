"""Plots and tables of a search, rendered from its output folder alone (no model, no training).

Reads ``history.jsonl`` and ``search.json`` and writes:
  pareto.csv       the Pareto front (search-validation top-1 up, latency down) of the evaluated samples
  pareto.png       top-1 vs simulated latency: the samples and their front on search-validation, and
                   the final stage (chosen, Pareto points, uniform baselines) on test
  bits.png         the best allocation's bits per layer (fixed layers marked)
  latency.png      latency per layer of the best allocation next to uniform 8 bit
and returns the summary table (``amed report DIR`` prints it).
"""

from __future__ import annotations

import csv
from pathlib import Path

from amed.store import load_run, pareto_front

__all__ = ["PARETO_FIELDS", "render", "summary", "zoom_to_data"]

PARETO_FIELDS = ("step", "top1", "top5", "ce", "latency_ms", "size_bytes", "energy_uj", "objective", "bits")


def _write_pareto(path: Path, front: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(PARETO_FIELDS)
        for r in front:
            writer.writerow([r[k] if k != "bits" else "-".join(map(str, r["bits"])) for k in PARETO_FIELDS])


def _plot_pareto(path: Path, meta: dict, records: list[dict], front: list[dict]) -> None:
    """Left: the search's samples on search-validation (one candidate budget each). Right: the final
    stage on test (every point at the same final budget). The splits and budgets differ, so the two
    never share an axis."""
    import matplotlib.pyplot as plt

    c = meta["config"]
    chance = 100.0 / meta.get("num_classes", 10)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    evaluated = [r for r in records if r["evaluated"]]
    left.scatter([r["latency_ms"] for r in evaluated], [r["top1"] for r in evaluated], s=14, alpha=0.45,
                 color="tab:gray", label=f"{c['method']} samples")  # fmt: skip
    left.step([r["latency_ms"] for r in front], [r["top1"] for r in front], where="post", color="tab:blue",
              marker="o", ms=4, label="Pareto front")  # fmt: skip
    ref = meta["reference"]
    left.scatter(ref["latency_ms"], ref["top1"], marker="s", s=50, color="black", zorder=3, label="uniform 8 (reference)")
    best = meta.get("best")
    if best:
        left.scatter(best["latency_ms"], best["top1"], marker="*", s=180, color="tab:red", zorder=4, label="chosen")
    left.set_title(f"search: search-validation, {meta['budget']} each", fontsize=9)
    final_points = [p for p in [meta.get("final")] + meta.get("final_pareto", []) if p]
    for p in final_points:
        chosen = p["label"] == "chosen"
        right.scatter(p["latency_ms"], p["test_top1"], marker="*" if chosen else "o", s=180 if chosen else 40,
                      color="tab:red" if chosen else "tab:blue", zorder=4,
                      label="chosen" if chosen else None)  # fmt: skip
    if meta.get("final_pareto"):
        right.scatter([], [], marker="o", color="tab:blue", label="Pareto points")
    for b in meta.get("baselines", []):
        right.scatter(b["latency_ms"], b["test_top1"], marker="s", s=50, zorder=3, label=f"uniform {b['bits']} bit")
    right.set_title(f"final: test split, {meta.get('final_budget', '')} each", fontsize=9)
    for ax in (left, right):
        if c.get("max_latency") is not None:
            ax.axvline(c["max_latency"], color="tab:green", lw=0.9, ls="--", label=f"latency target {c['max_latency']:g} ms")
        shown = zoom_to_data(ax, chance)
        where = "" if shown else ", below the axis"
        ax.axhline(chance, color="tab:red", lw=0.8, ls=":", label=f"chance ({chance:.0f} %{where})")
        ax.set_xlabel(f"simulated latency (ms) on {meta['hw']}")
        ax.set_ylabel("top-1 (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{c['model']} on {c['dataset']}, hw {meta['hw']}, beta {c['beta']:g}, seed {c['seed']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


#: A model below both this many top-1 points under the median of a panel and Tukey's lower fence
#: (Q1 - 1.5 IQR) is an outlier (a ruinous uniform 2 bit, say): it is noted at the bottom edge with
#: its value instead of stretching the axis.
OUTLIER_POINTS = 20.0


def zoom_to_data(ax, chance: float) -> bool:
    """Fit the y axis to the models, outliers noted rather than shown; include the chance line only
    when some shown model is within 20 points of it. Returns whether chance is on the axis."""
    import numpy as np

    points = [tuple(p) for collection in ax.collections for p in collection.get_offsets()]
    if not points:
        return True
    ys = np.array([y for _, y in points])
    q1, q3 = np.percentile(ys, [25, 75])
    cut = min(float(np.median(ys)) - OUTLIER_POINTS, q1 - 1.5 * (q3 - q1))
    shown = ys[ys >= cut]
    low, high = float(shown.min()), float(shown.max())
    pad = max(1.0, 0.1 * (high - low))
    near = low - chance < 20
    bottom = min(low - pad, chance - 1) if near else low - pad
    ax.set_ylim(bottom, min(100.5, high + pad))
    outliers = sorted((x, y) for x, y in points if y < cut)
    if len(outliers) == 1:
        x, y = outliers[0]
        ax.annotate(f"{y:.1f} % (below the axis)", xy=(x, bottom), xytext=(0, 12), textcoords="offset points",
                    ha="center", fontsize=7, arrowprops={"arrowstyle": "->", "lw": 0.8})  # fmt: skip
    elif outliers:
        ax.text(0.01, 0.01, f"{len(outliers)} points below the axis (down to {min(y for _, y in outliers):.1f} %)",
                transform=ax.transAxes, fontsize=7, va="bottom")  # fmt: skip
    return near


def _title(meta: dict) -> str:
    c = meta["config"]
    return f"{c['model']} on {c['dataset']}, hw {meta['hw']}"


def _layer_figure(count: int):
    """A figure wide enough for `count` rotated layer names, with room below for them."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * count), 4.8))
    return fig, ax


def _finish_layer_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=120, bbox_inches="tight")  # the rotated names are never cut off
    plt.close(fig)


def _plot_bits(path: Path, meta: dict, layers: list[dict]) -> None:
    fig, ax = _layer_figure(len(layers))
    colors = ["tab:blue" if r["searched"] else "tab:gray" for r in layers]
    ax.bar(range(len(layers)), [r["w_bits"] for r in layers], color=colors)
    ax.set_xticks(range(len(layers)), [r["name"] for r in layers], rotation=90, fontsize=7)
    ax.set_ylabel("bits (weights = activations)")
    ax.set_title(f"chosen allocation, {_title(meta)} (gray: held at fixed bits)", fontsize=9)
    _finish_layer_figure(fig, path)


def _plot_latency(path: Path, meta: dict, best: list[dict], reference: list[dict]) -> None:
    x = range(len(best))
    fig, ax = _layer_figure(len(best))
    ax.bar([i - 0.2 for i in x], [r["latency_ms"] for r in reference], width=0.4, label="uniform 8 bit", color="tab:gray")
    ax.bar([i + 0.2 for i in x], [r["latency_ms"] for r in best], width=0.4, label="chosen", color="tab:blue")
    ax.set_xticks(list(x), [r["name"] for r in best], rotation=90, fontsize=7)
    ax.set_ylabel("simulated latency (ms)")
    ax.set_title(f"simulated latency per layer, {_title(meta)}", fontsize=9)
    ax.legend(fontsize=8)
    _finish_layer_figure(fig, path)


def _row(name: str, r: dict, top1: str = "top1", ce: str = "ce") -> str:
    return (f"{name:<24} {r[top1]:>7.2f} {r[ce]:>7.4f} {r['latency_ms']:>12.4f} "
            f"{r['size_bytes'] / 1024:>10.1f}")  # fmt: skip


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _caps(c: dict) -> list[str]:
    caps = [f"latency <= {c['max_latency']:g} ms" if c.get("max_latency") is not None else "",
            f"size <= {c['max_size']:g} bytes" if c.get("max_size") is not None else ""]  # fmt: skip
    caps = [cap for cap in caps if cap]
    return [f"every candidate trained within: {', '.join(caps)}"] if caps else []


def summary(meta: dict, records: list[dict]) -> str:
    """Plain-text tables: the search on search-validation, then the final stage on test."""
    c = meta["config"]
    chance = 100.0 / meta.get("num_classes", 10)
    header = f"{'model':<24} {'top-1 %':>7} {'CE':>7} {'latency ms':>12} {'size KiB':>10}"
    lines = [
        f"{c['method']} search: {c['model']} on {c['dataset']}, hw {meta['hw']}, bits {c['bits']}, "
        f"beta {c['beta']}, seed {c['seed']}",
        f"{_count(len(records), 'sample')} ({sum(r['evaluated'] for r in records)} fine-tuned, "
        f"{sum(not r['feasible'] for r in records)} over a cap); each candidate: {meta['budget']} "
        "from the converged start" if c.get("protocol", "checkpoint") == "checkpoint" else
        f"{_count(len(records), 'sample')}, each continuing the previous one by {meta['budget']}",
        *_caps(c),
        "",
        "search (search-validation split; every choice is made here; the reference is uniform 8 bit after "
        "one candidate's budget, and the objective's CE and latency are relative to it):",
        header,
        _row("uniform 8 (reference)", meta["reference"]),
    ]
    best = meta.get("best")
    if best:
        lines.append(_row(f"chosen (step {best['step']})", best))
    final_points = [p for p in [meta.get("final")] + meta.get("final_pareto", []) if p]
    if final_points or meta.get("baselines"):
        lines += ["", f"final stage (test split; every model {meta.get('final_budget', '')} from the converged start):", header]
        lines += [_row(p["label"], p, "test_top1", "test_ce") for p in final_points]
        lines += [_row(f"uniform {b['bits']}", b, "test_top1", "test_ce") for b in meta.get("baselines", [])]
    if best:
        counts: dict[int, int] = {}
        for b in best["bits"]:
            counts[b] = counts.get(b, 0) + 1
        lines += ["", "chosen bits: " + ", ".join(f"{n} layers at {b}" for b, n in sorted(counts.items()))]
        if not best["meets_threshold"]:
            lines.append("no sample met the accuracy threshold; the chosen one is the best objective overall")
    near = [name for name, top1 in [("reference", meta["reference"]["top1"])] +
            [(p["label"], p["test_top1"]) for p in final_points + meta.get("baselines", [])] if top1 < chance + 10]  # fmt: skip
    if near:
        lines += ["", f"WARNING: {', '.join(map(str, near))} within 10 points of chance ({chance:.1f} %): "
                  "their differences are noise"]  # fmt: skip
    return "\n".join(lines)


def render(out: str | Path) -> str:
    """Write pareto.csv and the PNG plots into `out`; return the summary table."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out)
    meta, records = load_run(out)
    front = pareto_front(records)
    _write_pareto(out / "pareto.csv", front)
    _plot_pareto(out / "pareto.png", meta, records, front)
    if meta.get("best_layers"):
        _plot_bits(out / "bits.png", meta, meta["best_layers"])
        _plot_latency(out / "latency.png", meta, meta["best_layers"], meta["reference_layers"])
    return summary(meta, records)
