"""The device commands: ``run``, ``bench`` and ``models fetch``.

Kept light at import time (argparse only): OpenCV, NumPy and ONNX Runtime load inside each command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

log = logging.getLogger("emotion-edge")

# The ../shared material beside a development checkout; a device has its own paths in its config.
DEV_WILD = "../shared/media/wild"
DEV_YUNET = "../shared/models/face_detection_yunet.onnx"
CONFIG_ENV = "EMOTION_EDGE_CONFIG"


def _config_path(args: argparse.Namespace) -> Path | None:
    if args.config is not None:
        return Path(args.config)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else None


# --- run ----------------------------------------------------------------------------------------


def add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the device loop: camera to tracked, smoothed emotions per face")
    p.add_argument("--config", type=Path, help=f"TOML configuration (default: ${CONFIG_ENV}, else built-in defaults)")
    p.add_argument("--source", help="override source.uri: /dev/videoN or N, csi://N, rtsp://..., a file, a folder")
    p.add_argument("--show", action="store_true", help="draw boxes, ids, emotions and scores in a window")
    p.add_argument("--record", metavar="OUT.mp4", help="write the annotated stream to this video file")
    p.add_argument("--results", metavar="OUT.jsonl", help="append every frame's results to this JSON-lines file")
    p.add_argument("--max-frames", type=int, help="stop after this many processed frames")
    p.add_argument("--print-config", action="store_true", help="print the merged, validated configuration and exit")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from edge.config import load_config, to_toml
    from edge.runner import run_device

    overrides = {
        "source": {"uri": args.source},
        "output": {"show": True if args.show else None, "record": args.record, "results": args.results},
    }
    config = load_config(_config_path(args), overrides=overrides)
    if args.print_config:
        print(to_toml(config.to_dict()), end="")
        return 0
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be at least 1, got {args.max_frames}")
    return run_device(config, max_frames=args.max_frames)


# --- bench --------------------------------------------------------------------------------------


def add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark the loop on a clip: per-stage latency, fps, drops, peak RSS",
        description="Runs the real loop for --frames frames. Without --source it uses a 640x480 clip made "
        "from the wild photos with --faces faces per frame (made once, cached). Unpaced, every frame is "
        "processed as fast as possible (throughput); with --pace FPS frames arrive like a camera's (latency).",
    )
    p.add_argument("--config", type=Path, help=f"TOML configuration (default: ${CONFIG_ENV}, else defaults)")
    p.add_argument("--source", help="a clip or camera URI instead of the generated clip")
    p.add_argument("--faces", type=int, choices=[1, 4], default=1, help="faces per frame of the generated clip")
    p.add_argument("--backend", choices=["auto", "onnxruntime", "tensorrt"], help="override model.backend")
    p.add_argument("--model", help="override model.path")
    p.add_argument("--detector-model", help=f"override detector.model (default: the configured one, else {DEV_YUNET})")
    p.add_argument("--threads", type=int, help="override model.threads (ONNX Runtime intra-op threads)")
    p.add_argument("--frames", type=int, default=500, help="frames to measure (default 500)")
    p.add_argument("--warmup", type=int, default=20, help="frames run before measuring (default 20)")
    p.add_argument("--pace", type=float, metavar="FPS", help="deliver frames at this rate, newest only (latency)")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="also write the figures as JSON")
    p.add_argument("--wild", type=Path, default=Path(DEV_WILD), help=f"photos for the clip (default {DEV_WILD})")
    p.add_argument("--cache-dir", type=Path, help="where generated clips are kept (default ~/.cache/emotion-edge)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from edge.bench import format_report, run_bench, with_source
    from edge.bench_clip import cached_bench_clip
    from edge.config import load_config

    if args.pace is not None and args.pace <= 0:
        raise ValueError(f"--pace must be a positive frame rate, got {args.pace}")
    if args.warmup < 0:
        raise ValueError(f"--warmup must be 0 or more, got {args.warmup}")
    overrides: dict[str, dict[str, Any]] = {
        "model": {"backend": args.backend, "path": args.model, "threads": args.threads},
        "detector": {"model": args.detector_model},
    }
    config = load_config(_config_path(args), overrides=overrides)
    d = config.detector
    if args.detector_model is None and d.kind == "yunet" and not Path(d.model).is_file() and Path(DEV_YUNET).is_file():
        log.info("detector.model %s is absent: using %s", d.model, DEV_YUNET)
        config = replace(config, detector=replace(d, model=DEV_YUNET))
    source = args.source
    if source is None:
        yunet = Path(config.detector.model)
        checker = yunet if config.detector.kind == "yunet" and yunet.is_file() else None
        source = str(cached_bench_clip(args.wild, args.faces, args.cache_dir, checker))
        log.info("benchmark clip: %s", source)
    config = with_source(config, source)
    report = run_bench(config, args.frames, args.pace, args.warmup)
    if args.source is None:
        report["clip_faces_per_frame"] = args.faces
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


# --- models -------------------------------------------------------------------------------------


def add_models(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="get the models the device needs")
    msub = p.add_subparsers(dest="models_command", required=True)
    fetch = msub.add_parser("fetch", help="download the official YuNet face detector (SHA-256 checked)")
    fetch.add_argument("--dest", type=Path, help="where to save it (default models/face_detection_yunet.onnx)")
    fetch.add_argument("--force", action="store_true", help="replace a file at --dest that is not the official one")
    fetch.set_defaults(func=cmd_models_fetch)


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from edge.fetch import DEFAULT_DEST, YUNET, fetch

    dest = fetch(YUNET, args.dest or DEFAULT_DEST, force=args.force)
    print(f"{dest}: {YUNET.name}, SHA-256 {YUNET.sha256}")
    return 0
