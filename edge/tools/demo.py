"""``emotion-edge demo``: the whole device on a fresh machine, with no camera, network or broker to set up.

It runs the real device loop (``edge.service.runner.run_device``) with the shipped model on ONNX Runtime
over a clip of real faces the project makes from scikit-image's public-domain photos
(``edge.tools.demo_clip``), publishes through a real MQTT broker it starts itself (``edge.tools.local_broker``:
Mosquitto where installed, else the embedded amqtt), prints what a subscriber receives
(``edge.tools.demo_subscriber``) and writes the annotated video, a GIF and a still picture to look at.
``--source /dev/video0`` does the same with a camera, until Ctrl+C (``make run``).

Only argparse is imported at the top: the work happens in ``cmd_demo``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge import paths
from edge.flags import (
    CACHE_DIR_HELP,
    DETECTOR_HELP,
    FRAMES_HELP,
    MODEL_HELP,
    SOURCE_HELP,
)
from edge.registry import runs_yunet
from edge.tools.local_broker import add_broker_flags

log = logging.getLogger("emotion-edge")

DEMO_DEVICE = "demo"
BASE = "emotion-edge"
DEFAULT_OUT = Path("runs/demo")
WEB_PORT = 8080  # the live view's usual port: a page left open finds the next demo again
DEV_YUNET = Path(paths.DEV_YUNET)  # beside a development checkout only


class DemoError(RuntimeError):
    """The demo cannot run here; the message names what is missing and how to get it."""


def add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="the device end to end on a bundled clip of real faces: local broker, subscriber, annotated video",
        description="Runs the real device loop on a clip made from scikit-image's public-domain photos (or "
        "on --source), publishes through an MQTT broker it starts itself, prints what a subscriber "
        "receives and writes annotated.mp4, annotated.gif and annotated.png to --out.",
    )
    p.add_argument("--source", help=f"{SOURCE_HELP} (default: the bundled clip of real faces)")
    p.add_argument("--config", type=Path, help="a device TOML to start from (default: built-in defaults)")
    p.add_argument("--model", help=f"{MODEL_HELP} (default: model.path, {paths.MODEL})")
    p.add_argument("--detector-model", help=f"{DETECTOR_HELP} (default: where `run` finds it, else downloaded)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where the outputs go (default {DEFAULT_OUT})")
    p.add_argument(
        "--frames",
        type=int,
        help=f"{FRAMES_HELP} (default: the whole clip; with --loop or a camera, until Ctrl+C)",
    )
    add_broker_flags(p)
    p.add_argument("--no-gif", action="store_true", help="skip the GIF and the still picture")
    p.add_argument(
        "--web-port",
        type=int,
        default=WEB_PORT,
        help=f"the live view's port on 127.0.0.1 (default {WEB_PORT}, or a free one when it is taken; 0: a free one)",
    )
    p.add_argument("--no-web", action="store_true", help="no live view in the browser")
    p.add_argument("--loop", action="store_true", help="play the clip again and again, until Ctrl+C")
    p.add_argument("--cache-dir", type=Path, help=CACHE_DIR_HELP)
    p.set_defaults(func=cmd_demo)


@dataclass
class DemoOutputs:
    video: Path
    gif: Path | None
    still: Path | None
    messages: Path


def find_detector(configured: str | None) -> Path:
    """YuNet: the configured file, else the development checkout's copy, else downloaded into models/."""
    from edge.fetch import DEFAULT_DEST, YUNET, FetchError, fetch

    found = paths.locate_detector(configured)  # the same search as `run` and `bench`
    if found is not None:
        if found != configured:
            log.info("using the face detector at %s", found)
        return Path(found)
    try:
        return fetch(YUNET, DEFAULT_DEST)
    except FetchError as exc:
        raise DemoError(
            f"the YuNet face detector is not in {DEFAULT_DEST} and could not be downloaded: {exc}. "
            "Once online, `emotion-edge models fetch` gets it; or pass --detector-model FILE"
        ) from exc


