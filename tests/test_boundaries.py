"""The device package stays light: edge never imports torch, train or export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Every edge module except the TensorRT/pycuda layer, which imports those at the top by design
# (it is only loaded where they exist) and is covered by the tensorrt tests.
NEEDS_GPU_STACK = {"edge.tensorrt_backend", "edge.tensorrt_build"}
EDGE_MODULES = sorted(
    name
    for name in (
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "edge").rglob("*.py")
    )
    if name not in NEEDS_GPU_STACK
)


def test_importing_edge_imports_neither_torch_nor_the_workstation_packages() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in EDGE_MODULES)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'train', 'export'))\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# A meta-path finder that refuses torch simulates a device without it.
WITHOUT_TORCH = (
    "import sys\n"
    "class NoTorch:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] == 'torch': raise ImportError('no torch on this device')\n"
    "sys.meta_path.insert(0, NoTorch())\n"
    "from edge.cli import main\n"
)


def test_cli_help_works_without_torch() -> None:
    code = WITHOUT_TORCH + "try:\n    main(['--help'])\nexcept SystemExit as exc:\n    sys.exit(exc.code)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "train" in out.stdout and "evaluate" in out.stdout


def test_train_without_torch_says_how_to_install_it(tmp_path) -> None:
    code = WITHOUT_TORCH + "sys.exit(main(['train', '--data', 'x.csv']))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2
    assert "needs the workstation extras (torch)" in out.stderr
    assert "Traceback" not in out.stderr
