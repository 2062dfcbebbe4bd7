"""The body of ``emotion-edge run``: build everything from the configuration, run the loop until a
signal, the end of the source or a frame limit, and always release the camera and close the sinks."""

from __future__ import annotations

import logging
import socket
import threading
from typing import TYPE_CHECKING

from edge.annotate import Recorder, Window
from edge.capture import FrameGrabber, RetryPolicy
from edge.classify import Classifier
from edge.config import DeviceConfig
from edge.loop import FrameLoop, close_sinks
from edge.pipeline import FacePipeline, build_pipeline
from edge.results import ResultSink
from edge.service.notify import Heartbeat, Notifier
from edge.service.signals import stop_on_signals
from edge.sinks import JsonLinesSink
from edge.sources import LateSource, Source, SourceSettings, is_missing_path, make_source
from edge.stats import LoopStats, format_line

if TYPE_CHECKING:
    from edge.web.config import Credentials, WebConfig
    from edge.web.view import WebView

log = logging.getLogger(__name__)


def live_view_url(web: WebConfig | None) -> str | None:
    """The live view's address for Home Assistant's device page (``configuration_url``): None when
    the view is off or its port is chosen only at start; a wildcard address becomes the host name."""
    if web is None or not web.enabled or not web.port:
        return None
    host = web.host.strip().strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"{'https' if web.tls else 'http'}://{host}:{web.port}/"


def build_sinks(config: DeviceConfig, pipeline: FacePipeline, web: WebConfig | None = None) -> list[ResultSink]:
    """The sinks the configuration asks for: the MQTT publisher (``[mqtt] enabled``, the default)
    and a JSON-lines file (``output.results``). ``web`` (default ``[web]``) is the live view, whose
    address Home Assistant's device page links to."""
    sinks: list[ResultSink] = []
    if config.output.results:
        sinks.append(JsonLinesSink(config.output.results))
    mqtt = config.mqtt  # validated with the rest of the configuration
    if mqtt.enabled:
        from edge.mqtt.client.publisher import MqttPublisher
        from edge.mqtt.discovery import DeviceInfo
        from edge.service.doctor import detect_board

        info = pipeline.classifier.info
        device = DeviceInfo(detect_board().model, live_view_url(web if web is not None else config.web))
        publisher = MqttPublisher(
            mqtt, info.name, info.version, pipeline.classifier.backend, info.classes, device=device
        )
        publisher.start()  # connects in the background: a broker that is down does not stop the loop
        sinks.append(publisher)
    return sinks


def make_grabber(
    config: DeviceConfig,
    *,
    loop: bool | None = None,
    realtime: bool | None = None,
    pace_fps: float | None = None,
    max_retries: int | None = None,
    wait_at_start: bool = True,
) -> tuple[Source, FrameGrabber]:
    """The source and its capture thread, as ``[source]`` says; ``run``, ``soak`` and ``bench`` all
    build it here. A tool may override: ``loop`` (start a file again at its end), ``realtime``
    (play a file at its own rate), ``pace_fps`` (deliver a file at this rate, newest frame only;
    a live source keeps its own pace) and ``max_retries`` (reopen attempts before giving up).

    ``wait_at_start``: a source that cannot be opened at start (a camera not plugged in yet, a
    stream not up yet, and with ``source.wait_for_file`` a file or folder not there yet) is waited
    for like a lost one, with the same backoff and ``max_retries``, instead of stopping the start.
    What waiting cannot fix stops it (``SourceOpenError``, exit 2): a URI no source takes, a missing
    path without ``wait_for_file`` (a typo waits for ever otherwise), a file or folder that exists
    and cannot be decoded, a FIFO, a link loop."""
    s = config.source
    settings = SourceSettings(
        s.width, s.height, s.fps, s.fourcc, s.loop if loop is None else loop, s.bad_frame_limit, jpeg_frames=True
    )
    source: Source
    if wait_at_start and s.wait_for_file and is_missing_path(s.uri):
        source = LateSource(str(s.uri), settings)
    else:
        source = make_source(s.uri, settings)
    realtime = s.realtime if realtime is None else realtime
    paced = pace_fps is not None and not source.live
    grabber = FrameGrabber(
        source,
        keep_latest=source.live or realtime or paced,
        pace_fps=pace_fps if paced else None,
        retry=RetryPolicy(s.retry_initial_s, s.retry_max_s, s.max_retries if max_retries is None else max_retries),
        pace_to_source=realtime and not paced,
        wait_at_start=wait_at_start,
    )
    return source, grabber


