"""Command line of the notebook runner: ``tfg-run list`` and ``tfg-run run``.

Exit status: 0 when every notebook ran or was up to date, and 1 when a notebook failed. It is
2 when the request was invalid (unknown notebook, profile or parameter, wrong type), and then
no kernel was started.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .notebook_format import NOTEBOOKS_DIR
from .parameters import ParameterError, parse_override
from .profiles import ProfileError, load_profiles
from .runner import NotebookNotFoundError, Runner, format_summary

EXIT_FAILED = 1
EXIT_INVALID = 2


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``tfg-run``."""
    parser = argparse.ArgumentParser(
        prog="tfg-run",
        description="Run the companion's notebooks with papermill and regenerate figures/.",
    )
    parser.add_argument("--root", default=".", help="repository root holding notebooks/ (default: .)")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list the notebooks, their parameters and the profiles")
    listing.add_argument("notebooks", nargs="*", help="notebooks to describe (default: all)")

    run = commands.add_parser("run", help="run notebooks and collect their figures")
    run.add_argument("notebooks", nargs="*", help="notebooks to run: path or file stem (default: all)")
    run.add_argument("--profile", default="quick", help="profile from notebooks/profiles.yaml (default: quick)")
    run.add_argument(
        "-p", "--parameter", action="append", default=[], metavar="[NOTEBOOK:]NAME=VALUE",
        help="override a parameter; VALUE is a Python literal or a bare string; prefix NOTEBOOK: "
             "to set it for one notebook only. Repeatable.",
    )
    run.add_argument("--force", action="store_true", help="run even the notebooks whose inputs did not change")
    run.add_argument("--figures-dir", help="where figures and the manifest go (default: <root>/figures)")
    run.add_argument("--output-dir", help="where executed notebooks are saved (default: <root>/build/executed)")
    run.add_argument("--cache-dir", help="where the run cache lives (default: <root>/.cache/tfg_runs)")
    run.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3)")
    run.add_argument("--no-progress", action="store_true", help="hide the per-cell progress bar")
    return parser


def _split_override(text: str) -> tuple[str | None, str, object]:
    target = None
    head, _, _ = text.partition("=")
    if ":" in head:
        target, text = text.split(":", 1)
    name, value = parse_override(text)
    return target, name, value


def _list(runner: Runner, names: list[str]) -> int:
    known = runner.notebooks()
    selected = [runner.resolve_name(name) for name in names] if names else sorted(known)
    profiles = load_profiles(runner.notebooks_dir)
    for name in selected:
        print(f"{NOTEBOOKS_DIR}/{name}")
        for parameter in runner.declared(name).values():
            helptext = f"  # {parameter.help}" if parameter.help else ""
            print(f"    {parameter.name}: {parameter.annotation} = {parameter.default!r}{helptext}")
        for profile, notebooks in sorted(profiles.items()):
            if notebooks.get(name):
                values = ", ".join(f"{key}={value!r}" for key, value in notebooks[name].items())
                print(f"    [{profile}] {values}")
    return 0


def _run(runner: Runner, arguments: argparse.Namespace) -> int:
    overrides = [_split_override(text) for text in arguments.parameter]
    plans = runner.plan(arguments.notebooks, arguments.profile, overrides)
    outcomes = runner.run(plans, arguments.profile, force=arguments.force)
    print()
    print(format_summary(outcomes))
    failures = [outcome for outcome in outcomes if outcome.status == "failed"]
    for outcome in failures:
        print(f"\nFAILED {NOTEBOOKS_DIR}/{outcome.notebook}: {outcome.error}", file=sys.stderr)
        if outcome.executed_path is not None:
            print(f"  executed notebook kept at {outcome.executed_path}", file=sys.stderr)
    return EXIT_FAILED if failures else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``tfg-run``; returns the exit status."""
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        runner = Runner(
            Path(arguments.root),
            figures_dir=getattr(arguments, "figures_dir", None),
            output_dir=getattr(arguments, "output_dir", None),
            cache_dir=getattr(arguments, "cache_dir", None),
            kernel_name=getattr(arguments, "kernel", "python3"),
            progress=not getattr(arguments, "no_progress", False),
        )
        if arguments.command == "list":
            return _list(runner, arguments.notebooks)
        return _run(runner, arguments)
    except (NotebookNotFoundError, ParameterError, ProfileError) as error:
        print(f"tfg-run: error: {error}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
