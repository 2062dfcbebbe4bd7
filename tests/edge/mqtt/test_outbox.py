"""The bounded queue between the frame loop and the network."""

from __future__ import annotations

import threading

from edge.mqtt.outbox import Message, Outbox


def stream(i: int) -> Message:
    return Message("d/faces", str(i).encode())


def test_a_full_queue_drops_the_oldest_stream_messages_and_counts_them() -> None:
    box = Outbox(3)
    for i in range(5):
        box.put(stream(i))
    assert [box.pop().payload for _ in range(3)] == [b"2", b"3", b"4"]  # type: ignore[union-attr]
    c = box.counts()
    assert (c.put, c.overflow, c.depth) == (5, 2, 0)


def test_retained_state_is_never_dropped_keeps_only_its_latest_value_and_goes_first() -> None:
    box = Outbox(2)
    box.put(Message("d/availability", b"online", 1, retain=True))
    for i in range(4):
        box.put(stream(i))
    box.put(Message("d/emotion", b"happy", 1, retain=True))
    box.put(Message("d/emotion", b"sad", 1, retain=True))
    order = []
    while (m := box.pop()) is not None:
        order.append((m.topic, m.payload))
    assert order == [("d/availability", b"online"), ("d/emotion", b"sad"), ("d/faces", b"2"), ("d/faces", b"3")]
    c = box.counts()
    assert (c.overflow, c.superseded) == (2, 1)


def test_the_state_is_queued_again_on_request_in_its_first_order() -> None:
    box = Outbox(4)
    box.put(Message("d/availability", b"online", 1, retain=True))
    box.put(Message("d/emotion", b"happy", 1, retain=True))
    while box.pop() is not None:
        pass
    box.resend_state()
    assert [box.pop().topic, box.pop().topic, box.pop()] == ["d/availability", "d/emotion", None]  # type: ignore[union-attr]


def test_a_message_given_back_goes_first_and_the_bound_still_holds() -> None:
    box = Outbox(2)
    box.put(stream(1))
    first = box.pop()
    assert first is not None
    box.put(stream(2))
    box.put(stream(3))
    box.unpop(first)  # full: the given-back message is the oldest, so it is the one dropped
    assert box.counts().depth == 2 and box.counts().overflow == 1


def test_put_from_many_threads_keeps_the_bound_and_the_count() -> None:
    box = Outbox(50)
    woken = []
    box.set_notify(lambda: woken.append(1))

    def feed() -> None:
        for i in range(1000):
            box.put(stream(i))

    threads = [threading.Thread(target=feed) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c = box.counts()
    assert c.depth == 50 and c.put == 4000 and c.overflow == 3950 and len(woken) == 4000


def test_state_that_changed_while_away_is_resent_in_the_first_order_after_online() -> None:
    box = Outbox(4)
    box.put(Message("d/availability", b"online", 1, retain=True))
    box.put(Message("d/presence", b"0", 1, retain=True))
    box.put(Message("d/emotion", b"happy", 1, retain=True))
    while box.pop() is not None:
        pass
    box.put(Message("d/emotion", b"sad", 1, retain=True))  # changed while the connection was down
    box.put(Message("d/presence", b"1", 1, retain=True))
    box.resend_state()  # reconnected
    order = [(m.topic, m.payload) for m in iter(box.pop, None)]
    assert order == [("d/availability", b"online"), ("d/presence", b"1"), ("d/emotion", b"sad")]
