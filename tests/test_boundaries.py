"""The layers point one way: ``emotion_edge`` (the command) -> ``export`` -> ``train`` -> ``edge``.

``edge`` is what a device installs: it never imports torch, train, export or the command above it,
in any code path (a function-level import counts as much as a top-level one), and the command's
parser and every subcommand's ``--help`` load no torch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The TensorRT/pycuda layer imports those at the top by design (it is only loaded where they
# exist); it is covered by the tensorrt tests.
NEEDS_GPU_STACK = {"edge.tensorrt.backend", "edge.tensorrt.build", "edge.tensorrt.yunet"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


EDGE_FILES = sorted((ROOT / "edge").rglob("*.py"))
EDGE_MODULES = sorted(name for name in map(module_name, EDGE_FILES) if name not in NEEDS_GPU_STACK)

# What each package may import of the project's own packages (and torch).
ALLOWED = {
    "edge": set(),
    "train": {"edge", "torch"},
    "export": {"edge", "train", "torch"},
}
GUARDED = {"edge", "train", "export", "emotion_edge", "torch"}


def imported_roots(path: Path) -> dict[str, int]:
    """Every top-level package an ``import`` anywhere in the file names, with the first line."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            found.setdefault(name.split(".")[0], node.lineno)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_import_points_the_wrong_way(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for root, line in imported_roots(path).items():
            if root in GUARDED and root != package and root not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {root}")
    assert wrong == []


def test_importing_edge_imports_neither_torch_nor_the_workstation_packages() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in EDGE_MODULES)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'train', 'export', 'emotion_edge'))\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


# A meta-path finder that refuses torch simulates a device without it.
WITHOUT_TORCH = (
    "import sys\n"
    "class NoTorch:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] == 'torch': raise ImportError('no torch on this device')\n"
    "sys.meta_path.insert(0, NoTorch())\n"
    "from emotion_edge.cli import main\n"
)


def subcommands() -> list[str]:
    code = (
        "import argparse\n"
        "from emotion_edge.cli import build_parser\n"
        "p = build_parser()\n"
        "sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))\n"
        "for name, parser in sub.choices.items():\n"
        "    print(name)\n"
        "    inner = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]\n"
        "    for a in inner:\n"
        "        for child in a.choices: print(name, child)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.splitlines()


def test_the_parser_loads_neither_torch_nor_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from emotion_edge.cli import build_parser\n"
        "build_parser()\n"
        "heavy = ('torch', 'cv2', 'onnxruntime', 'onnx')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_every_subcommand_help_works_without_torch_and_loads_none_of_it() -> None:
    commands = subcommands()
    assert {"train", "evaluate", "export", "run", "bench", "watch", "demo", "soak", "export int8"} <= set(commands)
    code = (
        WITHOUT_TORCH
        + "import contextlib, io, shlex\n"
        + "bad = []\n"
        + f"for line in {commands!r}:\n"
        + "    with contextlib.redirect_stdout(io.StringIO()):\n"
        + "        try:\n"
        + "            main([*line.split(), '--help'])\n"
        + "        except SystemExit as exc:\n"
        + "            if exc.code: bad.append(f'{line}: exit {exc.code}')\n"
        + "    heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch',))\n"
        + "    if heavy: bad.append(f'{line}: loaded {heavy[0]}')\n"
        + "print('\\n'.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_cli_help_works_without_torch() -> None:
    code = WITHOUT_TORCH + "try:\n    main(['--help'])\nexcept SystemExit as exc:\n    sys.exit(exc.code)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "train" in out.stdout and "evaluate" in out.stdout


def test_train_without_torch_says_how_to_install_it(tmp_path) -> None:
    code = WITHOUT_TORCH + "sys.exit(main(['train', '--data', 'x.csv']))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert "needs the workstation extras (torch)" in out.stderr
    assert "Traceback" not in out.stderr
