"""compare.md: the method x beta table with bootstrap CIs, the uniform baselines, the tests, the command."""

from __future__ import annotations

from typing import Optional

__all__ = ["render_markdown", "render_table"]

_HEADER = (
    "| method | β | runs | final test top-1 (%) | final latency (ms) | hypervolume "
    "| best test top-1 at ≤ uniform-4 latency (%) | chain latency, last quarter (ms) |"
)


def _number(value: Optional[float], digits: str = ".2f") -> str:
    return "–" if value is None else format(value, digits)


def _ci(ci: dict) -> str:
    """``mean [low, high]``, the mean alone when there is no interval, a dash when there are no values."""
    if ci["estimate"] is None:
        return "–"
    if ci["low"] is None:
        return f"{ci['estimate']:.2f}"
    return f"{ci['estimate']:.2f} [{ci['low']:.2f}, {ci['high']:.2f}]"


def render_table(summary: dict) -> str:
    """One row per method x beta, then one per uniform width (β does not apply to them)."""
    lines = [_HEADER, "|" + "---|" * 8]
    for g in summary["groups"]:
        cells = [
            g["method"], f"{g['beta']:g}", str(g["runs"]), _ci(g["test_top1"]), _number(g["latency_ms"], ".4g"),
            _ci(g["hypervolume"]), _number(g["best_test_top1_within_uniform4_latency"]),
            _number(g["chain_tail_latency_ms"], ".4g"),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    for u in summary["uniform"]:
        cells = [u["label"], "–", str(u["seeds"]), _ci(u["test_top1"]), _number(u["latency_ms"], ".4g"),
                 _ci(u["hypervolume"]), "–", "–"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _p(test: dict) -> str:
    if test["p"] is None:
        return f"no test (n = {test['n']}): {test['note']}"
    text = f"statistic = {test['statistic']:g}, p = {test['p']:.4g}, n = {test['n']}"
    return f"{text}; {test['note']}" if test["note"] else text


def _statistics_lines(summary: dict) -> list[str]:
    statistics = summary["statistics"]
    lines = []
    for beta, test in statistics["wilcoxon_hypervolume_amed_vs_random"].items():
        lines.append(f"- Wilcoxon signed-rank, AMED vs random hypervolume over paired seeds, β = {beta}: {_p(test)}")
    for beta, test in statistics["wilcoxon_final_top1_amed_vs_random"].items():
        lines.append(f"- Wilcoxon signed-rank, AMED vs random final test top-1 over paired seeds, β = {beta}: {_p(test)}")
    rho = statistics["spearman_amed_final_latency_vs_beta"]
    if rho["rho"] is None:
        lines.append(f"- Spearman, AMED final latency vs β: no value (n = {rho['n']}): {rho['note']}")
    else:
        lines.append(f"- Spearman, AMED final latency vs β: ρ = {rho['rho']:.3f}, p = {rho['p']:.4g}, n = {rho['n']}")
    for g in summary["groups"]:
        undominated = g["targets"]["final_not_dominated_by_uniform"]
        reaches = g["targets"]["uniform4_top1_at_0.9x_latency"]
        lines.append(
            f"- {g['method']}, β = {g['beta']:g}: final dominated by no uniform baseline in {undominated['met']} of "
            f"{undominated['of']} runs; reaches uniform-4 test top-1 at ≤ 0.9× its latency in {reaches['met']} of "
            f"{reaches['of']}"
        )
    return lines


def render_markdown(summary: dict) -> str:
    """The whole compare.md."""
    title = f"{summary['model']} on {summary['dataset']}, {summary['hw']}"
    lines = [
        f"# Comparison: {title}",
        "",
        f"Final points fine-tuned at {summary['final_budget']}, evaluated once on the test split. "
        "Cells are the mean over seeds with a 95 % percentile-bootstrap interval in brackets.",
        "Hypervolume: area dominated by a run's final points, reference top-1 = chance and latency = "
        "uniform 8 bit, in (top-1 points above chance) × (fraction of uniform-8 latency saved).",
        "",
        render_table(summary),
        "",
        "## Statistics",
        "",
        *_statistics_lines(summary),
    ]
    if summary["failed"]:
        lines += ["", "## Failed runs", "", *(f"- {name}" for name in summary["failed"])]
        lines.append("Rerun the same command to retry them; finished runs are skipped.")
    missing = [r["name"] for r in summary["runs"] if r["status"] == "missing"]
    if missing:
        lines += ["", "Not finished: " + ", ".join(missing)]
    lines += ["", "## Command", "", "```", summary["command"], "```", ""]
    return "\n".join(lines)
