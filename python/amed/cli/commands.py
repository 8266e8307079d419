"""What each `amed` command does, given its parsed and typed flags (`amed.cli.parsers`).

Each command imports its implementation when it runs, so `amed simulate` and `amed hw` never
import torch. Settings are checked completely before any file is made or any training starts.
"""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path
from typing import Any, List, Optional, Sequence

from amed.errors import AmedError, ConfigError

__all__ = ["compare", "finetune", "hw", "pretrain", "report", "search", "simulate", "topologies"]


def _table(header: Sequence[str], rows: List[Sequence[Any]]) -> str:
    """Right-aligned columns (the first left-aligned) with a rule under the header."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        return "  ".join([first] + rest).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def _one_of(positional: Optional[str], flag: Optional[str], name: str, default: Optional[str] = None) -> str:
    """A value that may come as the command's positional argument or as --name, not both."""
    if positional is not None and flag is not None and positional != flag:
        raise ConfigError(f"give {name.upper()} once: as an argument or as --{name}, not both", field=name)
    value = positional if positional is not None else flag if flag is not None else default
    if value is None:
        raise ConfigError(f"--{name} is required", field=name)
    return value


def simulate(args: Namespace) -> None:
    from amed import simcore
    from amed.shipped import resolve_topology

    topology = resolve_topology(_one_of(args.topology_arg, args.topology, "topology"))
    net = simcore.Topology.from_csv(topology, gemm=args.gemm)
    if args.bits is not None:
        _simulate_bits(net, args)
        return
    result = simcore.simulate(net, args.hw, compat=args.compat, progress=args.progress)
    if args.out is not None:
        result.to_csv(Path(args.out))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    header = ["layer", "cycles", "stalls", "util %", "DRAM ifmap", "DRAM filter", "DRAM ofmap"]
    rows = [
        [r.name, r.total_cycles, r.stall_cycles, f"{r.overall_util:.2f}", r.dram_ifmap_reads,
         r.dram_filter_reads, r.dram_ofmap_writes]
        for r in result.layers
    ]  # fmt: skip
    print(f"{result.topology} on {result.hw} ({result.compat}); DRAM traffic in words")
    print(_table(header, rows))
    print(
        f"total: {result.total_cycles} cycles, {result.stall_cycles} stall cycles, "
        f"{result.macs} MACs, {result.dram_words} DRAM words over {len(result)} layers"
    )
    if args.out is not None:
        print(f"wrote COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv, DETAILED_ACCESS_REPORT.csv to {args.out}")


def _simulate_bits(net: Any, args: Namespace) -> None:
    from amed import costs, simcore

    result = simcore.simulate_mixed(net, args.hw, costs.read_bits(args.bits, net), compat=args.compat,
                                    progress=args.progress)  # fmt: skip
    if args.out is not None:
        result.to_csv(Path(args.out), compat=args.compat)
    if args.json:
        print(json.dumps(costs.summary(result), indent=2))
        return
    header, rows = costs.table_rows(result)
    print(f"{result.topology} on {result.hw} ({args.compat}) at per-layer bits")
    print(_table(header, rows))
    print(costs.totals_line(result))


def hw(args: Namespace) -> None:
    from amed import hw as hw_configs

    if args.name is None:
        rows = []
        for config_name, path in hw_configs.list_configs().items():
            c = hw_configs.load(path)
            rows.append([config_name, f"{c.array_rows}x{c.array_cols}", c.dataflow,
                         f"{c.ifmap_sram_kb}/{c.filter_sram_kb}/{c.ofmap_sram_kb}",
                         f"{c.ifmap_bw}/{c.filter_bw}/{c.ofmap_bw}", c.clock_ghz])  # fmt: skip
        header = ["name", "array", "dataflow", "SRAM kB i/f/o", "DRAM words/cycle i/f/o", "GHz"]
        print(_table(header, rows))
        print(f"configs folder: {hw_configs.CONFIG_DIR}; details: amed hw NAME")
        return
    path = hw_configs.config_path(args.name)
    print(f"# {path}")
    print(hw_configs.load(path).to_toml(), end="")


def topologies(args: Namespace) -> None:
    from amed import simcore
    from amed.shipped import TOPOLOGY_DIR, shipped_topologies

    rows = []
    for name, path in shipped_topologies().items():
        try:
            net = simcore.Topology.from_csv(path)
        except AmedError:  # a GEMM-form file: listed, not summarised
            rows.append([name, path.name, "", ""])
            continue
        rows.append([name, path.name, len(net), f"{sum(layer.macs for layer in net.layers):,}"])
    print(_table(["name", "file", "layers", "MACs"], rows))
    print(f"topologies folder: {TOPOLOGY_DIR}; simulate one: amed simulate NAME --hw scalesim")


