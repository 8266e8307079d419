#!/usr/bin/env python3
"""AMED against uniform 8 bit, uniform 4 bit and random search at an equal fine-tune budget, plus a
beta sweep; writes a Markdown table and a Pareto plot.

Every method runs the same loop (`amed.search`) from the same uniform-8-bit warm-up with the same
seed, data and number of fine-tune steps; only the proposer differs (`--method`). Each run is
resumable, so an interrupted comparison picks up where it stopped.

    python scripts/compare.py --out compare-out --doc docs/results.md --plot docs/compare_pareto.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def _run(name: str, options: dict) -> tuple[str, float]:
    from amed.search import SearchConfig, run

    out = Path(options["out"])
    started = time.perf_counter()
    run(SearchConfig(**options), resume=(out / "checkpoint.pt").exists(), progress=False)
    return name, time.perf_counter() - started


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


def _summary(name: str, out: Path, tail: int) -> dict:
    meta = json.loads((out / "search.json").read_text())
    records = [r for r in _records(out) if r["evaluated"]]
    best = meta["best"]
    last = records[-tail:]
    return {
        "name": name,
        "beta": meta["config"]["beta"],
        "method": meta["config"]["method"],
        "best_top1": best["top1"],
        "best_latency_ms": best["latency_ms"],
        "best_size_kib": best["size_bytes"] / 1024,
        "best_bits": best["bits"],
        "tail_top1": sum(r["top1"] for r in last) / len(last),
        "tail_latency_ms": sum(r["latency_ms"] for r in last) / len(last),
        "reference_top1": meta["reference"]["top1"],
        "reference_latency_ms": meta["reference"]["latency_ms"],
        "samples": len(records),
    }


def _plot(path: Path, runs: dict[str, Path], rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from amed.search.history import pareto_front

    fig, ax = plt.subplots(figsize=(7.0, 4.8))
    styles = {"amed": ("tab:blue", "o"), "random": ("tab:orange", "^")}
    for name, out in runs.items():
        method = json.loads((out / "search.json").read_text())["config"]["method"]
        records = [r for r in _records(out) if r["evaluated"]]
        if method in styles and name in ("amed", "random"):
            color, marker = styles[method]
            ax.scatter([r["latency_ms"] for r in records], [r["top1"] for r in records], s=14, alpha=0.35,
                       color=color, marker=marker)  # fmt: skip
            front = sorted(pareto_front(records), key=lambda r: r["latency_ms"])
            kept = []
            for r in front:
                if not kept or r["top1"] > kept[-1]["top1"]:
                    kept.append(r)
            ax.step([r["latency_ms"] for r in kept], [r["top1"] for r in kept], where="post", color=color,
                    label=f"{name}: samples and front")  # fmt: skip
    for row in rows:
        if row["method"].startswith("uniform"):
            ax.scatter(row["best_latency_ms"], row["best_top1"], marker="s", s=60, zorder=3, label=row["name"])
        elif row["method"] == "amed":
            ax.scatter(row["best_latency_ms"], row["best_top1"], marker="*", s=150, zorder=4,
                       label=f"{row['name']} best")  # fmt: skip
    ax.set_xlabel("simulated latency (ms)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title("equal fine-tune budget: AMED vs uniform and random")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _table(rows: list[dict]) -> str:
    lines = [
        "| run | β | best top-1 (%) | latency (ms) | size (KiB) | mean top-1, last samples | mean latency, last samples |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        beta = f"{r['beta']:g}" if r["method"] == "amed" else "–"
        lines.append(
            f"| {r['name']} | {beta} | {r['best_top1']:.2f} | {r['best_latency_ms']:.4f} | {r['best_size_kib']:.1f} "
            f"| {r['tail_top1']:.2f} | {r['tail_latency_ms']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="compare-out", help="folder for the runs")
    parser.add_argument("--doc", default=None, help="write the results Markdown here")
    parser.add_argument("--plot", default=None, help="write the Pareto plot PNG here (default OUT/pareto.png)")
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--hw", default="scalesim")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--warmup-steps", type=int, default=4)
    parser.add_argument("--batches-per-step", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-subset", type=int, default=4096)
    parser.add_argument("--val-subset", type=int, default=500)
    parser.add_argument("--ema", type=float, default=0.3)
    parser.add_argument("--betas", default="0.1,1,10", help="AMED runs, one per beta (the first run named amed is beta=1)")
    parser.add_argument("--tail", type=int, default=6, help="samples averaged for the 'last samples' columns")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (one torch thread each)")
    args = parser.parse_args(argv)

    out = Path(args.out)
    common = dict(
        model=args.model, hw=args.hw, dataset=args.dataset, steps=args.steps, warmup_steps=args.warmup_steps,
        batches_per_step=args.batches_per_step, batch_size=args.batch_size, train_subset=args.train_subset,
        val_subset=args.val_subset, ema=args.ema, seed=args.seed, baselines=False, threads=1,
    )  # fmt: skip
    betas = [float(b) for b in args.betas.split(",")]
    plan = {"uniform 8": {"method": "uniform-8"}, "uniform 4": {"method": "uniform-4"}, "random": {"method": "random"}}
    for beta in betas:
        plan["amed" if beta == 1.0 else f"amed β={beta:g}"] = {"method": "amed", "beta": beta}
    runs = {name: out / name.replace(" ", "_").replace("β=", "beta") for name in plan}
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        jobs = [pool.submit(_run, name, {**common, **extra, "out": str(runs[name])}) for name, extra in plan.items()]
        for job in jobs:
            name, seconds = job.result()
            print(f"{name}: {seconds:.0f} s", file=sys.stderr)
    wall = time.perf_counter() - started
    rows = [_summary(name, path, args.tail) for name, path in runs.items()]
    plot = Path(args.plot) if args.plot else out / "pareto.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    _plot(plot, runs, rows)
    table = _table(rows)
    command = "python scripts/compare.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = (
        f"Command: `{command}` ({wall / 60:.1f} min wall on {args.jobs} worker(s)).\n\n"
        f"{args.model} on {args.dataset} (train subset {args.train_subset}, validation subset {args.val_subset}), "
        f"hardware `{args.hw}`; every run: {args.warmup_steps} warm-up steps at uniform 8 bit, then {args.steps} "
        f"steps of {args.batches_per_step} batches of {args.batch_size}; EMA γ = {args.ema}, seed {args.seed}.\n\n"
        f"{table}\n"
    )
    print(text)
    if args.doc:
        Path(args.doc).write_text(text)
    (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
