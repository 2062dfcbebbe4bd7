"""The developer tools' command ``bench``: the real loop over a clip, measured.

Kept light at import time (argparse only): OpenCV, NumPy and ONNX Runtime load inside the command.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.flags import (
    CACHE_DIR_HELP,
    DETECTOR_HELP,
    FRAMES_HELP,
    MODEL_HELP,
    SOURCE_HELP,
    THREADS_HELP,
    WARMUP_HELP,
    WEB_HELP,
    WILD_HELP,
)
from edge.paths import DEV_WILD, DEV_YUNET, locate_detector
from edge.registry import BACKEND_NAMES, runs_yunet

if TYPE_CHECKING:
    from edge.config import DeviceConfig
from edge.service.cli import CONFIG_ENV, config_path

log = logging.getLogger("emotion-edge")


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
    p.add_argument("--source", help=f"{SOURCE_HELP} (default: a clip made from --wild with --faces faces)")
    p.add_argument("--faces", type=int, choices=[1, 4], default=1, help="faces per frame of the generated clip")
    p.add_argument("--backend", choices=BACKEND_NAMES, help="override model.backend")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--detector-model", help=f"{DETECTOR_HELP} (default: the configured one, else {DEV_YUNET})")
    p.add_argument("--threads", type=int, help=f"{THREADS_HELP} (default: model.threads)")
    p.add_argument("--frames", type=int, default=500, help=f"{FRAMES_HELP} (measured; default 500)")
    p.add_argument("--warmup", type=int, default=20, help=f"{WARMUP_HELP} (default 20)")
    p.add_argument("--pace", type=float, metavar="FPS", help="deliver frames at this rate, newest only (latency)")
    p.add_argument("--web", action="store_true", help=f"{WEB_HELP} (on a free loopback port, with [web]'s caps)")
    p.add_argument(
        "--web-viewers",
        type=int,
        choices=[0, 1],
        default=0,
        help="with --web: viewers reading the stream as fast as it comes (default 0: the view on, nobody watching)",
    )
    p.add_argument("--json", type=Path, metavar="OUT.json", help="also write the figures as JSON")
    p.add_argument(
        "--wild",
        type=Path,
        default=Path(DEV_WILD),
        help=f"{WILD_HELP} (made into the clip; default {DEV_WILD})",
    )
    p.add_argument("--cache-dir", type=Path, help=CACHE_DIR_HELP)
    p.add_argument(
        "--cameras",
        type=int,
        choices=range(1, 9),
        metavar="N",
        help="N cameras (1-8), each a different clip with --faces faces paced at --pace (default 30) fps: one "
        "process sharing one classifier, then N separate processes; per-camera fps and latency, CPU, peak RSS",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="compare the settings (every frame; auto: motion gate, detection interval, per-face rate) on the "
        "--clips, paced at --pace (default 30) fps: CPU per frame, stage counts, agreement with every frame",
    )
    p.add_argument(
        "--clips",
        default="empty,1,4,moving",
        help="with --compare: which clips (empty room, 1 face, 4 faces, faces that move, enter and leave)",
    )
    p.add_argument(
        "--variants",
        type=int,
        default=1,
        help="with --compare: this many clips of each of the 1- and 4-face kinds (other photos in another order); "
        "agreement on one 300-frame clip moves by points with the photos, so their mean says more",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="with --compare: run each setting this many times per clip, in turns, and report its lowest CPU "
        "(a busy moment of the machine only ever adds)",
    )
    p.set_defaults(func=cmd_bench)


def bench_config(args: argparse.Namespace) -> tuple[DeviceConfig, Path | None]:
    """The one camera a benchmark runs, from --config and the flags, with YuNet found where `run`
    and `demo` find it; and the detector that checks the photos its clips are made from (None: not
    a YuNet kind, or the file is not there)."""
    from edge.config import load_config

    overrides: dict[str, dict[str, Any]] = {
        "model": {"backend": args.backend, "path": args.model, "threads": args.threads},
        "detector": {"model": args.detector_model},
    }
    config = load_config(config_path(args), overrides=overrides).single_camera()
    d = config.detector
    found = locate_detector(d.model) if runs_yunet(d.kind) else None
    if found is not None and found != d.model:
        log.info("detector.model %s is absent: using %s", d.model, found)
        config = config.model_copy(update={"detector": d.model_copy(update={"model": found})})
    yunet = Path(config.detector.model)
    return config, (yunet if runs_yunet(config.detector.kind) and yunet.is_file() else None)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.compare:
        return cmd_compare(args)
    if args.cameras is not None:
        return cmd_bench_cameras(args)
    from edge.tools.bench import format_report, run_bench, with_source
    from edge.tools.bench_clip import cached_bench_clip_apart

    if args.pace is not None and args.pace <= 0:
        raise ValueError(f"--pace must be a positive frame rate, got {args.pace}")
    if args.warmup < 0:
        raise ValueError(f"--warmup must be 0 or more, got {args.warmup}")
    config, checker = bench_config(args)
    source = args.source
    if source is None:
        source = str(cached_bench_clip_apart(args.wild, args.faces, args.cache_dir, checker))
        log.info("benchmark clip: %s", source)
    config = with_source(config, source)
    report = run_bench(config, args.frames, args.pace, args.warmup, args.web_viewers if args.web else None)
    if args.source is None:
        report["clip_faces_per_frame"] = args.faces
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def cmd_bench_cameras(args: argparse.Namespace) -> int:
    from edge.tools.bench_cameras import compare, format_cameras_report, run_one_process, run_separate_processes
    from edge.tools.bench_clip import cached_bench_clip_apart

    for flag, given in (("--source", args.source), ("--web", args.web)):
        if given:
            raise ValueError(f"--cameras makes each camera a clip of its own: leave out {flag}")
    pace = 30.0 if args.pace is None else args.pace
    if pace <= 0:
        raise ValueError(f"--pace must be a positive frame rate, got {args.pace}")
    if args.frames < 1 or args.warmup < 0:
        raise ValueError(f"--frames must be at least 1 and --warmup 0 or more, got {args.frames} and {args.warmup}")
    config, checker = bench_config(args)
    clips = [
        str(cached_bench_clip_apart(args.wild, args.faces, args.cache_dir, checker, variant=i))
        for i in range(args.cameras)
    ]
    one = run_one_process(config, clips, args.frames, pace, args.warmup)
    separate = None
    if args.cameras > 1:
        extra = ["--detector-model", str(config.detector.model), "--model", str(config.model.path)]
        if args.config:
            extra += ["--config", str(args.config)]
        if args.backend:
            extra += ["--backend", args.backend]
        if args.threads is not None:
            extra += ["--threads", str(args.threads)]
        separate = run_separate_processes(clips, args.frames, pace, args.warmup, extra)
    report = {
        "cameras": args.cameras,
        "faces_per_clip_frame": args.faces,
        "pace_fps": pace,
        "frames": args.frames,
        "warmup": args.warmup,
        **compare(one, separate),
    }
    print(format_cameras_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from edge.tools.bench_clip import cached_bench_clip_apart, cached_scene
    from edge.tools.bench_compare import CLIPS, clip_name, compare, format_compare, scene_facts

    clips = [c.strip() for c in args.clips.split(",") if c.strip()]
    wrong = [c for c in clips if c not in CLIPS]
    if wrong or not clips:
        raise ValueError(f"--clips {args.clips!r}: choose from {', '.join(CLIPS)} (comma-separated)")
    if args.source is not None or args.web:
        raise ValueError("--compare makes its own clips: leave out --source and --web")
    if args.frames < 1 or args.warmup < 1:
        raise ValueError(f"--compare needs --frames and --warmup of at least 1, got {args.frames} and {args.warmup}")
    if not 1 <= args.variants <= 8:
        raise ValueError(f"--variants {args.variants}: give 1 to 8 clips of each face kind")
    if not 1 <= args.repeats <= 5:
        raise ValueError(f"--repeats {args.repeats}: give 1 to 5 runs of each setting")
    config, checker = bench_config(args)
    paths = {}
    for clip in clips:
        if clip in ("empty", "moving"):
            path = cached_scene(clip, args.wild, args.cache_dir, checker)
            paths[clip] = (str(path), scene_facts(path))
            continue
        for variant in range(args.variants):
            path = cached_bench_clip_apart(args.wild, int(clip), args.cache_dir, checker, variant)
            paths[clip_name(clip, variant)] = (str(path), scene_facts(path))
    base = config.to_dict()
    base["mqtt"] = {"enabled": False}
    base.pop("web", None)
    report = compare(
        base, paths, frames=args.frames, warmup=args.warmup, pace_fps=args.pace or 30.0, repeats=args.repeats
    )
    print(format_compare(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
