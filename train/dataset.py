"""FER2013-style data sets in the forms people have them, decoded once into a cached array file.

Sources:
- the original ``fer2013.csv`` (columns ``emotion``, ``pixels``, ``Usage``);
- an image-folder tree ``train/<class>/*`` and ``test/<class>/*`` (png or jpg), where test files
  are split into validation and test by their ``PublicTest_`` / ``PrivateTest_`` prefix;
- that tree inside a ``.tar.gz`` / ``.tgz`` / ``.tar`` or ``.zip`` archive, read without unpacking.

Splits are called ``train``, ``val`` and ``test`` (FER2013's Training, PublicTest, PrivateTest).
Class names come from the data: the CSV uses FER2013's seven, folders name their own.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import tarfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.contract import FER2013_CLASSES, INPUT_SIZE

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
CSV_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
CACHE_FORMAT = 2  # 2: the row of the original fer2013.csv per image (FER+ joins on it)


# Classes a model may have that no FER2013 image is labelled with: only FER+'s votes teach them
# (``train --contempt``), so on FER2013's own labels a prediction of one is always wrong.
VOTE_ONLY_CLASSES: tuple[str, ...] = ("contempt",)


class DatasetError(ValueError):
    """The data set cannot be read; the message names the path and what to do."""


@dataclass
class LoadReport:
    """What happened while decoding: nothing is skipped or changed without being counted here."""

    resized: int = 0
    converted_to_gray: int = 0
    skipped: list[str] = field(default_factory=list)
    ignored_files: int = 0

    def lines(self) -> list[str]:
        out = []
        if self.resized:
            out.append(f"{self.resized} images were not {INPUT_SIZE}x{INPUT_SIZE} and were resized")
        if self.converted_to_gray:
            out.append(f"{self.converted_to_gray} colour images were converted to grayscale")
        if self.skipped:
            shown = "; ".join(self.skipped[:5])
            more = f" (and {len(self.skipped) - 5} more)" if len(self.skipped) > 5 else ""
            out.append(f"{len(self.skipped)} items were skipped: {shown}{more}")
        if self.ignored_files:
            out.append(f"{self.ignored_files} non-image files were ignored")
        return out


@dataclass
class FaceDataset:
    """All splits of one data set: uint8 images N x 48 x 48, integer labels and split names."""

    images: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int64]
    splits: npt.NDArray[np.str_]
    class_names: tuple[str, ...]
    source: str
    report: LoadReport = field(default_factory=LoadReport)
    # Row of each image in the original fer2013.csv (the CSV's order, or the number in a file named
    # ``<Usage>_<row>.png``); -1 where the source does not say (e.g. Kaggle's id-named .jpg files).
    rows: npt.NDArray[np.int64] | None = None

    def row_index(self) -> npt.NDArray[np.int64]:
        return self.rows if self.rows is not None else np.full(len(self.labels), -1, dtype=np.int64)

    def split(self, name: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        if name not in SPLITS:
            raise DatasetError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        mask = self.splits == name
        if not mask.any():
            raise DatasetError(f"{self.source}: the data set has no {name!r} images")
        return self.images[mask], self.labels[mask]

    def class_counts(self, split: str) -> dict[str, int]:
        _, labels = self.split(split)
        counts = np.bincount(labels, minlength=len(self.class_names))
        return {c: int(n) for c, n in zip(self.class_names, counts)}

    def for_model(self, classes: list[str] | tuple[str, ...]) -> FaceDataset:
        """The data set labelled in a model's class order: its classes may be a subset of the data
        set's, plus classes only FER+ votes carry (no image is labelled with them here)."""
        if list(classes) == list(self.class_names):
            return self
        foreign = [c for c in classes if c not in self.class_names and c not in VOTE_ONLY_CLASSES]
        if foreign:
            raise DatasetError(
                f"the model predicts {list(classes)} but {self.source} has classes {list(self.class_names)}; "
                f"it has no images of {foreign}"
            )
        return self.subset(list(classes), empty_ok=VOTE_ONLY_CLASSES)

    def subset(self, classes: list[str], empty_ok: tuple[str, ...] = ()) -> FaceDataset:
        """Keep only ``classes`` (in the given order), relabelled 0..len(classes)-1. Names in
        ``empty_ok`` may be classes the data set has no images of (FER+'s contempt, which only
        soft targets and majority labels carry)."""
        unknown = [c for c in classes if c not in self.class_names and c not in empty_ok]
        if unknown:
            raise DatasetError(f"unknown classes {unknown} for {self.source}; it has {', '.join(self.class_names)}")
        if len(set(classes)) != len(classes) or len(classes) < 2:
            raise DatasetError(f"choose at least two distinct classes, got {classes}")
        old_to_new = np.full(len(self.class_names), -1, dtype=np.int64)
        for new, name in enumerate(classes):
            if name in self.class_names:
                old_to_new[self.class_names.index(name)] = new
        mapped = old_to_new[self.labels]
        keep = mapped >= 0
        return FaceDataset(
            self.images[keep],
            mapped[keep],
            self.splits[keep],
            tuple(classes),
            self.source,
            self.report,
            self.row_index()[keep],
        )


