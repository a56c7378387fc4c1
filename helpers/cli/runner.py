"""Run the numbered notebooks headlessly with papermill: ``python -m helpers runner --profile quick``.

Parameters come from :mod:`helpers.workbook.profiles`. Executed copies go to ``outputs/notebooks/``. The console
shows one line per notebook and a live progress line while a model trains (written by the training
loop to the file named by ``FER_PROGRESS_FILE``); the notebooks' own output stays in the executed
copies. A failure names the notebook and the cell that broke, and the run stops there.

``--engine python`` runs the notebooks' code cells in this process instead, with the same parameters
injected after the ``parameters`` cell and the cells' output on the console: for machines without Jupyter
(a GPU server with JAX and a few carried wheels, say). Figures, metrics and models are written the same way.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

from helpers import config
from helpers.workbook.profiles import NOTEBOOKS, PROFILES, defaults, params_for, training_plan

#: Wall-clock minutes of ``make run-all`` for all six notebooks on the 2-core reference CPU, measured with
#: nothing else running (``outputs/metrics/runner_<profile>.json`` records each run's own time).
MEASURED_MINUTES = {"quick": 14}

#: Parameters that choose the data: only notebooks whose parameters cell has them receive them.
DATA_PARAMS = ("dataset", "dataset_path", "label_mode")


def parse_params(text: str | None) -> dict:
    """``"epochs=5 seed=1 augment=strong"`` -> dict, values parsed as Python literals where possible."""
    out: dict = {}
    for item in (text or "").split():
        if "=" not in item:
            raise SystemExit(f"bad parameter {item!r}: use key=value")
        key, value = item.split("=", 1)
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _failed_cell(path: Path) -> str:
    """Index and first line of the cell that raised, read from the executed notebook."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return "unknown cell"
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                src = "".join(cell.get("source", "")).strip().splitlines()
                return f"cell {i} ({src[0] if src else ''!r}): {out.get('ename')}: {out.get('evalue')}"
    return "unknown cell"


def _quiet_kernels() -> None:
    """Keep TensorFlow's C++ and Python INFO/WARNING lines and Jupyter's kernel notices off the console."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    for name in ("papermill", "traitlets", "nbclient", "jupyter_client", "asyncio"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _kernel_manager_logging_to(path: Path) -> type:
    """A Jupyter kernel manager whose kernel writes its own stderr (ipykernel notices, C++ logs) to ``path``."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as log:  # the kernel process keeps its own copy of the descriptor
                kw.setdefault("stderr", log)
                return await super().start_kernel(**kw)

    return LoggedKernelManager


class ProgressLine:
    """Shows the training loop's progress file: one live line on a terminal, else one line per finished epoch."""

    def __init__(self, path: Path, stream=None):
        self.path, self.stream = path, stream or sys.stdout
        self.live = self.stream.isatty()
        self._last, self._stop = "", threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> ProgressLine:
        self.path.unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self.live and self._last:
            self.stream.write("\r" + " " * min(len(self._last) + 4, 160) + "\r")
            self.stream.flush()
        self.path.unlink(missing_ok=True)

    def _poll(self) -> None:
        while not self._stop.wait(1.0):
            try:
                line = self.path.read_text().strip()
            except OSError:
                continue
            if not line or line == self._last:
                continue
            if self.live:
                self.stream.write(f"\r    {line[:150]:<150}")
            elif " done" in line:  # logs (not a terminal): one line per finished epoch
                self.stream.write(f"    {line}\n")
            self.stream.flush()
            self._last = line


def _prepare(name: str, profile: str, extra: dict | None) -> dict:
    """Create the output folders and return the notebook's parameters (an unknown one stops the run)."""
    config.ensure_dirs()
    try:
        params = params_for(name, profile, extra)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    if not any(k in DATA_PARAMS for k in params):
        return params
    own = defaults(name)  # the data choice goes to the notebooks that load data (01, 02); the rest follow 02
    return {k: v for k, v in params.items() if k in own or k not in DATA_PARAMS}


