"""Typed configuration values: text from the environment becomes the field's type, and limits are
refused with the key, the value and its origin named."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.fields import check_limits, choices, coerce, limits


class Refused(ValueError):
    pass


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [
        ("yes", bool, True),
        ("Off", bool, False),
        (" 42 ", int, 42),
        (3.0, int, 3),
        ("0.25", float, 0.25),
        (7, float, 7.0),
        (0, str, "0"),
        ("none", int | None, None),
        ("", str | None, None),
        ("12", int | None, 12),
    ],
)
def test_text_and_literals_become_the_field_type(value: object, hint: object, expected: object) -> None:
    assert coerce("k", value, hint, error=Refused) == expected


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [
        ("maybe", bool, "expected true or false"),
        (True, int, "expected a whole number"),
        (2.5, int, "expected a whole number"),
        ("fast", float, "expected a number"),
        (1.5, str, "expected a string"),
        (3, Path, "expected a file path"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_with_the_key_and_origin(
    value: object, hint: object, expected: str
) -> None:
    with pytest.raises(Refused, match=rf"^section\.key={value!r} \(from ENV_VAR\): {expected}$"):
        coerce("section.key", value, hint, error=Refused, origin="ENV_VAR")


def test_a_relative_path_is_taken_relative_to_the_base_folder(tmp_path: Path) -> None:
    assert coerce("k", "ca.crt", Path | None, error=Refused, base_dir=tmp_path) == tmp_path / "ca.crt"
    assert coerce("k", "/etc/ca.crt", Path, error=Refused, base_dir=tmp_path) == Path("/etc/ca.crt")


def test_limits_name_the_allowed_range() -> None:
    check_limits("a.b", 5, limits(0, 10), error=Refused)
    with pytest.raises(Refused, match=r"a\.b=0 is out of range; allowed: 0 < a\.b <= 10"):
        check_limits("a.b", 0, limits(0, 10, low_open=True), error=Refused)
    with pytest.raises(Refused, match=r"a\.b=11 is out of range; allowed: 0 <= a\.b <= 10"):
        check_limits("a.b", 11, limits(0, 10), error=Refused)


def test_choices_and_custom_checks_say_what_is_allowed() -> None:
    with pytest.raises(Refused, match=r"kind='hog' \(from file x\.toml\) is not allowed; choose one of: yunet, haar"):
        check_limits("kind", "hog", choices("yunet", "haar"), error=Refused, origin="file x.toml")
    with pytest.raises(Refused, match="is not allowed: must be even"):
        check_limits("n", 3, {"check": lambda v: None if v % 2 == 0 else "must be even"}, error=Refused)


def test_an_unset_optional_value_is_not_checked() -> None:
    check_limits("port", None, limits(1, 65535), error=Refused)