def search(args: Namespace) -> None:
    from amed import distributed, report, store
    from amed.cli.parsers import SEARCH_OPTIONS
    from amed.search import configure, run

    options = {name: getattr(args, name) for name in SEARCH_OPTIONS if hasattr(args, name)}
    config = configure(options, resume=args.resume)
    distributed.init(config.device)  # under torchrun rank 0 searches and every rank fine-tunes a shard
    try:
        result = run(config, resume=args.resume, progress=args.progress)
    finally:
        distributed.shutdown()
    if result is None:  # another torchrun process than the first: rank 0 reports
        return
    meta, records = store.load_run(result.out)
    print(report.summary(meta, records) + f"\n\noutputs in {result.out}/")


def pretrain(args: Namespace) -> None:
    from amed import distributed
    from amed.pretrain import converged_checkpoint
    from amed.search.config import default_dataset

    dataset = args.dataset or default_dataset()
    context = distributed.init(args.device)  # under torchrun every process trains a shard of each batch
    try:
        path = converged_checkpoint(args.model, dataset, seed=args.seed, progress=args.progress and context.is_main,
                                    device=context.device)  # fmt: skip
    finally:
        distributed.shutdown()
    if not context.is_main:
        return
    metrics = json.loads((path.parent / "meta.json").read_text())["metrics"]
    fp32, int8 = metrics["fp32"], metrics["int8"]
    print(f"checkpoint: {path}")
    print(
        f"{args.model} on {dataset} (seed {args.seed}), search-validation top-1: FP32 {fp32['val_top1']:.2f}% "
        f"after {fp32['epochs_run']} epochs, 8-bit LSQ {int8['val_top1']:.2f}% after "
        f"{int8['epochs_run']} epochs; trained in {metrics['wall_s'] / 60:.1f} min"
    )


def finetune(args: Namespace) -> None:
    from amed.search.config import default_dataset
    from amed.train import run_finetune

    dataset = args.dataset or default_dataset()
    metrics = run_finetune(
        model=args.model, dataset=dataset, bits=args.bits, epochs=args.epochs, out=args.out,
        weights=args.weights, lr=args.lr, weight_decay=args.weight_decay, act_init=args.act_init,
        schedule=args.schedule, batch_size=args.batch_size, train_subset=args.train_subset,
        val_subset=args.val_subset, workers=args.workers, seed=args.seed, threads=args.threads,
        device=args.device, progress=args.progress,
    )  # fmt: skip
    if not metrics:  # another torchrun process than the first: rank 0 reports
        return
    final, test = metrics["final"], metrics["test"]
    print(
        f"{args.model} on {dataset}, {metrics['args']['bits']} bits, {len(metrics['epochs'])} epochs: "
        f"val top-1 {final['top1']:.2f}%, top-5 {final['top5']:.2f}%, CE {final['loss']:.4f}; "
        f"test top-1 {test['top1']:.2f}%"
    )
    print(f"wrote {Path(args.out) / 'model.pt'} and {Path(args.out) / 'metrics.json'}")


def compare(args: Namespace) -> None:
    from amed.compare import compare as run_study
    from amed.compare.ray_runner import RayOptions
    from amed.compare.table import render_table

    ray = None
    if args.ray is not None:
        address = None if args.ray == "local" else args.ray
        ray = RayOptions(address=address, cpus=args.ray_cpus, gpus=args.ray_gpus, retries=args.ray_retries)
    summary = run_study(
        out=args.out, methods=args.methods, betas=args.betas, seeds=args.seeds, jobs=args.jobs,
        model=args.model, hw=args.hw, dataset=args.dataset, steps=args.steps, options=args.options,
        device=args.device, ray=ray,
    )  # fmt: skip
    print(Path(args.out) / "compare.md")
    print(render_table(summary))
    if summary["failed"]:
        names = ", ".join(summary["failed"])
        raise AmedError(
            f"{len(summary['failed'])} run(s) failed: {names}; tracebacks in "
            f"{Path(args.out) / 'compare.json'}; rerun the same command to retry them"
        )


def report(args: Namespace) -> None:
    from amed.report import render

    print(render(Path(_one_of(args.out_arg, args.out, "out", default="amed-out"))))
