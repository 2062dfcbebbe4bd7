"""``emotion-edge soak``: the device loop for a long, fixed number of frames, watching memory and errors.

The real loop (pipeline, tracker, smoother, the MQTT publisher connected to a real broker) runs
over a looping clip, every frame processed as fast as it goes. Resident memory (RSS, from
/proc/self/statm) is sampled as frames pass; the report gives RSS after the warm-up and at the end,
the growth in between and its trend per 10,000 frames, and the count of every kind of error: frames
the pipeline raised on, sink failures, bad frames, source failures, MQTT messages dropped, and
ERROR log records. It passes when nothing failed and RSS grew by no more than ``--max-growth-mb``.

Only argparse is imported at the top: the work happens in ``cmd_soak``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.flags import DETECTOR_HELP, FRAMES_HELP, MODEL_HELP, SOURCE_HELP, WARMUP_HELP
from edge.registry import runs_yunet
from edge.tools.local_broker import add_broker_flags

log = logging.getLogger("emotion-edge")

MB = 1024 * 1024


def add_soak(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "soak",
        help="run the loop for many frames on a looping clip with MQTT connected; report RSS growth and errors",
        description="Runs the real loop, with the MQTT publisher connected to a broker (one it starts, or "
        "--host), over a looping clip (the demo's clip of real faces unless --source) for --frames frames, "
        "and reports resident memory at the start and the end and every error. Exit status 1 when "
        "anything failed or memory grew by more than --max-growth-mb.",
    )
    p.add_argument("--frames", type=int, default=100_000, help=f"{FRAMES_HELP} (after --warmup; default 100000)")
    p.add_argument(
        "--warmup",
        type=int,
        default=500,
        help=f"{WARMUP_HELP} (before the start RSS is taken; default 500)",
    )
    p.add_argument("--sample-every", type=int, help="frames between RSS samples (default frames/50)")
    p.add_argument("--max-growth-mb", type=float, default=20.0, help="RSS growth allowed (default 20 MB)")
    p.add_argument("--source", help=f"{SOURCE_HELP} (looped; default: the demo's clip of real faces)")
    p.add_argument("--config", type=Path, help="a device TOML to start from (default: built-in defaults)")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--detector-model", help=f"{DETECTOR_HELP} (default: as for `emotion-edge demo`)")
    add_broker_flags(p)
    p.add_argument("--json", type=Path, metavar="OUT.json", help="also write the report as JSON")
    p.set_defaults(func=cmd_soak)


def current_rss_mb() -> float:
    """Resident memory now (not the peak): Linux's /proc/self/statm, in MB."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError) as exc:
        raise RuntimeError(f"the soak reads resident memory from /proc/self/statm, which failed here: {exc}") from exc
    return pages * os.sysconf("SC_PAGE_SIZE") / MB


