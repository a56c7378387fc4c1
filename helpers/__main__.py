"""``python -m helpers <command> [args]``: every command line of the workbook in one place.

Each command is a module of :mod:`helpers.cli` with a ``main(argv)``; ``python -m helpers <command> --help`` shows
its options.
"""

from __future__ import annotations

import importlib
import sys

#: Command name -> what it does (the module is ``helpers.cli.<command>``).
COMMANDS = {
    "predict": "emotions on photos, folders, videos or a webcam (the shipped model unless --model)",
    "live": "a local web page: camera or photo, labelled boxes, probabilities as bars (optional extra)",
    "finetune": "fine-tune a trained emotion model on your own labelled photo folders",
    "check": "check a FER-2013 or FER+ download: load report and processing check",
    "runner": "run the numbered notebooks headlessly with papermill",
    "report": "render executed notebooks to HTML with an index page",
    "bench": "benchmarks, side by side in one run (outputs/bench/bench.json)",
    "study": "several recipes, several seeds, one budget, paired bootstraps",
    "release": "train, evaluate and package the shipped model with its model card",
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {what}" for name, what in COMMANDS.items())
    return f"usage: python -m helpers <command> [args]\n\ncommands:\n{rows}\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"helpers.cli.{command}")
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