def close_classifier(classifier: Classifier) -> None:
    """Release the model (on a Jetson: the engine, GPU buffers and CUDA context, in that order)."""
    try:
        classifier.close()
    except Exception as exc:  # the process is ending anyway; say so and carry on
        log.warning("releasing the %s classifier failed: %s: %s", classifier.backend, type(exc).__name__, exc)


def start_checks(web: WebConfig | None) -> Credentials | None:
    """The live view's files and credentials, read before the model loads and the camera opens."""
    if web is None or not web.enabled:
        return None
    web.check_files()
    return web.credentials()


def run_device(
    config: DeviceConfig,
    max_frames: int | None = None,
    extra_sinks: list[ResultSink] | None = None,
    web: WebConfig | None = None,
) -> int:
    """Run until stopped; 0 when stopped or the source ended, 1 on a fault found while running that
    cannot heal (the source given up, the detector or classifier failing on ``health.max_failed_frames``
    frames in a row, a file source that yielded no frame).
    ``web`` replaces the configuration's ``[web]`` table (the live view)."""
    stopping = threading.Event()
    sinks: list[ResultSink] = []
    window: Window | None = None
    recorder: Recorder | None = None
    grabber: FrameGrabber | None = None
    frame_sinks: list[WebView] = []
    pipeline: FacePipeline | None = None
    # Under systemd (Type=notify) the loop reports READY, WATCHDOG and STATUS; everywhere, a camera
    # that gives no first frame within source.first_frame_timeout_s is logged.
    notifier = Notifier.from_env()
    heartbeat = Heartbeat(notifier, first_frame_timeout_s=config.source.first_frame_timeout_s)
    why = "error"
    with stop_on_signals(stopping.set):
        try:
            # Output problems (no display, no such folder) show up before the camera is opened.
            if config.output.show:
                window = Window()
            if config.output.record:
                recorder = Recorder(config.output.record, config.source.fps)
            web_config = web if web is not None else config.web
            web_credentials = start_checks(web_config)
            # A source no waiting can fix (a typo, a text file named .mp4, a FIFO) stops the start
            # here, before the model loads; the source itself is opened once the loop is ready.
            source, grabber = make_grabber(config)
            notifier.status("loading the model (on a Jetson, the first start builds the TensorRT engine)")
            # An engine build takes minutes on a Jetson: systemd hears that the start progresses.
            pipeline = build_pipeline(
                config, while_building=lambda engine: notifier.extending(f"building the TensorRT engine {engine.name}")
            )
            heartbeat.backend = f"{pipeline.classifier.backend}: {pipeline.classifier.reason}"
            sinks = list(extra_sinks or [])
            sinks += build_sinks(config, pipeline, web_config)
            if web_config is not None and web_config.enabled:
                from edge.web.view import WebView

                view = WebView(web_config, pipeline.classifier.info.classes, credentials=web_credentials)
                view.start()  # a port in use stops the start here, before the camera is opened
                sinks.append(view)  # closed with the other sinks
                frame_sinks.append(view)
            grabber.start()
            if recorder is not None:
                recorder.fps = source.nominal_fps
            loop = FrameLoop(
                grabber,
                pipeline,
                sinks,
                LoopStats(config.stats.window),
                config.stats.interval_s,
                window,
                recorder,
                stop_event=stopping,
                heartbeat=heartbeat,
                frame_sinks=frame_sinks,
                max_failed_frames=config.health.max_failed_frames,
            )
            for consumer in frame_sinks:
                consumer.stats_source = loop.snapshot
            log.info("running on %s; stop with Ctrl+C or SIGTERM", grabber.uri)
            notifier.status(f"waiting for the first frame from {grabber.uri}")
            summary = loop.run(max_frames=max_frames)
            why = f"{summary.reason}: {summary.error}" if summary.error else summary.reason
        finally:
            notifier.stopping(f"stopping: {why}")
            if grabber is not None:
                grabber.stop()
            if recorder is not None:
                recorder.close()
            if window is not None:
                window.close()
            close_sinks(sinks)
            if pipeline is not None:
                close_classifier(pipeline.classifier)  # after the sinks: nothing classifies any more
            notifier.close()
    log.info("stopped (%s) after %d frames: %s", summary.reason, summary.frames, format_line(summary.stats))
    if summary.reason in ("source failed", "failed"):
        # A fault that cannot heal: the source given up, a model failing on every frame, a file
        # that yielded no frame. The last stats report said state "failed"; the status says why.
        log.error("%s", summary.error)
        return 1
    return 0
