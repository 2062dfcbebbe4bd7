"""What anyone can publish, read safely: the limits and cleaning ``watch`` and ``mqtt devices`` share,
and the table ``watch`` builds from it (cells cut, devices capped, offline devices without figures)."""

from __future__ import annotations

import json

import pytest

from edge.mqtt.untrusted import Unusable, clean, dumps, parse_json
from edge.mqtt.watch import LIMITS, MAX_DEVICES, MAX_FACES, WatchState, decode, format_row

# Characters that change what a line reads as without showing themselves (Unicode Cf, Zl, Zp).
INVISIBLE = "\u200b\ufeff\u2028\u2029\u061c\u202e\u2066\u2069\u200e\u00ad\u2060"


def strict_loads(text: str) -> object:
    """A JSON reader that takes only RFC 8259 JSON (Python's default takes NaN and Infinity)."""

    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_zero_width_direction_and_separator_characters_are_stripped_and_real_text_kept() -> None:
    assert clean(f"ha{INVISIBLE}ppy", None) == "happy"
    assert clean("a\x1b]0;title\x07b\x1b[2J\x9bc", None) == "a]0;titleb[2Jc"
    assert clean("joie é 日本 😀\u00a0ok", None) == "joie é 日本 😀\u00a0ok"  # letters, emoji, no-break space stay
    assert clean("x\ud800y", None) == "xy"  # a lone surrogate (valid JSON escape) cannot be printed


@pytest.mark.parametrize("payload", [b'{"fps": NaN}', b'{"fps": Infinity}', b'{"fps": -Infinity}', b'{"fps": 1e999}'])
def test_nan_infinity_and_overflowing_numbers_are_not_json(payload: bytes) -> None:
    with pytest.raises(Unusable, match="not valid JSON"):
        parse_json(payload)
    text, ok = decode("stats", payload)
    assert not ok and text == payload.decode()  # watch --json shows it as text, marked as not JSON
    with pytest.raises(ValueError):
        dumps({"fps": float("nan")})


def test_every_cell_of_the_table_is_cut_to_its_column() -> None:
    state = WatchState()
    huge_id = int("9" * 4000)
    state.update("d" * 300, "faces", {"faces": [{"id": huge_id, "emotion": "sad" * 100, "score": 0.5}]})
    state.update("d" * 300, "stats", {"fps": 9999.5})
    (row,) = state.rows("d" * 300)
    line = format_row(row)
    assert len(line) <= sum(LIMITS) + 2 * (len(LIMITS) - 1), len(line)
    cells = line.split()
    assert cells[3] == "99999…" and cells[0].endswith("…") and cells[4].endswith("…")


def test_an_offline_device_shows_no_stale_figures() -> None:
    state = WatchState()
    state.update("cam", "availability", "online")
    state.update("cam", "stats", {"fps": 14.9})
    state.update("cam", "emotion", {"emotion": "happy", "score": 0.9})
    state.update("cam", "faces", {"main_face": 3, "faces": [{"id": 3, "emotion": "happy", "score": 0.9}]})
    state.update("cam", "availability", "offline")
    assert state.rows("cam") == [("cam", "offline", "-", "-", "-", "-")]
    state.update("cam", "emotion", {"emotion": "sad", "score": 0.4})  # a retained message after the fact
    assert state.rows("cam") == [("cam", "offline", "-", "-", "-", "-")]
    state.update("cam", "availability", "online")
    state.update("cam", "stats", {"fps": 12.0})
    assert state.rows("cam")[0][:3] == ("cam", "online", "12.0")


def test_the_table_shows_at_most_max_devices_and_says_how_many_were_left_out() -> None:
    state = WatchState()
    for i in range(20_000):
        state.update(f"fake-{i:05d}", "availability", "online")
    table = state.table()
    assert len(state.devices) == MAX_DEVICES
    assert len(table.encode()) < 40_000, len(table.encode())  # was 900 KB a redraw
    assert f"{20_000 - MAX_DEVICES} more device(s) left out" in table.splitlines()[-1]


def test_a_device_with_thousands_of_faces_gets_max_faces_rows_and_a_count_of_the_rest() -> None:
    state = WatchState()
    faces = [{"id": i, "emotion": "neutral", "score": 0.5} for i in range(5000)]
    state.update("cam", "faces", {"main_face": 0, "faces": faces})
    rows = state.rows("cam")
    assert len(rows) == MAX_FACES + 1 and rows[-1][3] == f"+{5000 - MAX_FACES}"


def test_figures_out_of_their_range_are_not_shown_as_figures() -> None:
    state = WatchState()
    state.update("cam", "stats", {"fps": -3})
    state.update("cam", "emotion", {"emotion": "happy", "score": 7.5})
    assert state.rows("cam") == [("cam", "?", "-", "-", "happy", "-")]
    assert strict_loads(dumps({"ok": [1, 2.5, None]})) == {"ok": [1, 2.5, None]}
