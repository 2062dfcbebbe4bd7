"""Every flag of every subcommand says what it is for, and a flag name means one thing everywhere:
`--model` is the emotion model in each command that takes it, `--broker` a broker's address.

Meaning is read from the parser: the kind of flag (a switch, a value, a list), its destination, its
type, and its help, where a help text may end with one parenthesis of its own (this command's
default, or what it does with the value) but otherwise reads the same in every subcommand."""

from __future__ import annotations

import argparse
import functools
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from emotion_edge.cli import build_parser, main

# Flag names whose meaning is still split between the workstation's commands (training and export,
# whose flags are generated from train.config.TrainConfig or belong to export/cli.py) and the device's.
# Each must still be split (the test below fails once it is not, so the entry goes); no new one may join.
KNOWN_SPLITS = {
    "--config": "train: a file of training settings; elsewhere the device's TOML configuration",
    "--json": "watch, doctor: print JSON instead of text; evaluate, bench, bench-model, soak: also write it to FILE",
    "--no-camera": "train: leave the camera degradations out of augmentation; doctor: do not open the camera",
    "--out": "train: the parent of run folders; export: the model or engine file; demo: the output folder",
    "--threads": "train: torch's CPU threads; bench, bench-model: ONNX Runtime's intra-op threads",
    "--yunet": "train: the detector for device crops; evaluate: the detector for --wild",
}


@dataclass(frozen=True)
class Use:
    command: str
    kind: str
    dest: str
    type: str
    nargs: object
    help: str | None


def kind(action: argparse.Action) -> str:
    if isinstance(action, (argparse._StoreTrueAction, argparse.BooleanOptionalAction)):
        return "switch"  # --skip-bad sets True whether --no-skip-bad exists beside it or not
    if isinstance(action, argparse._StoreFalseAction):
        return "negative switch"
    return type(action).__name__


def generated_by_train(action: argparse.Action) -> bool:
    """train's flags are made from TrainConfig's fields (dest field_<name>), validated by it, not argparse."""
    return action.dest.startswith("field_")


@functools.cache
def uses() -> dict[str, list[Use]]:
    found: dict[str, list[Use]] = defaultdict(list)

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}".strip())
                continue
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            train = generated_by_train(action)
            for option in action.option_strings:
                # train's --camera has a generated --no-camera beside it, which turns the switch off.
                negative = option.startswith("--no-") and isinstance(action, argparse.BooleanOptionalAction)
                found[option].append(
                    Use(
                        path or "emotion-edge",
                        "switch off" if negative else kind(action),
                        action.dest.removeprefix("field_"),
                        "validated by TrainConfig" if train else getattr(action.type, "__name__", str(action.type)),
                        action.nargs,
                        action.help,
                    )
                )

    walk(build_parser(), "")
    return found


def meaning(help_text: str | None) -> str:
    """The help without one closing parenthesis (the command's own default or use of the value)."""
    text = (help_text or "").strip()
    return re.sub(r"\s*\([^()]*(\([^()]*\)[^()]*)*\)$", "", text)


def split(name: str, found: list[Use]) -> list[str]:
    problems = []
    for field in ("kind", "dest", "nargs"):
        if len({getattr(u, field) for u in found}) > 1:
            problems.append(f"{field}: " + ", ".join(f"{u.command}={getattr(u, field)!r}" for u in found))
    types = {u.type for u in found if u.type != "validated by TrainConfig"}
    if len(types) > 1:
        problems.append("type: " + ", ".join(f"{u.command}={u.type}" for u in found))
    if len({meaning(u.help) for u in found}) > 1:
        problems.append("help: " + " | ".join(f"{u.command}: {u.help!r}" for u in found))
    return problems


def test_every_flag_of_every_subcommand_has_help() -> None:
    missing = [f"{u.command} {name}" for name, found in uses().items() for u in found if not (u.help or "").strip()]
    assert not missing, f"flags without help: {missing}"


def test_a_flag_name_means_one_thing_in_every_subcommand() -> None:
    problems = {}
    for name, found in sorted(uses().items()):
        if name in KNOWN_SPLITS or len(found) < 2:
            continue
        if issues := split(name, found):
            problems[name] = issues
    assert not problems, "\n".join(f"{name}: {'; '.join(issues)}" for name, issues in problems.items())


def test_the_known_splits_are_still_split() -> None:
    found = uses()
    mended = [name for name in KNOWN_SPLITS if len(found.get(name, [])) < 2 or not split(name, found[name])]
    assert not mended, f"no longer split (take them out of KNOWN_SPLITS): {mended}"


def test_broker_is_an_address_in_run_and_the_program_to_start_has_its_own_name() -> None:
    found = uses()
    assert [u.command for u in found["--broker"]] == ["run"]
    assert {u.command for u in found["--broker-program"]} == {"demo", "soak"}
    assert "run" in {u.command for u in found["--model"]}
    assert [u.command for u in found["--device"]] == ["train"]  # watch's is --device-id, as mqtt forget's


def test_run_takes_the_emotion_model_by_path_as_the_other_commands_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("EMOTION_EDGE_CONFIG", raising=False)
    model = tmp_path / "mine.onnx"
    assert main(["run", "--model", str(model), "--print-config"]) == 0
    assert f'path = "{model}"' in capsys.readouterr().out
