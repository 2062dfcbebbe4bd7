"""Two shipped models, chosen by name: `model.name`, or a name where a path goes (`--model fer2013`);
`emotion-edge models` lists them with the figures their own metadata carries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge import catalog
from edge.config import ConfigError, load_config
from edge.model_meta import read_onnx_metadata

ROOT = Path(__file__).resolve().parents[2]


def test_a_name_picks_the_model_and_keeps_the_configured_folder_and_precision() -> None:
    assert catalog.resolve("fer2013", "/opt/emotion-edge/models/emotion-edge-int8.onnx") == Path(
        "/opt/emotion-edge/models/emotion-edge-fer2013-int8.onnx"
    )
    assert catalog.resolve("fer2013", "models/emotion-edge-fp32.onnx") == Path("models/emotion-edge-fer2013-fp32.onnx")
    assert catalog.resolve("ferplus-fp32", "x/emotion-edge-fer2013-int8.onnx") == Path("x/emotion-edge-fp32.onnx")


def test_the_config_chooses_by_name_in_a_file_and_by_name_or_path_on_the_command_line(tmp_path: Path) -> None:
    conf = tmp_path / "device.toml"
    conf.write_text('[model]\npath = "/srv/models/emotion-edge-int8.onnx"\nname = "fer2013"\n')
    assert load_config(conf, env={}).model.path == "/srv/models/emotion-edge-fer2013-int8.onnx"
    by_flag = load_config(None, env={}, overrides={"model": {"path": "fer2013"}})
    assert by_flag.model.path == "models/emotion-edge-fer2013-fp32.onnx"
    by_path = load_config(None, env={}, overrides={"model": {"path": "elsewhere/mine.onnx"}})
    assert by_path.model.path == "elsewhere/mine.onnx"


def test_an_unknown_name_is_refused_naming_the_key_and_the_names() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, env={}, overrides={"model": {"name": "ferplus-v9"}})
    assert "model.name" in str(err.value) and "fer2013" in str(err.value) and "ferplus-int8" in str(err.value)


@pytest.mark.parametrize("entry", catalog.CATALOG, ids=lambda e: e.name)
def test_every_shipped_file_is_there_and_self_describing(entry: catalog.CatalogEntry) -> None:
    for precision in catalog.PRECISIONS:
        info = read_onnx_metadata(str(ROOT / "models" / entry.file(precision)))
        assert info.classes == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
        assert info.version


def test_emotion_edge_models_lists_both_with_their_figures() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "models", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {(r["name"], r["precision"]) for r in rows} == {
        (e.name, p) for e in catalog.CATALOG for p in catalog.PRECISIONS
    }
    assert all(r["problem"] == "" and r["version"] for r in rows)
    default = next(r for r in rows if r["default"] and r["precision"] == "fp32")
    assert default["name"] == catalog.DEFAULT and default["path"].endswith("emotion-edge-fp32.onnx")
    table = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "models"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert "ferplus (default)" in table.stdout and "fer2013-int8" in table.stdout


def test_a_missing_models_folder_is_one_line_and_rc_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "models", "--dir", str(tmp_path / "none")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "no folder" in done.stderr and "Traceback" not in done.stderr
