"""The one command, ``emotion-edge``: wires the device (``edge``), training (``train``) and export
(``export``) subcommands together. It sits above all three, so none of them imports it; every
subcommand module imports only argparse at the top, and heavy imports happen inside each command,
so ``--help`` and every device-side command work without torch installed."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from edge import __version__
from edge.errors import UserError
from edge.mqtt.cli import add_mqtt, add_watch
from edge.service.cli import add_models, add_run
from edge.service.doctor import add_doctor
from edge.tools.cli import add_bench
from edge.tools.demo import add_demo
from edge.tools.model_bench import add_bench_model
from edge.tools.soak import add_soak
from export.cli import add_export
from train.cli import add_evaluate, add_train

log = logging.getLogger("emotion-edge")

AddCommand = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

# --- main ---------------------------------------------------------------------------------------

COMMANDS: Sequence[AddCommand] = (
    add_train,
    add_evaluate,
    add_export,
    add_run,
    add_bench,
    add_models,
    add_watch,
    add_mqtt,
    add_bench_model,
    add_demo,
    add_soak,
    add_doctor,
)


def version_text() -> str:
    """The package's version, then the default model's name and version from its own metadata (read
    only now: ONNX Runtime loads only when the model is there)."""
    from pathlib import Path

    from edge import paths

    lines = [f"emotion-edge {__version__}"]
    if not Path(paths.MODEL).is_file():
        lines.append(f"model: {paths.MODEL} is missing (it ships in models/ of the repository)")
        return "\n".join(lines)
    try:
        from edge.model_meta import read_onnx_metadata

        info = read_onnx_metadata(paths.MODEL)
    except Exception as exc:  # a broken model must not stop --version; it says what is wrong
        lines.append(f"model: {paths.MODEL} is unreadable ({type(exc).__name__}: {exc})")
    else:
        lines.append(f"model {info.name} {info.version} ({paths.MODEL})")
    return "\n".join(lines)


class VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emotion-edge", description="Facial emotion on the edge: train, export, run.")
    parser.add_argument(
        "--version", action=VersionAction, help="print the package's version and the default model's, and exit"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    _verbose_everywhere(parser)
    return parser


def _verbose_everywhere(parser: argparse.ArgumentParser) -> None:
    """``-v`` after the subcommand too (``emotion-edge run -v``), as the error messages suggest it:
    every subcommand parser accepts it, and leaves the top-level value alone when it is absent."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                if "-v" not in child._option_string_actions:
                    child.add_argument(
                        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
                    )
                _verbose_everywhere(child)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        # OpenCV's own warnings, set once before it loads: OpenCV 5 warns "setPreferableTarget ... not
        # supported by the new graph engine" each time a YuNet detector is made, and our messages already
        # name what failed and the fix. -v (or OPENCV_LOG_LEVEL set by the user) lets them through.
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
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