def run_notebook(name: str, profile: str, extra: dict | None = None) -> float:
    """Execute one notebook into outputs/notebooks/; returns seconds taken. Raises SystemExit on failure."""
    import papermill as pm

    params = _prepare(name, profile, extra)
    src = config.NOTEBOOKS_DIR / f"{name}.ipynb"
    dst = config.EXECUTED_DIR / f"{name}.ipynb"
    shown = {k: v for k, v in params.items() if k != "profile"}
    print(f"==> {name}  [profile {profile}]  {shown}", flush=True)
    progress = config.OUTPUTS_DIR / f".progress-{os.getpid()}"
    os.environ[config.PROGRESS_ENV] = str(progress)
    _quiet_kernels()
    t = time.perf_counter()
    try:
        with ProgressLine(progress):
            pm.execute_notebook(
                str(src),
                str(dst),
                parameters=params,
                kernel_name="python3",
                cwd=str(config.NOTEBOOKS_DIR),
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=True,
                kernel_manager_class=_kernel_manager_logging_to(dst.with_suffix(".kernel.log")),
            )
    except pm.PapermillExecutionError as e:
        raise SystemExit(
            f"FAILED: notebook {name}, cell {e.cell_index}: {e.ename}: {e.evalue}\n"
            f"  executed copy with the traceback: {dst}"
        ) from None
    except Exception as e:  # kernel died, missing notebook, ...
        raise SystemExit(f"FAILED: notebook {name}: {e.__class__.__name__}: {e}; {_failed_cell(dst)}") from None
    finally:
        os.environ.pop(config.PROGRESS_ENV, None)
    return time.perf_counter() - t


def run_plain(name: str, profile: str, extra: dict | None = None) -> float:
    """Execute one notebook's code cells in this process, without Jupyter; returns seconds taken.

    Papermill's semantics: the profile's parameters are assigned right after the cell tagged ``parameters``,
    and cells run top to bottom in the notebooks folder; IPython magics are skipped. A failure names the cell
    and stops the run.
    """
    params = _prepare(name, profile, extra)
    print(f"==> {name}  [profile {profile}, engine python]  {params}", flush=True)
    cells = json.loads((config.NOTEBOOKS_DIR / f"{name}.ipynb").read_text())["cells"]
    namespace: dict = {"__name__": "__main__"}
    here, t = Path.cwd(), time.perf_counter()
    os.chdir(config.NOTEBOOKS_DIR)
    try:
        for i, cell in enumerate(cells):
            if cell["cell_type"] != "code":
                continue
            lines = "".join(cell["source"]).splitlines()
            # IPython magics (``%matplotlib inline``) mean nothing outside Jupyter: commented out, as jupytext does
            source = "\n".join(f"# {ln}" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines)
            try:
                exec(compile(source, f"<{name} cell {i}>", "exec"), namespace)
            except Exception as e:
                first = source.strip().splitlines()[0] if source.strip() else ""
                raise SystemExit(f"FAILED: notebook {name}, cell {i} ({first!r}): {e.__class__.__name__}: {e}") from e
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                namespace.update(params)
    finally:
        os.chdir(here)
    return time.perf_counter() - t


def describe_data(dataset: str = "fer2013") -> str:
    """One line saying which data the notebooks will use; a dataset path that points nowhere is fatal here."""
    from helpers.data import ferplus
    from helpers.data.datasets import DatasetError
    from helpers.data.fer2013 import find_source

    try:
        src = ferplus.find_source() if dataset == "ferplus" else find_source()
    except DatasetError as e:
        raise SystemExit(f"error: {e}") from None
    if dataset == "ferplus":
        if src is None:
            raise SystemExit(f"error: no FER+ found. {config.FERPLUS_HINT}")
        return f"data: FER+ from {src} (outputs in {config.OUTPUTS_DIR})"
    if src is not None:
        return f"data: FER-2013 from {src}"
    return (
        "data: FER-2013 NOT FOUND, running on the EMBEDDED SYNTHETIC SAMPLE (results are not FER-2013 results). "
        f"To use the real data put fer2013.csv, fer2013.zip or the fer2013/ image folders in {config.DATA_DIR} "
        f"or set {config.DATASET_ENV}; `make check-data` verifies it."
    )


