"""``emotion-edge watch`` never dies on a message: hostile payloads (deeply nested JSON, a huge
payload, terminal escape sequences) published to a real broker while watch runs in its own process."""

from __future__ import annotations

import json

import pytest

from edge.mqtt.watch import MAX_PAYLOAD, clean, decode, too_deep
from tests.edge.mqtt.broker import Broker
from tests.edge.mqtt.clients import Subscriber, face, frame
from tests.edge.mqtt.conftest import DEVICE
from tests.edge.mqtt.test_untrusted import INVISIBLE, strict_loads
from tests.edge.mqtt.test_watch import watch  # noqa: F401  (the fixture: watch in a subprocess)

NESTED = "[" * 20_000 + "]" * 20_000  # 40 KB; "maximum recursion depth exceeded" in json.loads
HUGE = json.dumps({"v": 1, "emotion": "happy", "pad": "x" * (2 * MAX_PAYLOAD)})
CLEAR = '{"v": 1, "ts": 1, "emotion": "\\u001b[2J\\u001b[Hhappy\\u0007", "score": 0.5, "face_id": 1}'
RAW_ESCAPE = '{"v": 1, "ts": 1, "emotion": "sad\x1b[2J\x9b31m", "score": 0.5, "face_id": 1}'
# Not JSON at all, though Python's reader takes it (and its writer wrote it back: invalid output).
NAN = '{"v": 1, "ts": 1, "fps": NaN, "latency_ms": Infinity}'
ZERO_WIDTH = json.dumps({"v": 1, "ts": 1, "emotion": f"ha{INVISIBLE}ppy", "score": 0.5, "face_id": 1})
BIG_ID = json.dumps(
    {"v": 1, "ts": 1, "main_face": 1, "faces": [{"id": int("9" * 4000), "emotion": "sad", "score": 0.5}]}
)


def hostile(sender: Subscriber) -> None:
    evil = "emotion-edge/evil"
    sender.publish(f"{evil}/emotion", NESTED)
    sender.publish(f"{evil}/faces", NESTED)
    sender.publish(f"{evil}/stats", HUGE)
    sender.publish(f"{evil}/emotion", CLEAR)
    sender.publish("emotion-edge/esc/emotion", RAW_ESCAPE)
    sender.publish(f"{evil}/availability", "on\x1b[2Jline\x07")
    for _ in range(5):
        sender.publish(f"{evil}/faces", NESTED)
    sender.publish("emotion-edge/nan/stats", NAN)
    sender.publish(f"emotion-edge/zw{INVISIBLE}/emotion", ZERO_WIDTH)
    sender.publish("emotion-edge/big/faces", BIG_ID)


@pytest.mark.parametrize("mode", ["table", "json"])
def test_watch_survives_nested_huge_and_escape_sequence_payloads_and_names_the_topic_once(
    mode: str,
    make_publisher,
    broker: Broker,
    watch,  # noqa: F811
) -> None:
    args = ["--host", broker.host, "--port", str(broker.port)] + (["--json"] if mode == "json" else [])
    w = watch(*args)
    sender = Subscriber(broker.port, topics=("nothing/#",)).start()
    try:
        p = make_publisher()
        w.wait_line(lambda line: DEVICE in line)  # it runs and shows the real device
        hostile(sender)
        p.handle_frame(frame(1, face(7, "surprise", 0.93)))  # a good message after the bad ones
        if mode == "json":
            w.wait_line(lambda line: '"esc"' in line)  # shown as text, the control characters gone
            w.wait_line(lambda line: '"device": "big"' in line)
            w.wait_line(lambda line: '"kind": "emotion"' in line and '"surprise"' in line)
        else:
            w.wait_line(lambda line: line.split()[:1] == ["big"])
            w.wait_line(lambda line: "7*" in line.split() and "surprise" in line.split())
    finally:
        sender.stop()
    w.stop()
    status, err, lines = w.finish()
    assert status == 0, err  # alive until asked to stop
    printed = "\n".join(lines)
    assert "\x1b" not in printed and "\x07" not in printed and "\x9b" not in printed
    assert not [ch for ch in INVISIBLE if ch in printed]
    if mode == "json":  # every line is JSON a strict reader takes; NaN is shown as text, marked
        got = [strict_loads(line) for line in lines]
        (nan,) = [m for m in got if isinstance(m, dict) and m.get("device") == "nan"]
        assert nan["payload"] == NAN and nan["error"] == "payload is not valid JSON"
    else:  # the 4000-digit face id is cut to its cell
        (big,) = [line for line in lines if line.split()[:1] == ["big"]]
        assert big.split()[3] == "99999…" and len(big) < 120
    assert "maximum recursion" not in err and "Traceback" not in err
    # The offending topics are named once per interval, not once per message.
    assert err.count("on emotion-edge/evil/faces") == 1, err
    assert "nested deeper than" in err and "bytes, over the" in err, [line[:150] for line in err.splitlines()]
    if mode == "table":  # raw control characters make it invalid JSON: named, not shown
        assert "ignored a message on emotion-edge/esc/emotion: not valid JSON" in err
    assert "\x1b" not in err


def test_the_guards_themselves() -> None:
    assert too_deep(NESTED) and not too_deep('{"a": [[1, 2], {"b": "[[[[[[[[[[[[[[[[[[[[[[["}]}')
    with pytest.raises(ValueError, match="over the"):
        decode("stats", HUGE.encode())
    assert clean("a\x1b[2Jb\u202ec\x9bd") == "a[2Jbcd"
    assert len(clean("x" * 500)) == 40
