"""The connection: one thread that owns the paho client, connects, reconnects and sends.

Nothing else touches paho, so no paho call ever runs on the frame loop's thread. The thread waits
in ``select`` on the broker's socket and a wake-up socket that ``Outbox.put`` pokes; it connects in
the background (the device runs while the broker is down), retries with exponential backoff and
jitter, and hands messages to paho only while at most ``max_inflight`` are unconfirmed, so paho's
own (unbounded) queues never grow: the bounded outbox is the only place messages wait.

What can be lost is counted: ``lost`` are QoS 0 messages that were handed to the socket but not
yet written when the connection dropped; ``rejected`` are publishes an MQTT 5 broker refused;
``invalid`` are messages paho refused to encode. QoS 1 and 2 messages in flight when the
connection drops are sent again by paho after reconnecting.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from edge.mqtt.client.connection import (
    Endpoint,
    Failure,
    connect,
    describe_early_close,
    describe_exception,
    describe_refusal,
    new_client,
)
from edge.mqtt.config import MqttConfig
from edge.mqtt.outbox import Message, Outbox

log = logging.getLogger("edge.mqtt")

# A connection that lasted this long was healthy: the next retry starts from the shortest wait
# again. One that dies sooner (a client id taken over by another device, a broker that accepts and
# drops us) keeps backing off instead of hammering the broker.
STABLE_S = 10.0
# A failure that repeats is logged at most this often; every change of failure is logged at once.
REPEAT_LOG_S = 60.0


class Backoff:
    """Exponential backoff with jitter: each wait is uniform in [d/2, d], d doubling up to ``longest``."""

    def __init__(self, first: float, longest: float, rng: Callable[[], float] = random.random) -> None:
        self.first = first
        self.longest = longest
        self._rng = rng
        self._current = first

    def next(self) -> float:
        delay = self._current
        self._current = min(self._current * 2, self.longest)
        return delay * (0.5 + 0.5 * self._rng())

    def reset(self) -> None:
        self._current = self.first


@dataclass(frozen=True)
class LinkCounts:
    sent: int  # written (QoS 0) or acknowledged (QoS 1, 2)
    lost: int
    rejected: int
    invalid: int
    in_flight: int  # handed to paho, not yet written or acknowledged
    connects: int
    disconnects: int
    connected: bool


class Link:
    def __init__(
        self,
        config: MqttConfig,
        client_id: str,
        outbox: Outbox | None = None,
        will: Message | None = None,
        subscriptions: Sequence[tuple[str, int]] = (),
        on_connected: Callable[[], None] | None = None,
        on_message: Callable[[str, bytes, bool], None] | None = None,
        on_failure: Callable[[Failure], None] | None = None,
        name: str = "mqtt",
    ) -> None:
        self.config = config
        self.client_id = client_id
        self.outbox = outbox if outbox is not None else Outbox(1)
        self._will = will
        self._subscriptions = list(subscriptions)
        self._on_connected = on_connected
        self._on_message = on_message
        self._on_failure = on_failure
        self._name = name
        self._host = config.host
        self._port = config.resolved_port
        self._endpoint = Endpoint.of(config, client_id)
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s)
        self._client: mqtt.Client | None = None
        self._thread: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._retry_at = 0.0
        self._connected = False
        self._connected_at = 0.0
        self._connect_started = 0.0
        self._aborting = False
        self._unconfirmed: dict[int, Message] = {}
        self._sent = self._lost = self._rejected = self._invalid = 0
        self._connects = self._disconnects = 0
        self._attempts = 0
        self._last_failure: Failure | None = None
        self._attempt_failed = False
        self._logged: tuple[str, float] = ("", 0.0)
        self._last_paho_error = ""
        self._rejected_topics: set[str] = set()

    # --- the caller's side ---------------------------------------------------------------------

    def start(self) -> None:
        """Build the client (reading the password now) and start the network thread; returns at once."""
        if self._thread is not None:
            raise RuntimeError("the MQTT link is already started")
        self._client = self._new_client()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.outbox.set_notify(self.wake)
        self._thread = threading.Thread(target=self._run, name=f"{self._name}-link", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Have the network thread look at the outbox now (called from any thread; never blocks)."""
        w = self._wake_w
        if w is None:
            return
        # A full buffer means a wake-up is already pending; a closed one means we are done.
        with contextlib.suppress(OSError):
            w.send(b"\0")

    def stop(self, flush_timeout_s: float) -> int:
        """Send what is queued for up to ``flush_timeout_s``, disconnect, and stop the thread.
        Returns how many messages were left unsent (also logged)."""
        thread = self._thread
        if thread is None:
            return 0
        self._deadline = time.monotonic() + flush_timeout_s
        self._stopping.set()
        self.wake()
        # A connection attempt already under way cannot be interrupted; give it its own timeout.
        thread.join(flush_timeout_s + self.config.connect_timeout_s + 1.0)
        if thread.is_alive():
            log.warning("MQTT: the network thread did not stop in time; leaving it behind (it is a daemon)")
        counts = self.outbox.counts()
        unsent = counts.depth + counts.pending_state + len(self._unconfirmed)
        if unsent:
            log.warning(
                "MQTT: stopped with %d message(s) unsent after %.1f s (%d queued, %d state, %d unacknowledged)",
                unsent,
                flush_timeout_s,
                counts.depth,
                counts.pending_state,
                len(self._unconfirmed),
            )
        return unsent

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def last_failure(self) -> Failure | None:
        """The latest failure to connect; None once connected."""
        return self._last_failure

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def counts(self) -> LinkCounts:
        return LinkCounts(
            sent=self._sent,
            lost=self._lost,
            rejected=self._rejected,
            invalid=self._invalid,
            in_flight=len(self._unconfirmed),
            connects=self._connects,
            disconnects=self._disconnects,
            connected=self._connected,
        )

    # --- the network thread --------------------------------------------------------------------

    def _new_client(self) -> mqtt.Client:
        client = new_client(self.config, self.client_id, self._will)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        client.on_log = self._handle_log
        return client

    def _run(self) -> None:
        while True:
            try:
                if self._step():
                    break
            except Exception:
                # The thread must outlive any surprise: drop the connection and start over.
                log.exception("MQTT: unexpected error in the network thread; reconnecting")
                self._abort()
                self._schedule_retry()
        try:
            self._finish()
        except Exception:
            log.exception("MQTT: unexpected error while disconnecting")
        finally:
            wake_r, wake_w = self._wake_r, self._wake_w
            self._wake_w = None  # first, so that wake() from another thread stops using it
            for s in (wake_r, wake_w):
                if s is not None:
                    s.close()

    def _step(self) -> bool:
        """One turn of the loop; True when it is time to leave."""
        client = self._client
        assert client is not None
        now = time.monotonic()
        stopping = self._stopping.is_set()
        if stopping and (now >= self._deadline or self._flushed()):
            return True
        sock = client.socket()
        buffered = False
        rlist: list[Any] = [self._wake_r]
        wlist: list[Any] = []
        if sock is None:
            hopeless = self._last_failure is not None and self._last_failure.permanent
            if stopping and (hopeless or self._retry_at >= self._deadline):
                return True  # nothing can be flushed before the deadline
            if now >= self._retry_at:
                self._connect()
                return False
            timeout = self._retry_at - now
        else:
            self._pump(client)
            sock = client.socket()
            if sock is None:
                return False
            rlist.append(sock)
            if client.want_write():
                wlist.append(sock)
            # TLS may hold decrypted bytes that select cannot see.
            pending = getattr(sock, "pending", None)
            buffered = pending is not None and pending() > 0
            timeout = 0.0 if buffered else 1.0
        if stopping:
            timeout = min(timeout, max(0.0, self._deadline - now))
        readable, writable, _ = select.select(rlist, wlist, [], timeout)
        if self._wake_r in readable:
            self._drain_wake()
        if sock is not None:
            if sock in readable or buffered:
                client.loop_read()
            if client.socket() is not None and sock in writable:
                client.loop_write()
            if client.socket() is not None:
                client.loop_misc()
            waited = time.monotonic() - self._connect_started
            if not self._connected and client.socket() is not None and waited >= self.config.connect_timeout_s:
                self._give_up_connecting()
        return False

    def _give_up_connecting(self) -> None:
        """The broker took the connection but has not accepted it (no CONNACK) in time."""
        self._abort()
        self._fail(
            Failure(
                f"{self._endpoint} took the connection but did not accept it within "
                f"{self.config.connect_timeout_s:g} s: is it an MQTT broker that speaks MQTT {self.config.protocol}, "
                "and is it responsive?"
            )
        )
        self._schedule_retry()

    def _connect(self) -> None:
        client = self._client
        assert client is not None
        self._attempts += 1
        self._attempt_failed = False
        self._last_paho_error = ""
        self._connect_started = time.monotonic()
        try:
            connect(client, self.config)
        except Exception as exc:
            self._fail(describe_exception(exc, self._endpoint))
            self._schedule_retry()
        # On success CONNECT is on its way; the CONNACK arrives through loop_read, or the attempt is
        # given up after connect_timeout_s (see _step).

    def _pump(self, client: mqtt.Client) -> None:
        """Hand queued messages to paho while connected and under the in-flight limit."""
        while self._connected and len(self._unconfirmed) < self.config.max_inflight:
            message = self.outbox.pop()
            if message is None:
                return
            try:
                info = client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
            except (ValueError, TypeError) as exc:
                self._invalid += 1
                log.error("MQTT: cannot publish to %s (%s); message dropped", message.topic, exc)
                continue
            if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and message.qos == 0:
                self.outbox.unpop(message)  # the connection went away under us; try again later
                return
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                self._invalid += 1
                reason = mqtt.error_string(info.rc)
                log.error("MQTT: publishing to %s failed: %s; message dropped", message.topic, reason)
                continue
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS and info.is_published():
                self._sent += 1  # QoS 0, written to the socket at once
            else:
                self._unconfirmed[info.mid] = message

    def _flushed(self) -> bool:
        return self.outbox.is_empty() and not self._unconfirmed

    def _finish(self) -> None:
        client = self._client
        if client is None or client.socket() is None:
            return
        if self._connected:
            client.disconnect()  # queued behind anything unsent; written now if the socket takes it
            end = time.monotonic() + 0.5
            while (sock := client.socket()) is not None and client.want_write() and time.monotonic() < end:
                select.select([], [sock], [], 0.1)
                client.loop_write()
        if client.socket() is not None:
            self._abort()

    def _abort(self) -> None:
        """Drop the connection without DISCONNECT; the broker then publishes our will (offline)."""
        client = self._client
        sock = client.socket() if client is not None else None
        if client is None or sock is None:
            return
        self._aborting = True
        try:
            sock.close()
            client.loop_read()  # paho finds the socket closed, forgets it and reports the disconnect
        except Exception:
            log.debug("MQTT: error while dropping the connection", exc_info=True)
        finally:
            self._aborting = False
        if client.socket() is not None:
            # paho's state is unknown now: start from a fresh client. What the old one still held
            # will never be confirmed, so it is lost, and counted.
            self._lost += len(self._unconfirmed)
            self._unconfirmed.clear()
            self._client = self._new_client()
            self._connected = False

    def _schedule_retry(self) -> None:
        now = time.monotonic()
        if self._retry_at > now:
            return  # one failure can be reported twice (a drop we caused, then its disconnect)
        self._retry_at = now + self._backoff.next()

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        with contextlib.suppress(OSError):  # BlockingIOError: drained
            while self._wake_r.recv(4096):
                pass

    def _fail(self, failure: Failure) -> None:
        self._attempt_failed = True
        self._last_failure = failure
        now = time.monotonic()
        message, logged_at = self._logged
        if failure.message != message or now - logged_at >= REPEAT_LOG_S:
            log.warning("MQTT: %s (attempt %d; retrying in the background)", failure.message, self._attempts)
            self._logged = (failure.message, now)
        else:
            log.debug("MQTT: %s (attempt %d)", failure.message, self._attempts)
        if self._on_failure is not None:
            try:
                self._on_failure(failure)
            except Exception:
                log.exception("MQTT: error in the failure handler")

    # --- paho callbacks (on the network thread, inside loop_read/loop_write/loop_misc) ---------

    def _handle_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._fail(describe_refusal(reason, self._endpoint))
            return  # paho closes the socket next and reports the disconnect
        self._connected = True
        self._connected_at = time.monotonic()
        self._connects += 1
        self._last_failure = None
        self._logged = ("", 0.0)
        log.info(
            "MQTT: connected to %s:%d as %s (MQTT %s%s)",
            self._host,
            self._port,
            self.client_id,
            self.config.protocol,
            ", TLS" if self.config.tls.enabled else "",
        )
        if self._subscriptions:
            client.subscribe(self._subscriptions)
        if self._on_connected is not None:
            try:
                self._on_connected()
            except Exception:
                log.exception("MQTT: error in the on-connect handler")

    def _handle_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        now = time.monotonic()
        was_connected = self._connected
        self._connected = False
        lost = [mid for mid, m in self._unconfirmed.items() if m.qos == 0]
        for mid in lost:
            del self._unconfirmed[mid]
        self._lost += len(lost)
        if was_connected:
            self._disconnects += 1
            if self._stopping.is_set():
                log.info("MQTT: disconnected from %s:%d", self._host, self._port)
            else:
                log.warning(
                    "MQTT: connection to %s:%d lost (%s)%s; reconnecting in the background",
                    self._host,
                    self._port,
                    self._last_paho_error or reason,
                    f", {len(lost)} message(s) lost" if lost else "",
                )
            if now - self._connected_at >= STABLE_S:
                self._backoff.reset()
        elif not self._attempt_failed and not self._aborting and not self._stopping.is_set():
            detail = self._last_paho_error or str(reason)
            self._fail(describe_early_close(detail, self._endpoint))
        self._schedule_retry()

    def _handle_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        message = self._unconfirmed.pop(mid, None)
        if message is None:
            return  # QoS 0 written inside publish(); counted there
        if reason is not None and reason.is_failure:
            self._rejected += 1
            if message.topic not in self._rejected_topics:
                self._rejected_topics.add(message.topic)
                log.warning("MQTT: the broker refused a message on %s (%s); check its ACL", message.topic, reason)
        else:
            self._sent += 1

    def _handle_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._on_message is None:
            return
        try:
            self._on_message(message.topic, bytes(message.payload), bool(message.retain))
        except Exception:
            log.exception("MQTT: error handling a message on %s", message.topic)

    def _handle_log(self, client: mqtt.Client, userdata: Any, level: int, text: str) -> None:
        if level == mqtt.MQTT_LOG_ERR:
            self._last_paho_error = text  # the detail behind a dropped connection (e.g. a TLS alert)
        log.debug("paho: %s", text)
