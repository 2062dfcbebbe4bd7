"""The one command, ``emotion-edge``, with subcommands. Heavy imports happen inside each command,
so ``--help`` and every device-side command work without torch installed."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from edge import __version__
from edge.demo import add_demo
from edge.model_bench import add_bench_model
from edge.mqtt.cli import add_watch
from edge.run_cli import add_bench, add_models, add_run
from edge.soak import add_soak

log = logging.getLogger("emotion-edge")

AddCommand = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

# Workstation commands live with their packages; their modules import only argparse at the top,
# so listing them costs nothing on a device, and running one without torch says what to install.
WORKSTATION_COMMANDS = (("train.cli", "add_train"), ("train.cli", "add_evaluate"), ("export.cli", "add_export"))


class UserError(Exception):
    """An error the user can fix; printed as one line, without a traceback."""


def needs_torch(what: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"`emotion-edge {what}` needs the workstation extras (torch): run `make install` "
            "or `pip install torch==2.13.0 -e '.[train]'`"
        ) from exc


# --- main ---------------------------------------------------------------------------------------

COMMANDS: Sequence[AddCommand] = (
    add_run,
    add_bench,
    add_models,
    add_watch,
    add_bench_model,
    add_demo,
    add_soak,
)


def workstation_commands() -> list[AddCommand]:
    import importlib

    found = []
    for module, name in WORKSTATION_COMMANDS:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except ImportError:  # a device install without the workstation packages
            continue
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emotion-edge", description="Facial emotion on the edge: train, export, run.")
    parser.add_argument("--version", action="version", version=f"emotion-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (*workstation_commands(), *COMMANDS):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"emotion-edge: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as exc:
        # Our own errors (DatasetError, ConfigError, ExportError, ...) carry a message that says
        # what to do; a traceback would only bury it.
        if args.verbose:
            raise
        print(f"emotion-edge: error: {exc} (run with -v for the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emotion-edge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
