"""The bounded hand-over between the frame loop and the network thread.

Two kinds of message, kept apart because they age differently:

- retained messages are *state* (availability, the main face's emotion, discovery configs): only
  the latest value of a topic matters, so a newer one replaces a queued older one (counted as
  ``superseded``), and the whole state is sent again on every (re)connect, because a restarted
  broker may have lost it and our last will may have overwritten ``online``;
- everything else is a *stream* (faces, stats): a FIFO of at most ``capacity`` messages; when it is
  full the oldest goes first (counted as ``overflow``), because a subscriber wants the newest frames.

``put`` never blocks beyond a short lock, so the frame loop never waits on the network.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False


@dataclass(frozen=True)
class OutboxCounts:
    put: int  # stream messages accepted
    overflow: int  # stream messages dropped, oldest first, because the queue was full
    superseded: int  # retained messages replaced by a newer value before they were sent
    depth: int  # stream messages waiting now
    capacity: int
    pending_state: int  # retained topics waiting to be (re)sent


class Outbox:
    def __init__(self, capacity: int, notify: Callable[[], None] | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"outbox capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._notify = notify
        self._lock = threading.Lock()
        self._stream: deque[Message] = deque()
        self._state: dict[str, Message] = {}
        self._dirty: OrderedDict[str, None] = OrderedDict()
        self._put = 0
        self._overflow = 0
        self._superseded = 0

    def set_notify(self, notify: Callable[[], None] | None) -> None:
        self._notify = notify

    def put(self, message: Message) -> None:
        with self._lock:
            if message.retain:
                if message.topic in self._dirty:
                    self._superseded += 1
                else:
                    self._dirty[message.topic] = None
                self._state[message.topic] = message
            else:
                self._put += 1
                if len(self._stream) >= self.capacity:
                    self._stream.popleft()
                    self._overflow += 1
                self._stream.append(message)
        if self._notify is not None:
            self._notify()

    def pop(self) -> Message | None:
        """The next message to send: pending state first, then the stream in order."""
        with self._lock:
            if self._dirty:
                topic, _ = self._dirty.popitem(last=False)
                return self._state[topic]
            if self._stream:
                return self._stream.popleft()
            return None

    def unpop(self, message: Message) -> None:
        """Give back a message that could not be handed to the network after all."""
        with self._lock:
            if message.retain:
                if message.topic not in self._dirty and self._state.get(message.topic) is message:
                    self._dirty[message.topic] = None
                    self._dirty.move_to_end(message.topic, last=False)
            elif len(self._stream) >= self.capacity:
                self._overflow += 1  # it is the oldest message there is, so it is the one to go
            else:
                self._stream.appendleft(message)

    def resend_state(self, topics: Iterable[str] | None = None) -> None:
        """Queue the retained state again (all of it, or these topics), in the order it was first set.

        State that changed while the connection was down is already pending: it takes its place in
        that order too, so ``online`` (set first) goes out before an emotion or presence that changed
        meanwhile, as docs/mqtt.md promises."""
        with self._lock:
            wanted = set(self._state) if topics is None else set(topics) & set(self._state)
            wanted |= set(self._dirty)
            self._dirty = OrderedDict((topic, None) for topic in self._state if topic in wanted)
        if self._notify is not None:
            self._notify()

    def state(self, topic: str) -> Message | None:
        with self._lock:
            return self._state.get(topic)

    def is_empty(self) -> bool:
        with self._lock:
            return not self._dirty and not self._stream

    def counts(self) -> OutboxCounts:
        with self._lock:
            return OutboxCounts(
                put=self._put,
                overflow=self._overflow,
                superseded=self._superseded,
                depth=len(self._stream),
                capacity=self.capacity,
                pending_state=len(self._dirty),
            )