@dataclass(frozen=True)
class LoadOptions:
    """``strict_size`` rejects non-48x48 images instead of resizing them; ``skip_bad`` skips
    unreadable images and malformed CSV rows (counted and reported) instead of stopping."""

    strict_size: bool = False
    skip_bad: bool = False

    def key(self) -> str:
        return f"s{int(self.strict_size)}b{int(self.skip_bad)}"


def default_cache_dir() -> Path:
    env = os.environ.get("EMOTION_EDGE_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emotion-edge"


def load_dataset(
    path: str | Path,
    options: LoadOptions | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> FaceDataset:
    """Load a data set from a CSV, folder or archive, through the array cache when possible."""
    options = options or LoadOptions()
    source = Path(path).expanduser()
    if not source.exists():
        raise DatasetError(
            f"data set not found: {source}. Pass --data with the path of fer2013.csv, "
            "an image-folder tree (train/<class>/, test/<class>/) or a .tar.gz/.zip of one"
        )
    kind = _source_kind(source)
    if not use_cache:
        return _decode(source, kind, options)
    cache_dir = cache_dir or default_cache_dir()
    cache_file = cache_dir / f"{_fingerprint(source)}-{options.key()}-v{CACHE_FORMAT}.npz"
    if cache_file.exists():
        try:
            return _read_cache(cache_file, str(source))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable cache %s (%s); decoding again", cache_file, exc)
    dataset = _decode(source, kind, options)
    _write_cache(cache_file, dataset)
    return dataset


def _source_kind(source: Path) -> str:
    name = source.name.lower()
    if source.is_dir():
        return "folder"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(ARCHIVE_SUFFIXES):
        return "zip" if name.endswith(".zip") else "tar"
    raise DatasetError(
        f"unknown data set layout: {source}. Expected fer2013.csv, a folder with train/ and test/, "
        f"or an archive ({', '.join(ARCHIVE_SUFFIXES)})"
    )


def _fingerprint(source: Path) -> str:
    """SHA-256 of a file's bytes; for a folder, of every file's relative path, size and mtime."""
    digest = hashlib.sha256()
    if source.is_dir():
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            stat = file.stat()
            digest.update(f"{file.relative_to(source)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    else:
        with source.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:32]


def _read_cache(cache_file: Path, source: str) -> FaceDataset:
    with np.load(cache_file, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        report = LoadReport(**meta["report"])
        dataset = FaceDataset(
            data["images"], data["labels"], data["splits"], tuple(meta["class_names"]), source, report, data["rows"]
        )
    log.info("loaded %d images from cache %s", len(dataset.labels), cache_file)
    return dataset


def _write_cache(cache_file: Path, dataset: FaceDataset) -> None:
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    meta = {"class_names": list(dataset.class_names), "report": dataset.report.__dict__}
    # Several processes may fill the same cache at once (parallel runs, test workers): each writes
    # its own file, and the rename makes one whole file appear.
    tmp = cache_file.with_name(f"{cache_file.stem}.{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        images=dataset.images,
        labels=dataset.labels,
        splits=dataset.splits,
        rows=dataset.row_index(),
        meta=json.dumps(meta),
    )
    tmp.replace(cache_file)


def _decode(source: Path, kind: str, options: LoadOptions) -> FaceDataset:
    if kind == "csv":
        return _decode_csv(source, options)
    return _decode_tree(source, _iter_tree(source, kind), options)


# --- CSV ----------------------------------------------------------------------------------------


def _decode_csv(source: Path, options: LoadOptions) -> FaceDataset:
    report = LoadReport()
    images: list[npt.NDArray[np.uint8]] = []
    labels: list[int] = []
    splits: list[str] = []
    rows: list[int] = []
    expected = INPUT_SIZE * INPUT_SIZE
    with source.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(
                f"{source}: CSV lacks the columns {sorted(missing)}; FER2013's CSV has emotion, pixels, Usage"
            )
        for row_number, row in enumerate(reader):
            line = reader.line_num
            problem = _csv_row_problem(row, expected)
            if problem:
                if not options.skip_bad:
                    raise DatasetError(f"{source}, line {line}: {problem} (use --skip-bad to skip such rows)")
                report.skipped.append(f"line {line}: {problem}")
                continue
            pixels = np.array(row["pixels"].split(), dtype=np.uint8)
            images.append(pixels.reshape(INPUT_SIZE, INPUT_SIZE))
            labels.append(int(row["emotion"]))
            splits.append(CSV_USAGE[row["Usage"]])
            rows.append(row_number)
    if not images:
        raise DatasetError(f"{source}: no usable rows")
    _log_report(source, report)
    return FaceDataset(
        np.stack(images),
        np.array(labels, dtype=np.int64),
        np.array(splits),
        FER2013_CLASSES,
        str(source),
        report,
        np.array(rows, dtype=np.int64),
    )


def _csv_row_problem(row: dict[str, str], expected: int) -> str | None:
    usage = row.get("Usage") or ""
    if usage not in CSV_USAGE:
        return f"Usage {usage!r} is not one of {', '.join(CSV_USAGE)}"
    emotion = row.get("emotion") or ""
    if not emotion.isdigit() or int(emotion) >= len(FER2013_CLASSES):
        return f"emotion {emotion!r} is not a class index 0..{len(FER2013_CLASSES) - 1}"
    values = (row.get("pixels") or "").split()
    if len(values) != expected:
        return f"{len(values)} pixel values, expected {expected}"
    if not all(v.isdigit() and int(v) < 256 for v in values):
        return "pixel values must be integers 0..255"
    return None


# --- image trees (folder or archive) ------------------------------------------------------------

_PREFIX_SPLIT = {"publictest": "val", "privatetest": "test", "training": "train"}
_TREE_SPLIT = {"train": "train", "training": "train", "test": "test", "val": "val", "validation": "val"}


def _iter_tree(source: Path, kind: str) -> Iterator[tuple[str, bytes]]:
    """Yield (relative path, file bytes) for every regular file of a folder or archive."""
    if kind == "folder":
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            yield file.relative_to(source).as_posix(), file.read_bytes()
    elif kind == "zip":
        try:
            with zipfile.ZipFile(source) as archive:
                for info in archive.infolist():
                    if not info.is_dir():
                        yield info.filename, archive.read(info)
        except zipfile.BadZipFile as exc:
            raise DatasetError(f"{source}: not a readable zip archive ({exc})") from exc
    else:
        try:
            with tarfile.open(source) as archive:
                for member in archive:
                    if member.isfile():
                        fh = archive.extractfile(member)
                        if fh is not None:
                            yield member.name, fh.read()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DatasetError(f"{source}: not a readable tar archive ({exc})") from exc


def _decode_tree(source: Path, files: Iterator[tuple[str, bytes]], options: LoadOptions) -> FaceDataset:
    report = LoadReport()
    found: list[tuple[str, str, str, bytes]] = []  # (split dir, class, path, bytes)
    class_dirs: dict[str, set[str]] = {}
    for rel, payload in files:
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        # Find ".../<split>/<class>/<file>" at any depth (archives often wrap it in fer2013/).
        split_at = next(
            (i for i in range(len(parts) - 2, 0, -1) if parts[i - 1].lower() in _TREE_SPLIT),
            None,
        )
        if split_at is None or len(parts) < 3:
            report.ignored_files += 1
            continue
        split_dir, cls, name = parts[split_at - 1].lower(), parts[split_at], parts[-1]
        class_dirs.setdefault(split_dir, set()).add(cls)
        if name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES):
            report.ignored_files += 1
            continue
        found.append((split_dir, cls, rel, payload))

    if "train" not in class_dirs and "training" not in class_dirs:
        raise DatasetError(
            f"unknown layout in {source}: no train/<class>/ folders found. Expected "
            "train/<class>/*.png|jpg and test/<class>/*.png|jpg"
        )
    train_classes = class_dirs.get("train", set()) | class_dirs.get("training", set())
    for split_dir, classes in class_dirs.items():
        unknown = classes - train_classes
        if unknown:
            raise DatasetError(
                f"{source}: {split_dir}/ has class folders {sorted(unknown)} that train/ does not have; "
                "rename or remove them so every split uses the same classes"
            )
    class_names = tuple(sorted(train_classes))
    counts = Counter((_TREE_SPLIT[s], c) for s, c, _, _ in found)
    empty = [c for c in class_names if counts[("train", c)] == 0]
    if empty:
        raise DatasetError(
            f"{source}: class folders {empty} in train/ hold no images; add images or remove the folders"
        )

    images: list[npt.NDArray[np.uint8]] = []
    labels: list[int] = []
    splits: list[str] = []
    rows: list[int] = []
    for split_dir, cls, rel, payload in found:
        image = _decode_image(rel, payload, options, report)
        if image is None:
            continue
        images.append(image)
        labels.append(class_names.index(cls))
        splits.append(_split_of(_TREE_SPLIT[split_dir], rel))
        rows.append(_row_of(rel))
    if not images:
        raise DatasetError(f"{source}: no readable images")
    split_arr = np.array(splits)
    split_arr = _ensure_val_split(split_arr, np.array(labels), source)
    _log_report(source, report)
    return FaceDataset(
        np.stack(images),
        np.array(labels, dtype=np.int64),
        split_arr,
        class_names,
        str(source),
        report,
        np.array(rows, dtype=np.int64),
    )


def _split_of(tree_split: str, rel: str) -> str:
    if tree_split != "test":
        return tree_split
    match = re.match(r"(publictest|privatetest|training)_", Path(rel).name.lower())
    return _PREFIX_SPLIT[match.group(1)] if match else "test"


def _row_of(rel: str) -> int:
    """The fer2013.csv row in a file name ``<Usage>_<row>.<ext>``; -1 for other names."""
    match = re.fullmatch(r"(?:publictest|privatetest|training)_(\d+)\.\w+", Path(rel).name.lower())
    return int(match.group(1)) if match else -1


def _ensure_val_split(
    splits: npt.NDArray[np.str_], labels: npt.NDArray[np.int64], source: Path
) -> npt.NDArray[np.str_]:
    """Data sets without PublicTest/PrivateTest prefixes get a fixed, stratified 10% of train as val."""
    if (splits == "val").any():
        return splits
    rng = np.random.default_rng(20130301)
    splits = splits.copy()
    for cls in np.unique(labels):
        idx = np.flatnonzero((splits == "train") & (labels == cls))
        take = rng.permutation(idx)[: max(1, len(idx) // 10)] if len(idx) > 1 else idx[:0]
        splits[take] = "val"
    log.info("%s has no PublicTest_/PrivateTest_ names: held out 10%% of train as val", source)
    return splits


def _decode_image(rel: str, payload: bytes, options: LoadOptions, report: LoadReport) -> npt.NDArray[np.uint8] | None:
    buffer = np.frombuffer(payload, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
    if image is None:
        if options.skip_bad:
            report.skipped.append(f"{rel}: unreadable image")
            return None
        raise DatasetError(f"{rel}: unreadable or corrupt image (fix or remove it, or use --skip-bad)")
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
        report.converted_to_gray += 1
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(1, int(image.max())))
    if image.shape != (INPUT_SIZE, INPUT_SIZE):
        if options.strict_size:
            raise DatasetError(
                f"{rel}: image is {image.shape[1]}x{image.shape[0]}, expected {INPUT_SIZE}x{INPUT_SIZE} "
                "(drop --strict-size to resize such images)"
            )
        image = cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        report.resized += 1
    return np.asarray(image, dtype=np.uint8)


def _log_report(source: Path, report: LoadReport) -> None:
    for line in report.lines():
        log.warning("%s: %s", source, line)


def describe(dataset: FaceDataset) -> str:
    """A class-count table per split, for logs and the model card."""
    present = [s for s in SPLITS if (dataset.splits == s).any()]
    header = f"{'class':<12}" + "".join(f"{s:>8}" for s in present)
    rows = [header]
    for i, name in enumerate(dataset.class_names):
        counts = [int(((dataset.splits == s) & (dataset.labels == i)).sum()) for s in present]
        rows.append(f"{name:<12}" + "".join(f"{n:>8}" for n in counts))
    totals = [int((dataset.splits == s).sum()) for s in present]
    rows.append(f"{'total':<12}" + "".join(f"{n:>8}" for n in totals))
    return "\n".join(rows)
