"""The emotion models that ship in ``models/``, chosen by name (``model.name``, ``--model NAME``).

Three models ship, each as an FP32 file (ONNX Runtime, TensorRT FP16) and an INT8 Q/DQ twin (TensorRT
INT8): the default, trained for faces from a camera on the FER+ votes; its half-width student for
boards without a GPU; and the FER2013-label model kept as that benchmark's reference. A name picks
the model; the folder and the precision come from ``model.path`` (a service configured for the INT8
file keeps INT8 when another model is named), and ``NAME-fp32`` / ``NAME-int8`` pick a precision
explicitly. The figures ``emotion-edge models`` lists are read from each file's own metadata (what
it was released with), never repeated here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    stem: str  # the files are <stem>-fp32.onnx and <stem>-int8.onnx
    purpose: str

    def file(self, precision: str) -> str:
        return f"{self.stem}-{precision}.onnx"


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry("ferplus", "emotion-edge", "default: trained on the FER+ votes, for faces from a camera"),
    CatalogEntry(
        "ferplus-small",
        "emotion-edge-small",
        "half width, a quarter of the cost per face: for boards without a GPU (Raspberry Pi)",
    ),
    CatalogEntry("fer2013", "emotion-edge-fer2013", "FER2013's own labels: that benchmark's reference model"),
)
DEFAULT = "ferplus"


class CatalogError(ValueError):
    """An unknown model name; the message lists the known ones."""


def names() -> list[str]:
    """Every name ``model.name`` accepts: each model, and each with an explicit precision."""
    return [n for e in CATALOG for n in (e.name, *(f"{e.name}-{p}" for p in PRECISIONS))]


def entry(name: str) -> tuple[CatalogEntry, str | None]:
    """The model a name means and its explicit precision (None: keep the configured one)."""
    for e in CATALOG:
        if name == e.name:
            return e, None
        for p in PRECISIONS:
            if name == f"{e.name}-{p}":
                return e, p
    raise CatalogError(f"no model named {name[:80]!r}: the names are {', '.join(names())} (`emotion-edge models`)")


def precision_of(path: str | Path) -> str:
    """``int8`` for a Q/DQ file by the project's naming (``*-int8.onnx``), else ``fp32``."""
    return "int8" if "int8" in Path(path).name else "fp32"


def resolve(name: str, configured_path: str | Path) -> Path:
    """The file ``name`` means, in the folder of ``configured_path`` and at its precision unless the
    name gives one."""
    model, precision = entry(name)
    folder = Path(configured_path).parent
    return folder / model.file(precision or precision_of(configured_path))


@dataclass
class ListedModel:
    name: str
    precision: str
    path: Path
    default: bool
    purpose: str
    version: str = ""
    metrics: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None
    problem: str = ""


def list_models(folder: Path) -> list[ListedModel]:
    """Each catalog file in ``folder`` with what its metadata says (or why it cannot be read)."""
    from edge.model_meta import ModelMetadataError, read_onnx_metadata

    rows = []
    for e in CATALOG:
        for p in PRECISIONS:
            path = folder / e.file(p)
            row = ListedModel(e.name, p, path, e.name == DEFAULT, e.purpose)
            if not path.is_file():
                row.problem = "missing"
            else:
                try:
                    info = read_onnx_metadata(str(path))
                    row.version, row.metrics, row.extra = info.version, info.metrics, info.extra
                except (ModelMetadataError, OSError, RuntimeError) as exc:
                    row.problem = str(exc).splitlines()[0][:200]
            rows.append(row)
    return rows


def _percent(value: Any) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else "-"


def format_models(rows: list[ListedModel]) -> str:
    """The table ``emotion-edge models`` prints: the figures people get first (real photos, FER+),
    then the FER2013 benchmark, size and cost per face."""
    head = ("name", "version", "file", "real photos", "FER+ test", "FER2013 test", "params", "MACs/face")
    table = [head]
    for r in rows:
        m, x = r.metrics or {}, r.extra or {}
        name = f"{r.name}{' (default)' if r.default and r.precision == 'fp32' else ''}"
        if r.precision != "fp32":
            name = f"{r.name}-{r.precision}"
        if r.problem:
            table.append((name, "", str(r.path), r.problem, "", "", "", ""))
            continue
        params = f"{x['params'] / 1e6:.2f} M" if isinstance(x.get("params"), int) else "-"
        macs = f"{x['macs'] / 1e6:.0f} M" if isinstance(x.get("macs"), int) else "-"
        table.append(
            (
                name,
                r.version,
                str(r.path),
                _percent(m.get("wild_top1")),
                _percent(m.get("ferplus_test_top1")),
                _percent(m.get("test_top1")),
                params,
                macs,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    purposes = [f"{e.name}: {e.purpose}" for e in CATALOG]
    return "\n".join(
        [
            *lines,
            "",
            *purposes,
            "real photos: whole pipeline on 130 labelled photos; FER+ test: PrivateTest, FER+ majority label; "
            "FER2013 test: PrivateTest, FER2013's labels (models/README.md)",
        ]
    )
