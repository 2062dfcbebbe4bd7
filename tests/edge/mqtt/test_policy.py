"""When frames become messages: exact, with an explicit clock."""

from __future__ import annotations

from edge.mqtt.policy import FacesThrottle, Interval, MainEmotion, PresenceThrottle


def publish(t: FacesThrottle, now: float, faces: dict[int, str]) -> bool:
    """What the publisher does: ask, and record the message as sent when it goes out."""
    if t.due(now, faces):
        t.sent(now, faces)
        return True
    return False


def follow(m: MainEmotion, now: float, emotion: str | None) -> str | None:
    new = m.update(now, emotion)
    if new is not None:
        m.sent(new)
    return new


def test_faces_publish_at_once_on_a_change_and_at_most_every_interval_otherwise() -> None:
    t = FacesThrottle(interval_s=0.5, min_interval_s=0.0)
    happy = {1: "happy"}
    assert publish(t, 0.00, happy)  # a face appeared
    assert not publish(t, 0.10, happy)
    assert not publish(t, 0.49, happy)
    assert publish(t, 0.50, happy)  # steady: once per interval
    assert publish(t, 0.55, {1: "sad"})  # its emotion changed
    assert publish(t, 0.60, {1: "sad", 2: "happy"})  # another face appeared
    assert publish(t, 0.61, {2: "happy"})  # one left
    assert not publish(t, 0.70, {2: "happy"})


def test_when_the_last_face_leaves_one_empty_message_says_so_then_silence() -> None:
    t = FacesThrottle(interval_s=0.5, min_interval_s=0.0)
    assert not publish(t, 0.0, {})  # nothing seen yet: nothing to say
    assert publish(t, 0.1, {1: "happy"})
    assert publish(t, 0.2, {})
    assert not publish(t, 0.3, {})
    assert not publish(t, 5.0, {})


def test_changes_wait_for_the_minimum_interval_but_are_not_lost() -> None:
    t = FacesThrottle(interval_s=1.0, min_interval_s=0.2)
    assert publish(t, 0.0, {1: "happy"})
    assert not publish(t, 0.05, {1: "sad"})  # too soon after the last message
    assert not publish(t, 0.15, {1: "sad"})
    assert publish(t, 0.20, {1: "sad"})  # published as soon as allowed
    assert not publish(t, 0.30, {1: "sad"})


def test_a_message_that_was_not_sent_is_still_due_on_the_next_frame() -> None:
    t = FacesThrottle(interval_s=1.0, min_interval_s=0.0)
    assert t.due(0.0, {1: "happy"})  # asked, but the message could not be built
    assert t.due(0.1, {1: "happy"})
    m = MainEmotion(none_after_s=1.0, start=0.0)
    assert m.update(0.0, "happy") == "happy"
    assert m.update(0.1, "happy") == "happy"


def test_the_main_emotion_is_published_on_change_only() -> None:
    m = MainEmotion(none_after_s=2.0, start=0.0)
    assert follow(m, 0.0, "happy") == "happy"
    assert follow(m, 0.1, "happy") is None
    assert follow(m, 0.2, "sad") == "sad"
    assert follow(m, 0.3, "sad") is None


def test_none_comes_after_no_face_for_the_configured_time_and_once() -> None:
    m = MainEmotion(none_after_s=2.0, start=0.0)
    assert follow(m, 1.0, "happy") == "happy"
    assert follow(m, 1.5, None) is None  # a brief miss does not flap the state
    assert follow(m, 2.9, None) is None
    assert follow(m, 3.0, None) == "none"
    assert follow(m, 4.0, None) is None
    assert follow(m, 4.1, "happy") == "happy"


def test_none_is_published_when_no_face_is_seen_after_start() -> None:
    m = MainEmotion(none_after_s=1.0, start=10.0)
    assert follow(m, 10.5, None) is None
    assert follow(m, 11.0, None) == "none"


def test_stats_go_at_most_once_per_interval_with_a_little_slack_for_jitter() -> None:
    i = Interval(10.0)
    assert i.due(0.0)
    assert not i.due(5.0)
    assert i.due(9.5)  # a reporter on the same 10 s period, a bit early
    assert not i.due(12.0)
    assert i.due(19.6)


def test_presence_goes_out_on_a_change_and_refreshes_its_score_at_a_bounded_rate() -> None:
    t = PresenceThrottle(interval_s=5.0, min_interval_s=0.1)

    def send(now: float, key: tuple[object, ...], detail: tuple[object, ...]) -> bool:
        if t.due(now, key, detail):
            t.sent(now, key, detail)
            return True
        return False

    one = (1, True, "happy")
    assert send(0.0, one, (0.8, 1))  # a face appeared
    assert not send(0.05, (2, True, "happy"), (0.8, 1))  # a change, but too soon after the last
    assert send(0.10, (2, True, "happy"), (0.8, 1))  # ... so it goes out as soon as allowed
    assert not send(1.0, (2, True, "happy"), (0.9, 1))  # the score moved: not before the interval
    assert not send(5.09, (2, True, "happy"), (0.9, 1))
    assert send(5.10, (2, True, "happy"), (0.9, 1))  # refreshed within the interval
    assert not send(20.0, (2, True, "happy"), (0.9, 1))  # nothing moved: nothing to send
    assert send(20.0, (0, True, "happy"), ())  # the faces left
    assert send(23.0, (0, False, "none"), ())  # nobody for the hold time: not occupied
