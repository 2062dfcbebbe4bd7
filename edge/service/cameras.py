"""``emotion-edge run`` with several cameras (``[cameras.NAME]``): one process for all of them.

Each camera has its capture thread, its detector, tracker and smoother, and its frame loop on a
thread of its own; the classifier is loaded once and shared (``edge.cameras``: the faces of the
cameras that are ready go through one call). One MQTT connection serves the device: one
availability, one stats topic with every camera's figures, and a stream per camera under
``<base>/<device_id>/<camera>/``. A slow, lost or failed camera stalls no other: its loop waits
or ends on its own thread, and its figures stay its own.

Health: each camera's loop says ``ok``, ``degraded`` or ``failed`` with its reasons; the device is
``degraded`` while any camera is not ok and ``failed`` only when all are. systemd hears ``READY``
with the first camera that gives a frame (or waits, known to be alive, for its camera), the
watchdog while any camera's loop makes progress, and a ``STATUS=`` line naming the cameras that
are not ok.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from edge.cameras.shared_classifier import SharedClassifier, share
from edge.capture import FrameGrabber
from edge.config import DeviceConfig
from edge.fields import ConfigError
from edge.loop import FrameLoop, LoopSummary, close_sinks
from edge.pipeline import FacePipeline, build_pipeline
from edge.results import ResultSink
from edge.service.notify import MAX_STATUS, Heartbeat, Notifier
from edge.service.runner import close_classifier, live_view_url, make_grabber, start_checks
from edge.service.signals import stop_on_signals
from edge.stats import LoopStats, format_line

if TYPE_CHECKING:
    from edge.web.view import WebView

log = logging.getLogger(__name__)


class DeviceHeartbeat:
    """systemd's view of a several-camera device: ``READY`` once any camera gives a frame (or
    waits, known to be alive, for its camera), ``WATCHDOG`` while any camera's loop makes progress
    (all hung: no pings, and systemd restarts the service), ``STATUS`` from ``status_of``. It is
    one camera's ``Heartbeat.idle`` rule, shared by every camera's thread."""

    def __init__(self, notifier: Notifier, status_of: Callable[[], str]) -> None:
        self.status_of = status_of
        self._heartbeat = Heartbeat(notifier)
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._heartbeat.ready

    def beat(self, alive: bool) -> None:
        with self._lock:
            self._heartbeat.idle(self.status_of, alive)


class CameraBeat:
    """What one camera's loop tells the device's heartbeat (the ``Heartbeat`` interface)."""

    def __init__(self, device: DeviceHeartbeat) -> None:
        self.device = device
        self.backend = ""
        self.no_first_frame = False

    def frame(self, fps: float, faces: int, frames: int) -> None:
        self.device.beat(alive=True)

    def waiting(self, source: str) -> None:
        self.device.beat(alive=False)

    def idle(self, status: str, alive: bool = False) -> None:
        self.device.beat(alive=alive)


def check_several(config: DeviceConfig) -> None:
    """What serves one camera only is refused for several, at start, naming the keys."""
    o = config.output
    asked = (("output.show", o.show), ("output.record", o.record), ("output.results", o.results))
    one_only = [key for key, value in asked if value]
    if one_only:
        raise ConfigError(
            f"{', '.join(one_only)}: a window, a recording and a results file serve one camera; with several "
            f"({', '.join(config.camera_configs())}) they are not built yet: turn them off (the cameras' results "
            "go out over MQTT, a stream each, and the live view shows each camera) or run one camera"
        )


def device_status(loops: dict[str, FrameLoop]) -> str:
    """One STATUS line: how many cameras run, and each that is not ok with its first reason."""
    bad = []
    fps = 0.0
    for name, loop in loops.items():
        state, reasons = loop.health()
        fps += loop.stats.fps()
        if state != "ok":
            bad.append(f"{name} {state}" + (f" ({reasons[0]})" if reasons else ""))
    head = f"{len(loops) - len(bad)} of {len(loops)} cameras ok, {fps:.1f} fps in all"
    text = f"{head}; {'; '.join(bad)}" if bad else head
    return text[:MAX_STATUS]


def run_cameras(config: DeviceConfig, max_frames: int | None = None) -> int:
    """Run every camera until stopped; 0 when stopped or the sources ended, 1 when every camera
    stopped on a fault that cannot heal (a camera that fails alone leaves the device degraded)."""
    names = list(config.camera_configs())
    check_several(config)
    stopping = threading.Event()
    notifier = Notifier.from_env()
    loops: dict[str, FrameLoop] = {}
    heartbeat = DeviceHeartbeat(notifier, lambda: device_status(loops))
    grabbers: dict[str, FrameGrabber] = {}
    sinks: list[ResultSink] = []
    shared: SharedClassifier | None = None
    summaries: dict[str, LoopSummary | BaseException] = {}
    why = "error"
    with stop_on_signals(stopping.set):
        try:
            cameras = {name: config.for_camera(name) for name in names}
            credentials = start_checks(config.web)  # the live view's files, before the model loads
            # Every camera's source is checked before the model loads: a typo in one stops the start.
            for name, cam in cameras.items():
                _, grabbers[name] = make_grabber(cam)
            notifier.status("loading the model (on a Jetson, the first start builds the TensorRT engine)")
            pipelines: dict[str, FacePipeline] = {}
            for name, cam in cameras.items():
                pipelines[name] = build_pipeline(
                    cam,
                    while_building=lambda engine: notifier.extending(f"building the TensorRT engine {engine.name}"),
                    classifier=shared,
                )
                if shared is None:
                    shared = pipelines[name].classifier = share(pipelines[name].classifier, config.detector.max_faces)
            assert shared is not None
            camera_sinks: dict[str, list[ResultSink]] = {name: [] for name in names}
            if config.mqtt.enabled:
                from edge.mqtt.client.publisher import MqttPublisher
                from edge.mqtt.discovery import DeviceInfo
                from edge.service.doctor import detect_board

                info = shared.info
                device = DeviceInfo(detect_board().model, live_view_url(config.web))
                publisher = MqttPublisher(
                    config.mqtt, info.name, info.version, shared.backend, info.classes, device=device, cameras=names
                )
                publisher.start()
                sinks.append(publisher)
                for name in names:
                    camera_sinks[name].append(publisher.camera(name))
            views: dict[str, WebView] = {}
            if config.web.enabled:
                from edge.web.view import WebView

                # One page and one port for every camera: the first camera's view serves, the others
                # are attached to it and chosen on the page (?camera=NAME).
                for name in names:
                    views[name] = WebView(config.web, shared.info.classes, credentials=credentials)
                main = views[names[0]]
                main.camera = names[0]
                for name in names[1:]:
                    main.attach(name, views[name])
                main.start()  # a port in use stops the start here, before the cameras open
                sinks.append(main)  # closed with the other sinks; it stops the attached views' encoders
            for name in names:
                view_sinks: list[ResultSink] = [views[name]] if name in views else []
                loops[name] = FrameLoop(
                    grabbers[name],
                    pipelines[name],
                    camera_sinks[name] + view_sinks,
                    LoopStats(config.stats.window),
                    config.stats.interval_s,
                    stop_event=stopping,
                    heartbeat=CameraBeat(heartbeat),  # type: ignore[arg-type]
                    frame_sinks=[views[name]] if name in views else [],
                    max_failed_frames=config.health.max_failed_frames,
                )
                loops[name].describe["camera"] = name
                if name in views:
                    views[name].stats_source = loops[name].snapshot

            def run(name: str) -> None:
                try:
                    summaries[name] = loops[name].run(max_frames=max_frames)
                except BaseException as exc:  # one camera's crash is its own: logged, the others go on
                    log.exception("camera %s stopped on an error", name)
                    summaries[name] = exc

            for grabber in grabbers.values():
                grabber.start()
            log.info("running %d cameras (%s); stop with Ctrl+C or SIGTERM", len(names), ", ".join(names))
            notifier.status(f"waiting for the first frames of {len(names)} cameras")
            threads = [threading.Thread(target=run, args=(n,), name=f"camera-{n}", daemon=True) for n in names]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(0.2)
            why = ", ".join(f"{n}: {describe(summaries.get(n))}" for n in names)
        finally:
            notifier.stopping(f"stopping: {why}"[:MAX_STATUS])
            stopping.set()
            for grabber in grabbers.values():
                grabber.stop()
            close_sinks(sinks)
            if shared is not None:
                close_classifier(shared)
            notifier.close()
    failed = [n for n in names if not isinstance(summaries.get(n), LoopSummary) or _failed(summaries[n])]
    for name in names:
        summary = summaries.get(name)
        if isinstance(summary, LoopSummary):
            log.info("camera %s stopped (%s) after %d frames: %s", name, summary.reason, summary.frames,
                     format_line(summary.stats))  # fmt: skip
            if summary.error:
                log.error("camera %s: %s", name, summary.error)
    return 1 if len(failed) == len(names) else 0


def _failed(summary: LoopSummary | BaseException) -> bool:
    return not isinstance(summary, LoopSummary) or summary.reason in ("source failed", "failed")


def describe(summary: LoopSummary | BaseException | None) -> str:
    if summary is None:
        return "not started"
    if isinstance(summary, BaseException):
        return f"error ({type(summary).__name__})"
    return summary.reason
