"""The ``amed`` command line (python-fire).

Each command is a method of :class:`Amed` that imports its implementation when it runs, so
``amed simulate`` and ``amed hw`` never import torch.
"""

from __future__ import annotations

import json as _json
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence

from amed.errors import AmedError, ConfigError


def _text(value: Any, option: str) -> str:
    """Fire turns `--hw 12` into an int and `--out a,b` into a tuple: take them back as text."""
    if value is None or isinstance(value, bool) or isinstance(value, (list, tuple, dict)):
        raise ConfigError(f"--{option} expects a name or a path, found {value!r}", field=option)
    return str(value)


def _flag(value: Any, option: str) -> bool:
    """Fire gives `--json` as True and `--json=false` as False; accept the usual strings too."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"--{option} expects true or false, found {value!r}", field=option)


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


class Amed:
    """amed: hardware-aware mixed-precision bit allocation with a fast systolic-array simulator."""

    def simulate(
        self,
        topology: str,
        hw: str = "scalesim",
        compat: str = "scalesim-v3",
        out: Optional[str] = None,
        json: bool = False,
        gemm: bool = False,
        bits: Optional[Any] = None,
    ) -> None:
        """Simulate a network on an accelerator and print the result.

        Args:
            topology: SCALE-Sim topology CSV (conv form, or GEMM form with --gemm).
            hw: shipped config name (see `amed hw`) or a .toml / SCALE-Sim .cfg path.
            compat: scalesim-v3 (PyPI 3.0.0, default), scalesim-v2 (PyPI 2.0.2) or fixed.
            out: folder to write COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and
                DETAILED_ACCESS_REPORT.csv into (SCALE-Sim's format).
            json: print a JSON summary (totals and per-layer records) instead of a table.
            gemm: read the topology as `name, M, N, K,` rows.
            bits: simulate at these bits and print latency (ms), size and energy: a width for
                every layer (`--bits 4`) or a JSON file {"layer name": [w_bits, a_bits]}.
                Without it the run is at the config's native word size.
        """
        from amed import simcore

        topology_path = Path(_text(topology, "topology"))
        compat = _text(compat, "compat")
        if compat not in simcore.COMPAT_MODES:
            modes = ", ".join(simcore.COMPAT_MODES)
            raise ConfigError(f"unknown --compat {compat!r}: choose one of {modes}", field="compat")
        net = simcore.Topology.from_csv(topology_path, gemm=_flag(gemm, "gemm"))
        if bits is not None:
            self._simulate_bits(net, _text(hw, "hw"), compat, bits, out, _flag(json, "json"))
            return
        report = simcore.simulate(net, _text(hw, "hw"), compat=compat)
        if out is not None:
            report.to_csv(Path(_text(out, "out")))
        if _flag(json, "json"):
            print(_json.dumps(report.to_dict(), indent=2))
            return
        header = ["layer", "cycles", "stalls", "util %", "DRAM ifmap", "DRAM filter", "DRAM ofmap"]
        rows = [
            [
                r.name,
                r.total_cycles,
                r.stall_cycles,
                f"{r.overall_util:.2f}",
                r.dram_ifmap_reads,
                r.dram_filter_reads,
                r.dram_ofmap_writes,
            ]
            for r in report.layers
        ]
        print(f"{report.topology} on {report.hw} ({report.compat}); DRAM traffic in words")
        print(_table(header, rows))
        print(
            f"total: {report.total_cycles} cycles, {report.stall_cycles} stall cycles, "
            f"{report.macs} MACs, {report.dram_words} DRAM words over {len(report)} layers"
        )
        if out is not None:
            print(f"wrote COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv, DETAILED_ACCESS_REPORT.csv to {out}")

    @staticmethod
    def _simulate_bits(net: Any, hw: str, compat: str, bits: Any, out: Optional[str], as_json: bool) -> None:
        from amed import costs, simcore

        report = simcore.simulate_mixed(net, hw, costs.read_bits(bits, net), compat=compat)
        if out is not None:
            report.to_csv(Path(_text(out, "out")), compat=compat)
        if as_json:
            print(_json.dumps(costs.summary(report), indent=2))
            return
        header, rows = costs.table_rows(report)
        print(f"{report.topology} on {report.hw} ({compat}) at per-layer bits")
        print(_table(header, rows))
        print(costs.totals_line(report))

    def hw(self, name: Optional[str] = None) -> None:
        """List the shipped hardware configs, or show one (a shipped name or a file path).

        Args:
            name: config to show; omit to list them all.
        """
        from amed import hw as hw_configs

        if name is None:
            rows = []
            for config_name, path in hw_configs.list_configs().items():
                c = hw_configs.load(path)
                rows.append(
                    [
                        config_name,
                        f"{c.array_rows}x{c.array_cols}",
                        c.dataflow,
                        f"{c.ifmap_sram_kb}/{c.filter_sram_kb}/{c.ofmap_sram_kb}",
                        f"{c.ifmap_bw}/{c.filter_bw}/{c.ofmap_bw}",
                        c.clock_ghz,
                    ]
                )
            header = ["name", "array", "dataflow", "SRAM kB i/f/o", "DRAM words/cycle i/f/o", "GHz"]
            print(_table(header, rows))
            print(f"configs folder: {hw_configs.CONFIG_DIR}; details: amed hw NAME")
            return
        path = hw_configs.config_path(_text(name, "name"))
        config = hw_configs.load(path)
        print(f"# {path}")
        print(config.to_toml(), end="")

    def search(
        self,
        model: str = "resnet20",
        hw: str = "scalesim",
        dataset: Optional[str] = None,
        out: str = "amed-out",
        method: str = "amed",
        beta: float = 1.0,
        bits: Any = "2,3,4,8",
        steps: Optional[int] = None,
        protocol: str = "checkpoint",
        batches_per_step: Optional[int] = None,
        candidate_lr: float = 0.005,
        final_batches: Optional[int] = None,
        final_lr: float = 0.01,
        final_points: int = 3,
        baselines: bool = True,
        ema: float = 0.05,
        temperature: float = 0.3,
        score_init: str = "zeros",
        reward: str = "normalized",
        threshold: Optional[float] = None,
        max_size: Optional[float] = None,
        batch_size: int = 32,
        train_subset: Optional[int] = None,
        val_subset: Optional[int] = 1000,
        test_subset: Optional[int] = 5000,
        weights: Optional[str] = None,
        seed: int = 0,
        threads: int = 1,
        resume: bool = False,
        progress: bool = True,
    ) -> None:
        """Search a per-layer bit allocation with AMED and leave the results in --out.

        Args:
            model: resnet20 (default), resnet18, resnet50 or mobilenet_v2.
            hw: shipped config name (see `amed hw`) or a .toml / SCALE-Sim .cfg path.
            dataset: fashion-mnist[:DIR], digits, cifar10:ROOT, cifar100:ROOT or imagefolder:PATH;
                default Fashion-MNIST when the Debian package is installed, else digits.
            out: output folder (history.jsonl, search.json, allocation.json, best.pt, plots, reports/).
            method: amed, random, or uniform-B (e.g. uniform-4): the same loop with another proposer.
            beta: latency weight of the objective; higher favours faster allocations.
            bits: candidate bitwidths, e.g. 2,3,4,8.
            steps: number of sampled allocations (default per model: resnet20 64, resnet18 and
                mobilenet_v2 48, resnet50 32).
            protocol: checkpoint (every candidate fine-tuned from the converged start) or
                continued (the paper's: one model trained across the samples).
            batches_per_step: fine-tune batches per candidate (default per model: 16, 12, 12, 8).
            candidate_lr: SGD learning rate of a candidate's fine-tune.
            final_batches: fine-tune batches of every model in the final stage (chosen, Pareto
                points, uniform baselines), each then evaluated once on the test split (default
                per model: 256, 128, 128, 64).
            final_lr: peak SGD learning rate of the final stage (cosine decay).
            final_points: models of the search's Pareto front given the final budget, chosen included.
            baselines: also train uniform baselines (every bit choice and 8) in the final stage.
            ema: EMA weight gamma of the score update (Eq. 7), in (0, 1].
            temperature: softmax temperature T of the sampler (Algorithm 1).
            score_init: zeros or uniform (U(0,1), as released): the sampler's initial scores.
            reward: normalized (advantage over earlier samples) or log10 (the paper's Eq. 8).
            threshold: accuracy fraction (e.g. 0.85) below which the objective is penalised.
            max_size: model-size cap in bytes; larger proposals are skipped without training.
            batch_size: training batch size.
            train_subset: training images used (`none` for all).
            val_subset: search-validation images used (`none` for all).
            test_subset: test images used by the final stage (`none` for all).
            weights: start checkpoint: omitted, the converged model of `amed pretrain` (trained and
                cached on first use); `none` for random weights; `torchvision`; or a path.
            seed: seeds everything; the same seed gives the same result.
            threads: torch threads (1 keeps results identical across machines).
            resume: continue the search in --out after an interruption.
            progress: show progress bars.
        """
        from amed.search import search

        print(
            search(
                model=_text(model, "model"), hw=_text(hw, "hw"), dataset=dataset, out=_text(out, "out"),
                method=_text(method, "method"), beta=beta, bits=bits, steps=steps, protocol=protocol,
                batches_per_step=batches_per_step, candidate_lr=candidate_lr, final_batches=final_batches,
                final_lr=final_lr, final_points=final_points, baselines=_flag(baselines, "baselines"), ema=ema,
                temperature=temperature, score_init=score_init, reward=reward, threshold=threshold,
                max_size=max_size, batch_size=batch_size, train_subset=train_subset, val_subset=val_subset,
                test_subset=test_subset, weights=weights, seed=seed, threads=threads,
                resume=_flag(resume, "resume"), progress=_flag(progress, "progress"),
            )  # fmt: skip
        )

    def pretrain(
        self,
        model: str = "resnet20",
        dataset: Optional[str] = None,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        """Train (or find in the cache) the converged 8-bit start every search fine-tunes from.

        FP32 training with early stopping on the search-validation split, then an 8-bit LSQ
        fine-tune, by the recipe of amed.pretrain.recipe_for; the result is cached under
        $AMED_CACHE (default: the user cache folder) and reused by later calls.

        Args:
            model: resnet20 (default), resnet18, resnet50 or mobilenet_v2.
            dataset: fashion-mnist[:DIR], digits, cifar10:ROOT, cifar100:ROOT or imagefolder:PATH;
                default Fashion-MNIST when the Debian package is installed, else digits.
            seed: seeds the initialisation, the training subset and the batch order.
            progress: show progress bars.
        """
        from amed.pretrain import converged_checkpoint
        from amed.search.config import default_dataset

        dataset = default_dataset() if dataset is None else _text(dataset, "dataset")
        path = converged_checkpoint(
            _text(model, "model"), dataset, seed=int(seed), progress=_flag(progress, "progress")
        )
        metrics = _json.loads((path.parent / "meta.json").read_text())["metrics"]
        fp32, int8 = metrics["fp32"], metrics["int8"]
        print(f"checkpoint: {path}")
        print(
            f"{model} on {dataset} (seed {seed}), search-validation top-1: FP32 {fp32['val_top1']:.2f}% "
            f"after {fp32['epochs_run']} epochs, 8-bit LSQ {int8['val_top1']:.2f}% after "
            f"{int8['epochs_run']} epochs; trained in {metrics['wall_s'] / 60:.1f} min"
        )

    def finetune(
        self,
        model: str = "resnet20",
        dataset: str = "fashion-mnist",
        bits: int = 8,
        epochs: int = 1,
        out: str = "finetune-out",
        weights: Optional[str] = None,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
        schedule: str = "cosine",
        batch_size: int = 128,
        train_subset: Optional[int] = None,
        val_subset: Optional[int] = None,
        workers: int = 0,
        seed: int = 0,
        threads: Optional[int] = None,
        device: str = "cpu",
        progress: bool = True,
    ) -> None:
        """Fine-tune a model with uniform LSQ quantization; writes model.pt and metrics.json to --out.

        Args:
            model: resnet20 (default), resnet18, resnet50 or mobilenet_v2.
            dataset: fashion-mnist[:DIR], digits, cifar10:ROOT, cifar100:ROOT or imagefolder:PATH.
            bits: weight and activation bits of every layer but the first conv and the classifier
                (which stay at 8), 2..8; 32 trains in full precision.
            epochs: training epochs.
            out: output folder.
            weights: `torchvision` (local torch cache only), a checkpoint path, or none.
            lr: initial SGD learning rate (momentum 0.9).
            weight_decay: SGD weight decay (not applied to the LSQ step sizes).
            schedule: cosine, step (x0.1 every 30 epochs) or constant.
            batch_size: training batch size.
            train_subset: training images used (`none` for all).
            val_subset: validation images used (`none` for all).
            workers: data-loading worker processes.
            seed: seeds everything; the same seed gives the same result.
            threads: torch threads (default: torch's choice).
            device: cpu, cuda, ...
            progress: show progress bars.
        """
        from amed.train import run_finetune

        metrics = run_finetune(
            model=_text(model, "model"), dataset=_text(dataset, "dataset"), bits=bits, epochs=epochs,
            out=_text(out, "out"), weights=weights, lr=lr, weight_decay=weight_decay,
            schedule=_text(schedule, "schedule"), batch_size=batch_size, train_subset=train_subset,
            val_subset=val_subset, workers=workers, seed=seed, threads=threads,
            device=_text(device, "device"), progress=_flag(progress, "progress"),
        )  # fmt: skip
        final, test = metrics["final"], metrics["test"]
        print(
            f"{model} on {dataset}, {metrics['args']['bits']} bits, {len(metrics['epochs'])} epochs: "
            f"val top-1 {final['top1']:.2f}%, top-5 {final['top5']:.2f}%, CE {final['loss']:.4f}; "
            f"test top-1 {test['top1']:.2f}%"
        )
        print(f"wrote {Path(str(out)) / 'model.pt'} and {Path(str(out)) / 'metrics.json'}")

    def compare(
        self,
        out: str = "compare-out",
        methods: str = "amed,random",
        betas: str = "1",
        seeds: str = "0,1",
        jobs: int = 1,
        model: str = "resnet20",
        hw: str = "scalesim",
        dataset: Optional[str] = None,
        steps: Optional[int] = None,
        options: Optional[str] = None,
    ) -> None:
        """Run AMED and random search over betas and seeds, then test and tabulate the results.

        Rerunning the same command skips finished runs and resumes interrupted ones.

        Args:
            out: study folder: one run folder per method, beta and seed, plus compare.json,
                compare.md and compare.png.
            methods: proposers to compare, from amed and random.
            betas: latency weights, e.g. 0.5,1,2.
            seeds: at least two distinct seeds (the paired test needs them), e.g. 0,1,2.
            jobs: searches run at once, each in its own process on one thread.
            model: resnet20 (default), resnet18, resnet50 or mobilenet_v2.
            hw: shipped config name (see `amed hw`) or a .toml / SCALE-Sim .cfg path.
            dataset: as for `amed search`; default Fashion-MNIST when installed, else digits.
            steps: search steps per run (default: the search's).
            options: JSON object of further `amed search` settings for every run,
                e.g. '{"batches_per_step": 16, "bits": [2, 4, 8]}'.
        """
        from amed.compare import compare
        from amed.compare.table import render_table

        summary = compare(
            out=out, methods=methods, betas=betas, seeds=seeds, jobs=jobs, model=model, hw=hw,
            dataset=dataset, steps=steps, options=options,
        )  # fmt: skip
        print(Path(str(out)) / "compare.md")
        print(render_table(summary))
        if summary["failed"]:
            names = ", ".join(summary["failed"])
            raise AmedError(
                f"{len(summary['failed'])} run(s) failed: {names}; tracebacks in "
                f"{Path(str(out)) / 'compare.json'}; rerun the same command to retry them"
            )

    def report(self, out: str = "amed-out") -> None:
        """Re-render a search's plots, pareto.csv and summary table from its output folder.

        Args:
            out: the --out folder of `amed search`.
        """
        from amed.report import render

        print(render(Path(_text(out, "out"))))


# What `pip install '.[torch]'` adds: search, finetune and report need it, simulate and hw do not.
_TORCH_EXTRA = ("torch", "torchvision", "numpy", "sklearn", "matplotlib", "scipy", "platformdirs")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `amed` command; returns the exit status."""
    import fire

    try:
        fire.Fire(Amed, command=list(sys.argv[1:] if argv is None else argv), name="amed")
    except AmedError as error:
        print(f"amed: error: {error}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in _TORCH_EXTRA:
            raise
        print(
            f"amed: error: this command needs the '{error.name}' package of the torch extra; "
            "install it with: pip install 'amed[torch]' (from a checkout: pip install '.[torch]')",
            file=sys.stderr,
        )
        return 1
    except fire.core.FireExit as exit_:
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
