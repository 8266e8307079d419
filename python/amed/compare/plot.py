"""compare.png: test top-1 against simulated latency of every run's final point and the uniform baselines."""

from __future__ import annotations

from pathlib import Path

__all__ = ["render_plot"]

_COLOURS = {"amed": "tab:blue", "random": "tab:orange"}
_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*")


def render_plot(summary: dict, path: Path) -> None:
    """Colour by method, marker by beta; baselines black and labelled; the y axis on the models, with
    a dashed chance line where it is within reach of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.8))
    betas = list(dict.fromkeys(g["beta"] for g in summary["groups"]))
    drawn = set()
    for run in summary["runs"]:
        if run["status"] != "complete" or run["final"] is None:
            continue
        key = (run["method"], run["beta"])
        ax.scatter(
            run["final"]["latency_ms"], run["final"]["test_top1"], s=40, alpha=0.85, zorder=3,
            color=_COLOURS.get(run["method"], "tab:gray"), marker=_MARKERS[betas.index(run["beta"]) % len(_MARKERS)],
            label=None if key in drawn else f"{run['method']}, β = {run['beta']:g}",
        )  # fmt: skip
        drawn.add(key)
    labelled = set()
    for seed in summary["seeds"].values():  # one black square per seed, one label per width
        for baseline in seed["baselines"]:
            ax.scatter(baseline["latency_ms"], baseline["test_top1"], s=30, color="black", marker="s", zorder=2)
            if baseline["label"] not in labelled:
                ax.annotate(baseline["label"], (baseline["latency_ms"], baseline["test_top1"]), fontsize=7,
                            xytext=(4, 3), textcoords="offset points")  # fmt: skip
                labelled.add(baseline["label"])
    if summary["num_classes"]:
        from amed.report import zoom_to_data

        chance = 100.0 / summary["num_classes"]
        where = "" if zoom_to_data(ax, chance) else ", below the axis"
        ax.axhline(chance, color="gray", linestyle="--", linewidth=1, label=f"chance ({chance:.3g} %{where})")
    ax.set_xlabel("simulated latency (ms)")
    ax.set_ylabel("test top-1 (%)")
    title = f"{summary['model']} on {summary['dataset']}, {summary['hw']}"
    ax.set_title(f"{title}\nfinal points, fine-tuned at {summary['final_budget']}", fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
