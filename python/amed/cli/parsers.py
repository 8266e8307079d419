"""Every command's flags, typed and documented: argparse checks them all before a command runs.

`amed search` takes one flag per `SearchConfig` field (`SEARCH_OPTIONS`); the flags a user does not
give keep no value here, so a new search takes the config's defaults and a resumed one the
settings it was started with.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import Any, Callable, NoReturn

from amed.search.config import (
    ACT_INITS, CANDIDATE_SCHEDULES, CHOICE_RULES, METHODS, MODEL_BUDGETS, PROTOCOLS, REDUNDANT_WIDTHS, REWARDS,
    SCORE_INITS, SCORE_UPDATES, SearchConfig,
)

from .options import bits_list, boolean, integer, number, optional, text

__all__ = ["SEARCH_OPTIONS", "build_parser"]

DATASETS = "fashion-mnist[:DIR], digits, cifar10:ROOT, cifar100:ROOT or imagefolder:PATH"
MODELS = "resnet20, resnet18, resnet50 or mobilenet_v2"
HW = "a shipped config name (see `amed hw`) or a .toml / SCALE-Sim .cfg path"
DEVICES = "auto, cpu, cuda or cuda:N"
PER_MODEL = "default per model: resnet20 {}, resnet18 and mobilenet_v2 {}, resnet50 {}"

#: SearchConfig field -> (converter, help). Every field is a flag; the config checks ranges.
SEARCH_OPTIONS: dict[str, tuple[Callable[[str], Any], str]] = {
    "model": (text, f"network: {MODELS}"),
    "hw": (text, f"accelerator: {HW}"),
    "dataset": (text, f"{DATASETS}; default Fashion-MNIST when its Debian package is installed, else digits"),
    "out": (text, "output folder (history.jsonl, search.json, allocation.json, best.pt, plots, reports/)"),
    "method": (text, f"proposer: {', '.join(METHODS)} (e.g. uniform-4): the same loop and budgets"),
    "bits": (bits_list, "candidate bit widths, e.g. 2,3,4,8 (each 2..8)"),
    "steps": (integer(0), "allocations sampled; " + PER_MODEL.format(64, 48, 32)),
    "protocol": (text, f"{' or '.join(PROTOCOLS)}: every candidate fine-tuned from the converged start, or "
                       "the paper's one model trained across the samples"),  # fmt: skip
    "batches_per_step": (integer(1), "fine-tune batches per candidate; " + PER_MODEL.format(16, 12, 8)),
    "candidate_lr": (number, "SGD learning rate of a candidate's fine-tune (its peak under a cosine schedule)"),
    "candidate_schedule": (text, f"{' or '.join(CANDIDATE_SCHEDULES)}: a candidate's learning rate held, or decayed "
                                 "to 0 like the final stage's (docs/search.md)"),
    "final_batches": (integer(0), "fine-tune batches of every model of the final stage (chosen, Pareto points, "
                                  "uniform baselines), each then tested once; " + PER_MODEL.format(256, 128, 64)),  # fmt: skip
    "final_lr": (number, "peak SGD learning rate of the final stage (cosine decay)"),
    "max_grad_norm": (optional(number), "clip every fine-tune's gradient (candidates and final stage) to this "
                                        "global L2 norm (default: none; docs/search.md)"),
    "act_init": (text, f"{' or '.join(ACT_INITS)}: an activation step, when a layer's bits change, is the "
                       "MSE-optimal one on the first batch, or the paper's Eq. 9 (docs/search.md)"),
    "final_points": (integer(0), "models of the search's Pareto front given the final budget, chosen included"),
    "baselines": (boolean, "also train the uniform baselines (every bit choice and 8) in the final stage"),
    "alpha": (number, "weight of the cross-entropy ratio in the objective"),
    "beta": (number, "weight of the latency ratio in the objective; higher favours faster allocations"),
    "ema": (number, "EMA weight gamma of the score update, in (0, 1]"),
    "temperature": (number, "softmax temperature T of the sampler"),
    "score_init": (text, f"the sampler's initial scores: {' or '.join(SCORE_INITS)} (U(0,1), as released)"),
    "score_update": (text, f"how the scores follow the rewards: {' or '.join(SCORE_UPDATES)} (Eqs. 7-8, or a "
                           "ridge fit to every evaluated sample; docs/sampler.md)"),
    "reward": (text, f"what the sampler is credited: {' or '.join(REWARDS)} (docs/sampler.md)"),
    "threshold": (optional(number), "accuracy fraction (e.g. 0.85) below which the objective is penalised"),
    "penalty": (number, "objective penalty per unit of accuracy below --threshold (log10 units)"),
    "max_size": (optional(number), "model-size cap in bytes; larger proposals are drawn again, never trained"),
    "max_latency": (optional(number), "latency target in ms on --hw; slower proposals are drawn again, never trained"),
    "choose": (text, f"{' or '.join(CHOICE_RULES)}: the chosen model is the sample with the highest objective, or "
                     "the most accurate one on search-validation (within --max-latency, if given); a resumed "
                     "search may change it"),
    "redundant_widths": (text, f"{', '.join(REDUNDANT_WIDTHS)}: without --max-size, a layer's width that a wider "
                               "one runs no slower on --hw is trained at that width, never proposed, or kept"),
    "infeasible_penalty": (optional(number), "reward of an over-cap proposal (default: masked out, Eq. 8)"),
    "weight_decay": (number, "SGD weight decay of every fine-tune (not on the LSQ step sizes)"),
    "batch_size": (integer(1), "training batch size"),
    "train_subset": (optional(integer(1)), "training images used (none: all)"),
    "val_subset": (optional(integer(1)), "search-validation images used (none: all)"),
    "test_subset": (optional(integer(1)), "test images used by the final stage (none: all)"),
    "weights": (text, "start: omitted, the converged model of `amed pretrain` (trained and cached on first "
                      "use); none (random weights); torchvision (local torch cache, never downloaded); or a path"),  # fmt: skip
    "compat": (text, "simulator compatibility: scalesim-v3, scalesim-v2 or fixed"),
    "seed": (integer(0), "seeds everything; the same seed gives the same result"),
    "threads": (integer(1), "torch threads (1 keeps results identical from run to run)"),
    "device": (text, f"{DEVICES}; auto is CUDA when torch sees a GPU (docs/scale.md)"),
}


class Parser(argparse.ArgumentParser):
    """argparse, with one-line errors (exit 2) that suggest the nearest flag for a typo, reported by
    the command the flag was given to."""

    commands: dict[str, "Parser"] = {}

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self.commands.get(getattr(parsed, "command", None), self).error(
                f"unrecognized arguments: {' '.join(extras)}"
            )
        return parsed

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments"):
            flags = [s for a in self._actions for s in a.option_strings if s.startswith("--")]
            for word in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(word.split("=")[0], flags, n=1, cutoff=0.75)
                if close:
                    message += f" (did you mean {close[0]}?)"
                    break
        print(f"amed: error: {message}; see `{self.prog} --help`", file=sys.stderr)
        sys.exit(2)


def _field_default(name: str) -> str:
    field = SearchConfig.__dataclass_fields__[name]
    value = field.default
    if name in ("steps", "batches_per_step", "final_batches") or name == "dataset":
        return ""
    if isinstance(value, tuple):
        value = ",".join(map(str, value))
    return f" (default: {'omitted' if value is None else value})"


_METAVARS = {"integer": "N", "number": "X", "bits_list": "B,B,...", "optional_integer": "N|none",
             "optional_number": "X|none"}  # fmt: skip


def _metavar(name: str, convert: Callable) -> str:
    return _METAVARS.get(convert.__name__, name.upper().replace("_", "-"))


def _switch(parser: argparse.ArgumentParser, flag: str, help_: str, default: Any = False) -> None:
    """A boolean flag: ``--flag`` alone means true; ``--flag false`` turns it off."""
    parser.add_argument(flag, nargs="?", const=True, default=default, type=boolean, metavar="BOOL", help=help_)


def _simulate(sub, common: argparse.ArgumentParser) -> None:
    from amed.simcore import COMPAT_MODES

    p = _command(sub, common, "simulate", help="simulate a network on an accelerator and print (or write) the reports",
                       description="Simulate a network on an accelerator: per-layer cycles, stalls, utilisation "
                                   "and DRAM traffic, or latency, size and energy at given bits.")  # fmt: skip
    p.add_argument("topology_arg", nargs="?", metavar="TOPOLOGY", help="same as --topology")
    p.add_argument("--topology", type=text, help="a shipped topology name (see `amed topologies`) or a SCALE-Sim "
                                                 "topology CSV (conv form, or GEMM form with --gemm)")  # fmt: skip
    p.add_argument("--hw", type=text, default="scalesim", help=HW + " (default: scalesim)")
    p.add_argument("--compat", choices=COMPAT_MODES, default="scalesim-v3",
                   help="scalesim-v3 (PyPI 3.0.0, default), scalesim-v2 (PyPI 2.0.2) or fixed")
    p.add_argument("--out", type=text, help="folder for COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and "
                                            "DETAILED_ACCESS_REPORT.csv (SCALE-Sim's format)")  # fmt: skip
    _switch(p, "--json", "print a JSON summary (totals and per-layer records) instead of a table")
    _switch(p, "--gemm", "read the topology as `name, M, N, K,` rows")
    p.add_argument("--bits", type=text, help="simulate at these bits and print latency (ms), size and energy: "
                   "one width for every layer (--bits 4) or a JSON file {\"layer\": [w_bits, a_bits]}; "
                   "without it the run is at the config's native word size")  # fmt: skip
    _switch(p, "--progress", "show a progress bar once a simulation runs longer than 2 s (default: true)", default=True)


def _search(sub, common: argparse.ArgumentParser) -> None:
    p = _command(sub, common, "search", help="search a per-layer bit allocation (AMED) and leave the results in --out",
                       description="Search a per-layer bit allocation with AMED. Every flag is a setting of "
                                   "amed.search.SearchConfig; see docs/search.md.")  # fmt: skip
    for name, (convert, help_) in SEARCH_OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        if convert is boolean:
            p.add_argument(flag, dest=name, nargs="?", const=True, type=boolean, metavar="BOOL",
                           default=argparse.SUPPRESS, help=help_ + _field_default(name))  # fmt: skip
        else:
            p.add_argument(flag, dest=name, type=convert, default=argparse.SUPPRESS, metavar=_metavar(name, convert),
                           help=help_ + _field_default(name))  # fmt: skip
    _switch(p, "--resume", "continue the search in --out (its settings are kept; only --steps may grow)")
    _switch(p, "--progress", "show progress bars (default: true)", default=True)


def _model_and_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=MODEL_BUDGETS, default="resnet20", help=f"{MODELS} (default: resnet20)")
    p.add_argument("--dataset", type=text, help=f"{DATASETS}; default Fashion-MNIST when installed, else digits")


def _device_and_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", type=text, default="auto", help=f"{DEVICES} (default: auto); under torchrun each "
                                                               "process trains a shard of every batch")  # fmt: skip
    _switch(p, "--progress", "show progress bars (default: true)", default=True)


def _pretrain(sub, common: argparse.ArgumentParser) -> None:
    p = _command(sub, common, "pretrain", help="train (or find in the cache) the converged 8-bit start of every search",
                       description="FP32 training with early stopping on the search-validation split, then an "
                                   "8-bit LSQ fine-tune (amed.pretrain.recipe_for); cached under $AMED_CACHE "
                                   "(default: the user cache folder) and reused by later calls.")  # fmt: skip
    _model_and_data(p)
    p.add_argument("--seed", type=integer(0), default=0, help="seeds the initialisation, subset and batch order")
    _device_and_progress(p)


def _finetune(sub, common: argparse.ArgumentParser) -> None:
    p = _command(sub, common, "finetune", help="fine-tune a model with uniform LSQ bits; writes model.pt and metrics.json",
                       description="Fine-tune a model with uniform LSQ quantization (the first conv and the "
                                   "classifier stay at 8 bits) and test it once.")  # fmt: skip
    _model_and_data(p)
    p.add_argument("--bits", type=integer(1), help="weight and activation bits of every searchable layer, 2..8; "
                   "32 trains in full precision (default: a quantized --weights keeps its allocation, else 8)")
    p.add_argument("--epochs", type=integer(0), default=1, help="training epochs (default: 1)")
    p.add_argument("--out", type=text, default="finetune-out", help="output folder (default: finetune-out)")
    p.add_argument("--weights", type=text, help="torchvision (local torch cache only), a checkpoint path "
                                                "(a search's best.pt too), or none (default)")  # fmt: skip
    p.add_argument("--lr", type=number, default=0.01, help="initial SGD learning rate, momentum 0.9 (default: 0.01)")
    p.add_argument("--weight-decay", type=number, default=1e-4, help="SGD weight decay (default: 1e-4)")
    p.add_argument("--act-init", choices=ACT_INITS, default="mse",
                   help="activation step initialisation: the MSE-optimal step on the first batch, or the paper's "
                        "Eq. 9 (default: mse; docs/search.md)")
    p.add_argument("--schedule", choices=("cosine", "step", "constant"), default="cosine",
                   help="cosine, step (x0.1 every 30 epochs) or constant (default: cosine)")
    p.add_argument("--batch-size", type=integer(1), default=128, help="training batch size (default: 128)")
    p.add_argument("--train-subset", type=optional(integer(1)), help="training images used (default: all)")
    p.add_argument("--val-subset", type=optional(integer(1)), help="validation images used (default: all)")
    p.add_argument("--workers", type=integer(0), default=0, help="data-loading worker processes (default: 0)")
    p.add_argument("--seed", type=integer(0), default=0, help="seeds everything (default: 0)")
    p.add_argument("--threads", type=optional(integer(1)), help="torch threads (default: torch's choice)")
    _device_and_progress(p)


def _compare(sub, common: argparse.ArgumentParser) -> None:
    p = _command(sub, common, "compare", help="AMED against random search over betas and seeds, with statistics",
                       description="Run AMED and random search at an equal budget over betas and seeds, "
                                   "test the results and write compare.json, compare.md and compare.png. "
                                   "Rerunning the same command skips finished runs and resumes the others.")  # fmt: skip
    p.add_argument("--out", type=text, default="compare-out", help="study folder (default: compare-out)")
    p.add_argument("--methods", type=text, default="amed,random", help="from amed, random (default: amed,random)")
    p.add_argument("--betas", type=text, default="1", help="latency weights, e.g. 0.5,1,2 (default: 1)")
    p.add_argument("--seeds", type=text, default="0,1", help="at least two distinct seeds (default: 0,1)")
    p.add_argument("--jobs", type=integer(1), default=1, help="searches at once, one thread each (default: 1)")
    p.add_argument("--model", choices=MODEL_BUDGETS, default="resnet20", help=f"{MODELS} (default: resnet20)")
    p.add_argument("--hw", type=text, default="scalesim", help=HW + " (default: scalesim)")
    p.add_argument("--dataset", type=text, help="as for `amed search`")
    p.add_argument("--steps", type=optional(integer(0)), help="search steps per run (default: the search's)")
    p.add_argument("--device", type=text, help=f"{DEVICES} of every run (default: the search's, auto)")
    p.add_argument("--options", type=text, help="JSON object of further `amed search` settings for every run, "
                                                "e.g. '{\"batches_per_step\": 16, \"device\": \"cuda\"}'")  # fmt: skip
    p.add_argument("--ray", nargs="?", const="local", type=text, metavar="ADDRESS",
                   help="run each search as a Ray task: alone, a Ray on this machine; auto, HOST:PORT or "
                        "ray://HOST:PORT joins a cluster (needs the ray extra: pip install 'amed[ray]')")  # fmt: skip
    p.add_argument("--ray-cpus", type=number, default=1.0, help="CPUs of one run under --ray (default: 1)")
    p.add_argument("--ray-gpus", type=number, default=0.0, help="GPUs of one run under --ray, may be fractional "
                                                                "(default: 0)")  # fmt: skip
    p.add_argument("--ray-retries", type=integer(0), default=3, help="restarts of a run whose Ray worker died "
                                                                     "(default: 3)")  # fmt: skip


def _command(sub, common: argparse.ArgumentParser, name: str, **kwargs) -> Parser:
    return sub.add_parser(name, parents=[common], allow_abbrev=False, **kwargs)


def _hw(sub, common: argparse.ArgumentParser) -> None:
    p = _command(sub, common, "hw", help="list the shipped hardware configs, or show one")
    p.add_argument("name", nargs="?", type=text, help="a shipped name or a file path; omit to list them all")


def _topologies(sub, common: argparse.ArgumentParser) -> None:
    _command(sub, common, "topologies", help="list the shipped network topologies (usable by name)")


def _report(sub, common: argparse.ArgumentParser) -> None:
    p = _command(sub, common, "report", help="re-render a search's plots, pareto.csv and summary from its folder")
    p.add_argument("out_arg", nargs="?", metavar="OUT", help="same as --out")
    p.add_argument("--out", type=text, help="the --out folder of `amed search` (default: amed-out)")


_BUILDERS = (_simulate, _hw, _topologies, _search, _pretrain, _finetune, _compare, _report)


def build_parser() -> Parser:
    """The `amed` parser; each command's ``run`` is its function in `amed.cli.commands`."""
    from . import commands

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    parser = Parser(prog="amed", allow_abbrev=False, parents=[common],
                    description="amed: hardware-aware mixed-precision bit allocation with a fast systolic-array "
                                "simulator. `amed COMMAND --help` describes each command.")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for build in _BUILDERS:
        build(sub, common)
    for name, command in sub.choices.items():
        command.set_defaults(run=getattr(commands, name))
    parser.commands = dict(sub.choices)
    return parser