def describe_prepared() -> str:
    """One line naming the data notebook 02 prepared, for runs of notebooks 03-06 alone."""
    import numpy as np

    from helpers.data.datasets import PREPARED

    path = config.PREPARED_DIR / PREPARED
    if not path.exists():
        return f"data: none prepared yet ({path}): run notebook 02 first (make run NB=02)"
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        name = str(z["name"]) if "name" in z.files else "FER-2013"
    ident = meta.get("identity", {})
    label = config.SYNTHETIC_LABEL.upper() if meta.get("synthetic") else f"{name} from {ident.get('source', '?')}"
    return f"data: prepared by notebook 02 ({label}, profile {meta.get('profile')})"


def describe_plan(profile: str, chosen: list[str], extra: dict | None = None) -> str:
    """What the run will train, for how long, and how long the whole run is expected to take."""
    parts = [
        f"{model} {'by epochs' if minutes is None else f'{minutes:g} min'}"
        for nb, model, minutes in training_plan(profile, extra)
        if any(c.startswith(nb) for c in chosen)
    ]
    budgets = [
        m for nb, _, m in training_plan(profile, extra) if m is not None and any(c.startswith(nb) for c in chosen)
    ]
    line = f"plan: profile {profile}, {len(chosen)} notebook(s); training {', '.join(parts) or 'nothing'}"
    if len(chosen) == len(NOTEBOOKS) and profile in MEASURED_MINUTES and not extra:
        line += f"; about {MEASURED_MINUTES[profile]} min in all on a 2-core CPU"
    elif budgets:
        line += f"; {sum(budgets):g} min of training budgets, plus data, evaluation and kernel start-up"
    return line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers runner", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    ap.add_argument("--only", nargs="*", help="notebook numbers or names to run (default: all six, in order)")
    ap.add_argument("--params", help="extra parameters for every notebook run, e.g. 'epochs=5 seed=1'")
    ap.add_argument(
        "--engine",
        choices=("papermill", "python"),
        default="papermill",
        help="papermill (executed notebooks in outputs/notebooks/) or python (this process, no Jupyter needed)",
    )
    ap.add_argument(
        "--dataset",
        choices=config.DATASETS,
        default="fer2013",
        help="fer2013, or ferplus: notebooks 01-02 load FER+ and 03-06 follow; outputs go to outputs/ferplus/ "
        "unless FER_OUTPUTS is set",
    )
    args = ap.parse_args(argv)
    extra = parse_params(args.params)
    if args.dataset != "fer2013":
        extra = {"dataset": args.dataset, **extra}
        if "FER_OUTPUTS" not in os.environ:
            config.use_outputs(config.OUTPUTS_DIR / args.dataset)
    chosen = [nb for nb in NOTEBOOKS if not args.only or any(nb.startswith(o) for o in args.only)]
    if not chosen:
        raise SystemExit(f"no notebook matches {args.only}; choose from {', '.join(NOTEBOOKS)}")
    loads_data = any(nb.startswith(("01", "02")) for nb in chosen)
    banner = describe_data(args.dataset) if loads_data or args.dataset != "fer2013" else describe_prepared()
    print(banner, flush=True)
    print(describe_plan(args.profile, chosen, extra), flush=True)
    timings = {}
    for nb in chosen:
        run = run_notebook if args.engine == "papermill" else run_plain
        timings[nb] = run(nb, args.profile, extra)
        print(f"    {nb} done in {timings[nb]:.0f} s", flush=True)
    from helpers.artifacts import save_json

    save_json(
        config.METRICS_DIR / f"runner_{args.profile}.json",
        {"profile": args.profile, "seconds": timings, "total_seconds": sum(timings.values())},
    )
    where = f"executed notebooks in {config.EXECUTED_DIR}" if args.engine == "papermill" else "output above"
    print(f"all done in {sum(timings.values()) / 60:.1f} min; {where}")
    print(banner)
    return 0


if __name__ == "__main__":
    sys.exit(main())