def demo_config(
    args: argparse.Namespace, source: str, detector: Path, host: str, port: int, web_port: int | None = None
) -> Any:
    """``web_port``: the live view's port on 127.0.0.1; None: no live view."""
    from edge.config import load_config

    args.out.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, dict[str, Any]] = {
        # A clip plays at its own rate like a camera (frames the loop cannot keep up with are dropped).
        "source": {"uri": source, "loop": bool(getattr(args, "loop", False)), "realtime": True},
        "detector": {"model": str(detector)},
        "model": {"path": args.model},
        "stats": {"interval_s": 3.0},
        "output": {"record": str(args.out / "annotated.mp4")},
        "mqtt": {
            "enabled": True,
            "host": host,
            "port": port,
            "base": BASE,
            "device_id": DEMO_DEVICE,
            "flush_timeout_s": 2.0,
            # Quicker than a real device's defaults, so a 12 s clip shows every kind of message.
            "rate": {"stats_interval_s": 3.0, "emotion_none_after_s": 1.0},
        },
        # The live view, on this machine only: what the device sees, in the browser.
        "web": {"enabled": web_port is not None, "host": "127.0.0.1", "port": web_port or 0},
    }
    return load_config(args.config, overrides=overrides).single_camera()


def free_port(wanted: int) -> int:
    """``wanted`` when it is free on 127.0.0.1 (0: any), else a free port the system picks."""
    import socket

    for port in (wanted, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise DemoError("no free TCP port on 127.0.0.1 for the live view; pass --no-web")


def check_model(model: Path) -> None:
    if not model.is_file():
        raise DemoError(
            f"the emotion model {model} is missing: it ships with the repository (models/); pass --model FILE, "
            "or make one with `make train export` (see the README)"
        )


def cmd_demo(args: argparse.Namespace) -> int:
    if args.frames is not None and args.frames < 1:
        raise ValueError(f"--frames must be at least 1, got {args.frames}")
    try:
        return run_demo(args)
    except DemoError as exc:
        print(f"emotion-edge demo: {exc}", file=sys.stderr)
        return 2


def run_demo(args: argparse.Namespace) -> int:
    from edge.config import load_config
    from edge.mqtt.config import MqttConfig
    from edge.mqtt.topics import ha_configs, subscription
    from edge.service.runner import run_device
    from edge.tools.demo_clip import CREDITS, DemoClipError, cached_demo_clip
    from edge.tools.demo_subscriber import DemoSubscriber
    from edge.tools.local_broker import BrokerError, LocalBroker

    configured = load_config(
        args.config, overrides={"detector": {"model": args.detector_model}, "model": {"path": args.model}}
    ).single_camera()
    detector = find_detector(configured.detector.model if runs_yunet(configured.detector.kind) else None)
    check_model(Path(configured.model.path))
    source = args.source
    if source is None:
        try:
            source = str(cached_demo_clip(args.cache_dir, detector))
        except DemoClipError as exc:
            raise DemoError(str(exc)) from exc
        print(f"input: {source}, 12 s of real faces made from scikit-image's photos:")
        for name, credit in CREDITS.items():
            print(f"  {name}: {credit}")
    broker = None
    host, port = args.host, args.port
    if host is None:
        try:
            broker = LocalBroker(args.broker_program).start()
        except BrokerError as exc:
            raise DemoError(str(exc)) from exc
        host, port = broker.host, broker.port
        print(f"broker: {broker.name} on {host}:{port}, started for this demo")
    try:
        web_port = None if args.no_web else free_port(args.web_port)
        config = demo_config(args, source, detector, host, port, web_port)
        outputs = DemoOutputs(args.out / "annotated.mp4", None, None, args.out / "messages.jsonl")
        viewer = MqttConfig.from_dict({"host": host, "port": port, "base": BASE, "device_id": DEMO_DEVICE})
        subscriber = DemoSubscriber(viewer, sys.stdout, outputs.messages).start()
        print(
            f"subscriber: listening on {subscription(BASE, DEMO_DEVICE)} and "
            f"{ha_configs(viewer.discovery.prefix, DEMO_DEVICE)}; the device starts now"
        )
        if web_port is not None:
            until = "until Ctrl+C" if args.loop else "while the clip plays; --loop keeps it playing"
            print(f"live view: http://127.0.0.1:{web_port}/  (open it in a browser, {until})")
        print()
        try:
            code = run_device(config, max_frames=args.frames)
            subscriber.wait_offline(5.0)  # the device's last word, "offline", is worth seeing
        finally:
            subscriber.stop()
            # The demo device is not a device to keep: take it out of Home Assistant again.
            forget_demo(config.mqtt, announce=broker is None)
    finally:
        if broker is not None:
            broker.stop()
    if not args.no_gif and outputs.video.is_file():
        # A few seconds' work after Ctrl+C: said, so the wait is not mistaken for a hang.
        print(f"\nwriting {args.out / 'annotated.gif'} and annotated.png from {outputs.video.name} ...", flush=True)
        outputs.gif, outputs.still = write_previews(outputs.video, args.out)
    print_summary(subscriber, outputs, host, port, broker is not None)
    return code


def forget_demo(mqtt: Any, announce: bool) -> None:
    """Remove the demo device's Home Assistant discovery and retained state from the broker, so a
    demo run against a real broker leaves no unavailable "emotion-edge demo" device behind."""
    from edge.mqtt.forget import ForgetError, forget

    try:
        done = forget(mqtt, DEMO_DEVICE, timeout_s=5.0)
    except ForgetError as exc:
        print(
            f"could not remove the demo device from the broker ({exc}); "
            f"run: emotion-edge mqtt forget --device-id {DEMO_DEVICE} --host {mqtt.host} --port {mqtt.port}"
        )
        return
    if announce:
        print(f"\nHome Assistant: the demo device is removed again ({len(done.topics)} retained topics cleared)")


GIF_SECONDS = 12.0  # the bundled clip's length: its GIF shows all of it, a long --loop run its end


def write_previews(
    video: Path, out_dir: Path, width: int = 320, step: int = 3, seconds: float = GIF_SECONDS
) -> tuple[Path | None, Path | None]:
    """A small GIF of the video's last ``seconds`` (every ``step``-th frame, ``width`` pixels wide) and
    a PNG of the frame two-thirds of the way into them (for the bundled clip: both people in view).
    Only those seconds are kept while reading: an hour of --loop makes neither a huge GIF nor a long wait."""
    from collections import deque

    import cv2

    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 15.0
    frames: deque[Any] = deque(maxlen=max(1, round(seconds * fps)))
    read = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
        read += 1
    capture.release()
    if not frames:
        log.warning("%s has no frames: no GIF or picture made", video)
        return None, None
    if read > len(frames):
        print(f"(the GIF shows the last {seconds:g} s of {read / fps:.0f} s)")
    kept = list(frames)
    still = out_dir / "annotated.png"
    cv2.imwrite(str(still), kept[len(kept) * 2 // 3])
    try:
        from PIL import Image
    except ImportError:
        log.warning("Pillow is not installed (pip install 'emotion-edge[demo]'): no GIF made")
        return None, still
    height = round(kept[0].shape[0] * width / kept[0].shape[1])
    images = [
        Image.fromarray(cv2.cvtColor(cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
        for f in kept[::step]
    ]
    gif = out_dir / "annotated.gif"
    images[0].save(gif, save_all=True, append_images=images[1:], duration=round(1000 * step / fps), loop=0)
    return gif, still


def print_summary(subscriber: Any, outputs: DemoOutputs, host: str, port: int, own_broker: bool) -> None:
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(subscriber.counts.items())) or "none"
    print("\nWhat the subscriber received:", counts)
    emotion = subscriber.last.get("emotion")
    if isinstance(emotion, dict):
        print(f"Last emotion (retained for late subscribers): {emotion.get('emotion')}")
    print("To look at:")
    for path in (outputs.video, outputs.gif, outputs.still, outputs.messages):
        if path is not None and path.is_file():
            print(f"  {path}")
    if own_broker:
        print("The broker was this demo's own and is gone. Against a broker of yours:")
        print("  emotion-edge demo --host BROKER   and   mosquitto_sub -h BROKER -t 'emotion-edge/#' -v")
    else:
        print(f"Watch it live next time: emotion-edge watch --host {host} --port {port}")
    print("With a camera: make run (or emotion-edge demo --source /dev/video0); as a service: docs/deploy.md")
