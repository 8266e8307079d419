"""Run the real SCALE-Sim (whichever release this interpreter has installed) without traces.

Usage, inside a peer venv:
    python run_scalesim.py CFG TOPOLOGY OUTDIR [--gemm]

Leaves COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv in OUTDIR and
prints the release and the CPU seconds the simulation took. Release 3 needs a layout file even
with custom layouts off; a header-only one is written next to the outputs.
"""

import argparse
import contextlib
import importlib.metadata
import inspect
import io
import pathlib
import shutil
import tempfile
import time

from scalesim.scale_sim import scalesim

REPORTS = ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cfg")
    parser.add_argument("topology")
    parser.add_argument("outdir")
    parser.add_argument("--gemm", action="store_true", help="topology rows are 'name, M, N, K,'")
    args = parser.parse_args()

    out = pathlib.Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    kwargs = dict(
        save_disk_space=True,
        verbose=False,
        config=str(pathlib.Path(args.cfg).resolve()),
        topology=str(pathlib.Path(args.topology).resolve()),
        input_type_gemm=args.gemm,
    )
    with tempfile.TemporaryDirectory() as work:
        if "layout" in inspect.signature(scalesim.__init__).parameters:
            layout = pathlib.Path(work) / "layout.csv"
            layout.write_text("Layer name, unused,\n")
            kwargs["layout"] = str(layout)
        start = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(**kwargs)
            sim.run_scale(top_path=work)
        seconds = time.process_time() - start
        (run_dir,) = [p for p in pathlib.Path(work).iterdir() if p.is_dir()]
        for name in REPORTS:
            shutil.copy(run_dir / name, out / name)
    print(f"scalesim {importlib.metadata.version('scalesim')} cpu_s={seconds:.3f}")


if __name__ == "__main__":
    main()
