"""The service's commands: ``run`` and ``models fetch``.

Kept light at import time (argparse only): OpenCV, NumPy and ONNX Runtime load inside each command.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from edge import paths
from edge.flags import MODEL_HELP, SOURCE_HELP, WEB_HELP

log = logging.getLogger("emotion-edge")

CONFIG_ENV = "EMOTION_EDGE_CONFIG"


def config_path(args: argparse.Namespace) -> Path | None:
    if args.config is not None:
        return Path(args.config)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else None


# --- run ----------------------------------------------------------------------------------------


def add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the device loop: camera to tracked, smoothed emotions per face")
    p.add_argument("--config", type=Path, help=f"TOML configuration (default: ${CONFIG_ENV}, else built-in defaults)")
    p.add_argument(
        "--source",
        help=f"{SOURCE_HELP} (cameras and streams that are not there yet are waited for; a file or folder that "
        "cannot be used exits 2 at once, and so does a missing one unless --wait-for-file)",
    )
    p.add_argument(
        "--wait-for-file",
        action="store_true",
        help="wait for a file or folder source that does not exist yet (source.wait_for_file = true)",
    )
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--show", action="store_true", help="draw boxes, ids, emotions and scores in a window")
    p.add_argument("--record", metavar="OUT.mp4", help="write the annotated stream to this video file")
    p.add_argument("--results", metavar="OUT.jsonl", help="append every frame's results to this JSON-lines file")
    p.add_argument(
        "--broker",
        metavar="HOST[:PORT]",
        help="publish to this MQTT broker (overrides mqtt.host, and mqtt.port when given; default: the "
        "configuration's, else localhost:1883)",
    )
    p.add_argument(
        "--web",
        action="store_true",
        help=f"{WEB_HELP} (web.enabled = true; [web] says where, default 127.0.0.1:8080)",
    )
    p.add_argument("--max-frames", type=int, help="stop after this many processed frames")
    p.add_argument("--print-config", action="store_true", help="print the merged, validated configuration and exit")
    p.add_argument(
        "--config-schema",
        action="store_true",
        help="print the JSON Schema of the TOML file (editor completion) and exit",
    )
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from edge.config import load_config, schema_text, to_toml
    from edge.service.runner import run_device

    if args.config_schema:
        print(schema_text(), end="")
        return 0
    overrides = {
        "source": {"uri": args.source, "wait_for_file": True if args.wait_for_file else None},
        "output": {"show": True if args.show else None, "record": args.record, "results": args.results},
        "model": {"path": args.model},
        "web": {"enabled": True if args.web else None},
        "mqtt": broker_override(args.broker),
    }
    config = load_config(config_path(args), overrides=overrides)
    if args.print_config:
        print(to_toml(config.to_dict()), end="")
        return 0
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be at least 1, got {args.max_frames}")
    if len(config.camera_configs()) > 1:
        from edge.service.cameras import run_cameras

        return run_cameras(config, max_frames=args.max_frames)
    return run_device(config.single_camera(), max_frames=args.max_frames)


def broker_override(text: str | None) -> dict[str, str | None]:
    """``--broker HOST[:PORT]`` (``[v6::addr]:PORT`` for IPv6) as ``[mqtt]`` keys; the configuration
    checks the values and names the flag's layer when one is wrong."""
    if text is None:
        return {}
    host, port = text.strip(), None
    if host.startswith("[") and "]" in host:
        host, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif host.count(":") == 1:
        host, port = host.split(":")
    if not host:
        raise ValueError(f"--broker {text!r}: give HOST or HOST:PORT (such as broker.lan:1883)")
    return {"host": host, "port": port or None}


# --- models -------------------------------------------------------------------------------------


def add_models(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="list the shipped emotion models (by name, with their figures); fetch YuNet")
    p.add_argument("--dir", type=Path, help=f"the models folder (default: {Path(paths.MODEL).parent})")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_models_list)
    msub = p.add_subparsers(dest="models_command")
    listing = msub.add_parser("list", help="the shipped emotion models by name, with their figures (the default)")
    listing.set_defaults(func=cmd_models_list)
    fetch = msub.add_parser("fetch", help="download the official YuNet face detector (SHA-256 checked)")
    fetch.add_argument("--dest", type=Path, help=f"where to save it (default {paths.DETECTOR})")
    fetch.add_argument("--force", action="store_true", help="replace a file at --dest that is not the official one")
    fetch.set_defaults(func=cmd_models_fetch)


def cmd_models_list(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from edge.catalog import format_models, list_models

    folder = args.dir or Path(paths.MODEL).parent
    if not folder.is_dir():
        print(f"emotion-edge models: no folder {folder}: run it in the checkout, or pass --dir FOLDER", file=sys.stderr)
        return 2
    rows = list_models(folder)
    if args.json:
        print(json.dumps([{**asdict(r), "path": str(r.path)} for r in rows], indent=2))
    else:
        print(format_models(rows))
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from edge.fetch import DEFAULT_DEST, YUNET, fetch

    dest = fetch(YUNET, args.dest or DEFAULT_DEST, force=args.force)
    print(f"{dest}: {YUNET.name}, SHA-256 {YUNET.sha256}")
    return 0