class ErrorCounter(logging.Handler):
    """Counts ERROR (and worse) log records from anywhere in the process while the soak runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = f"{record.name}: {record.getMessage()}"


@dataclass
class MemorySampler:
    """A result sink that samples RSS every ``every`` frames; ``warmup`` frames come first."""

    warmup: int
    every: int
    frames: int = 0
    samples: list[tuple[int, float]] = field(default_factory=list)  # (frames after warm-up, MB)

    def handle_frame(self, result: Any) -> None:
        self.frames += 1
        done = self.frames - self.warmup
        if done >= 0 and done % self.every == 0:
            self.samples.append((done, current_rss_mb()))
            if done:
                log.info("soak: %d frames, RSS %.1f MB", done, self.samples[-1][1])

    def handle_stats(self, stats: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def trend_mb_per_10k(samples: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of RSS over frames, per 10,000 frames (None with fewer than 3 samples)."""
    if len(samples) < 3:
        return None
    xs = [float(x) for x, _ in samples]
    ys = [y for _, y in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var * 10_000


def cmd_soak(args: argparse.Namespace) -> int:
    from edge.config import load_config
    from edge.tools.demo import DemoError, find_detector
    from edge.tools.local_broker import BrokerError, LocalBroker

    if args.frames < 1 or args.warmup < 0:
        raise ValueError(f"--frames must be at least 1 and --warmup 0 or more (got {args.frames}, {args.warmup})")
    every = args.sample_every or max(1, args.frames // 50)
    if every < 1:
        raise ValueError(f"--sample-every must be at least 1, got {every}")
    overrides: dict[str, dict[str, Any]] = {"model": {"path": args.model}, "detector": {"model": args.detector_model}}
    config = load_config(args.config, overrides=overrides).single_camera()
    try:
        detector = find_detector(config.detector.model if runs_yunet(config.detector.kind) else None)
        source = args.source or _demo_clip(detector)
    except DemoError as exc:
        print(f"emotion-edge soak: {exc}", file=sys.stderr)
        return 2
    broker = None
    host, port = args.host, args.port
    if host is None:
        try:
            broker = LocalBroker(args.broker_program).start()
        except BrokerError as exc:
            print(f"emotion-edge soak: {exc}", file=sys.stderr)
            return 2
        host, port = broker.host, broker.port
        log.info("soak: %s on %s:%d", broker.name, host, port)
    mqtt = config.mqtt.model_copy(
        update={"enabled": True, "host": host, "port": port, "device_id": config.mqtt.device_id or "soak"}
    )
    config = config.model_copy(
        update={
            "source": config.source.model_copy(update={"uri": source, "loop": True, "realtime": False}),
            "detector": config.detector.model_copy(update={"model": str(detector)}),
            "mqtt": mqtt,
        }
    )
    try:
        report = run_soak(config, args.frames, args.warmup, every)
    finally:
        if broker is not None:
            broker.stop()
    report["broker"] = broker.name if broker is not None else f"{host}:{port}"
    report["max_growth_mb"] = args.max_growth_mb
    report["passed"] = passed(report, args.max_growth_mb)
    print(format_soak(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0 if report["passed"] else 1


def passed(report: dict[str, Any], max_growth_mb: float) -> bool:
    """Nothing failed, and RSS after the run is within ``max_growth_mb`` of RSS after the warm-up."""
    return bool(report["errors"]["total"] == 0 and report["rss_growth_mb"] <= max_growth_mb)


def _demo_clip(detector: Path) -> str:
    from edge.tools.demo import DemoError
    from edge.tools.demo_clip import DemoClipError, cached_demo_clip

    try:
        return str(cached_demo_clip(detector_model=detector))
    except DemoClipError as exc:
        raise DemoError(f"{exc}; or pass --source CLIP") from exc


def run_soak(config: Any, frames: int, warmup: int, every: int, connect_timeout_s: float = 15.0) -> dict[str, Any]:
    """Run the loop for ``warmup + frames`` frames with the configured sinks (MQTT among them)."""
    from edge.loop import FrameLoop, close_sinks
    from edge.mqtt.client.publisher import MqttPublisher
    from edge.pipeline import build_pipeline
    from edge.service.runner import build_sinks, make_grabber
    from edge.stats import LoopStats

    pipeline = build_pipeline(config)
    sinks = build_sinks(config, pipeline)
    rss_loaded = current_rss_mb()
    publisher = next((s for s in sinks if isinstance(s, MqttPublisher)), None)
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    grabber = None
    try:
        if publisher is not None:
            end = time.monotonic() + connect_timeout_s
            while not publisher.connected and time.monotonic() < end:
                time.sleep(0.05)
            if not publisher.connected:
                raise RuntimeError(
                    f"the MQTT publisher did not connect to {config.mqtt.host}:{config.mqtt.port} "
                    f"within {connect_timeout_s:.0f} s ({publisher.last_failure}); check the broker"
                )
        sampler = MemorySampler(warmup, every)
        _, grabber = make_grabber(config)
        grabber.start()
        loop = FrameLoop(grabber, pipeline, [*sinks, sampler], LoopStats(config.stats.window), config.stats.interval_s)
        started = time.perf_counter()
        summary = loop.run(max_frames=warmup + frames)
        wall = time.perf_counter() - started
        if sampler.samples[-1][0] != sampler.frames - warmup:
            sampler.samples.append((sampler.frames - warmup, current_rss_mb()))
        figures = publisher.figures() if publisher is not None else {}
    finally:
        if grabber is not None:
            grabber.stop()
        close_sinks(sinks)
        logging.getLogger().removeHandler(errors)
    stats = summary.stats
    dropped = figures.get("dropped", {}).get("total", 0)
    counts = {
        "frame_errors": stats["frame_errors"],
        "sink_errors": stats["sink_errors"],
        "bad_frames": stats.get("bad_frames", 0),
        "source_failures": stats.get("source_failures", 0),
        "mqtt_dropped": dropped,
        "error_log_records": errors.count,
    }
    start_mb, end_mb = sampler.samples[0][1], sampler.samples[-1][1]
    return {
        "frames": sampler.frames - warmup,
        "warmup_frames": warmup,
        "stopped_because": summary.reason,
        "wall_s": round(wall, 1),
        "fps": round(sampler.frames / wall, 2) if wall > 0 else None,
        "source": summary.stats.get("source"),
        "backend": stats.get("backend"),
        "model": stats.get("model"),
        "rss_after_model_load_mb": round(rss_loaded, 1),
        "rss_start_mb": round(start_mb, 1),
        "rss_end_mb": round(end_mb, 1),
        "rss_growth_mb": round(end_mb - start_mb, 1),
        "rss_trend_mb_per_10k_frames": _round(trend_mb_per_10k(sampler.samples)),
        "rss_samples": [[n, round(mb, 1)] for n, mb in sampler.samples],
        "faces_per_frame": stats.get("faces_per_frame"),
        "mqtt_sent": figures.get("sent"),
        "mqtt_connects": figures.get("connects"),
        "errors": {**counts, "total": sum(counts.values())},
        "first_error": errors.first,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def format_soak(report: dict[str, Any]) -> str:
    e = report["errors"]
    lines = [
        f"source      {report['source']} (looped), {report['backend']}, model {report['model']}",
        f"broker      {report['broker']}: {report['mqtt_sent']} messages sent, {report['mqtt_connects']} connect(s)",
        f"frames      {report['frames']} after {report['warmup_frames']} warm-up ({report['stopped_because']}), "
        f"{report['wall_s']} s, {report['fps']} fps, {report['faces_per_frame']} faces/frame",
        f"RSS         start {report['rss_start_mb']} MB, end {report['rss_end_mb']} MB: growth "
        f"{report['rss_growth_mb']:+.1f} MB (allowed {report['max_growth_mb']:g}); trend "
        f"{report['rss_trend_mb_per_10k_frames']} MB per 10k frames; "
        f"after model load {report['rss_after_model_load_mb']} MB",
        f"errors      {e['total']}: frames {e['frame_errors']}, sinks {e['sink_errors']}, "
        f"bad frames {e['bad_frames']}, source failures {e['source_failures']}, MQTT dropped {e['mqtt_dropped']}, "
        f"ERROR logs {e['error_log_records']}" + (f" (first: {first})" if (first := report["first_error"]) else ""),
        f"verdict     {'PASS' if report['passed'] else 'FAIL'}",
    ]
    return "\n".join(lines)
