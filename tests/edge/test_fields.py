"""The configuration idiom (edge.fields): text from the environment and flags becomes the field's
type, strict types otherwise, and every refusal names the key, the value, its origin and what is
allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field, model_validator

from edge.fields import FILE, ConfigError, Layers, OneOf, Rule, Section, coerce


class Inner(Section):
    level: int = Field(1, ge=0, le=2)


class Table(Section):
    flag: bool = False
    count: int = Field(0, ge=0, le=10)
    ratio: float = Field(0.5, gt=0, le=1)
    name: str = "x"
    path: Path | None = None
    file: Annotated[str, FILE] = ""
    kind: Annotated[str, OneOf({"yunet": "the good one", "haar": "the old one"})] = "yunet"
    mode: Literal["int8", "fp16"] = "int8"
    items: list[int] = Field(default_factory=list)
    inner: Inner = Field(default_factory=Inner)
    low: int = 0
    high: int = 1

    @model_validator(mode="after")
    def _order(self) -> Table:
        if self.high < self.low:
            raise Rule("high", f"t.high={self.high} is below t.low={self.low}")
        return self


def check(table: dict, origin: str = "ENV_VAR", base_dir: Path | None = None) -> Table:
    return Layers().add(Table, table, origin, base_dir).validate(Table, at=("t",))


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
        (5, Literal["3.1.1", "5"], "5"),
        ("none", int | None, None),
        ("", str | None, None),
        ("12", int | None, 12),
        ("a, b", list[str], ["a", "b"]),
        (["1", 2], list[int], [1, 2]),
    ],
)
def test_text_and_literals_become_the_field_type(value: object, hint: object, expected: object) -> None:
    assert coerce(value, hint) == expected


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"flag": "maybe"}, "expected true or false"),
        ({"count": True}, "expected a whole number"),
        ({"count": 2.5}, "expected a whole number"),
        ({"ratio": "fast"}, "expected a number"),
        ({"name": 1.5}, "expected a string"),
        ({"path": 3}, "expected a file path"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_with_the_key_and_origin(table: dict, expected: str) -> None:
    ((key, value),) = table.items()
    with pytest.raises(ConfigError, match=rf"^t\.{key}={value!r} \(from ENV_VAR\): {expected}$"):
        check(table)


def test_a_relative_path_from_a_file_is_taken_relative_to_its_folder(tmp_path: Path) -> None:
    t = check({"path": "ca.crt", "file": "out.jsonl"}, base_dir=tmp_path)
    assert t.path == tmp_path / "ca.crt" and t.file == str(tmp_path / "out.jsonl")
    assert check({"path": "/etc/ca.crt"}, base_dir=tmp_path).path == Path("/etc/ca.crt")
    assert check({"path": "ca.crt"}).path == Path("ca.crt")  # not from a file: the working directory's


def test_limits_name_the_allowed_range() -> None:
    assert check({"count": 5}).count == 5
    with pytest.raises(
        ConfigError, match=r"t\.ratio=0\.0 \(from ENV_VAR\) is out of range; allowed: 0 < t\.ratio <= 1"
    ):
        check({"ratio": 0})
    with pytest.raises(ConfigError, match=r"t\.count=11 .* is out of range; allowed: 0 <= t\.count <= 10$"):
        check({"count": 11})
    with pytest.raises(ConfigError, match=r"t\.inner\.level=3 \(from file x\.toml\) is out of range"):
        check({"inner": {"level": 3}}, origin="file x.toml")


def test_choices_say_what_is_allowed() -> None:
    with pytest.raises(ConfigError, match=r"t\.kind='hog' \(from file x\.toml\) is not allowed; choose one of: yunet, "
                       r"haar \(yunet: the good one; haar: the old one\)$"):  # fmt: skip
        check({"kind": "hog"}, origin="file x.toml")
    with pytest.raises(ConfigError, match=r"t\.mode='int4' .* is not allowed; choose one of: int8, fp16$"):
        check({"mode": "int4"})


def test_unknown_keys_are_listed_with_the_closest_one() -> None:
    with pytest.raises(ConfigError, match=r"unknown key t\.cuont \(from ENV_VAR\); keys of \[t\] are: flag, count, .*"
                       r"did you mean t\.count\?$"):  # fmt: skip
        check({"cuont": 1})
    with pytest.raises(ConfigError, match=r"\[t\.inner\] \(from ENV_VAR\) must be a table of keys, got 'x'"):
        check({"inner": "x"})


def test_flat_keys_fold_into_their_tables_and_win() -> None:
    assert check({"inner": {"level": 0}, "inner_level": "2"}).inner.level == 2


def test_a_rule_across_keys_names_the_key_and_its_origin() -> None:
    layers = Layers().add(Table, {"low": 5}, "file x.toml").add(Table, {"high": "1"}, "T_HIGH")
    with pytest.raises(ConfigError, match=r"^t\.high=1 is below t\.low=5 \(t\.high from T_HIGH\)$"):
        layers.validate(Table, at=("t",))


def test_several_problems_are_counted() -> None:
    with pytest.raises(ConfigError, match=r"t\.flag=.*\(and 2 more problems\)$"):
        check({"flag": "maybe", "count": -1, "ratio": 9})


def test_an_unset_optional_value_is_not_checked() -> None:
    assert check({"path": "none"}).path is None
