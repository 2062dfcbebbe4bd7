"""Classifier latency per batch with ONNX Runtime: median and p99 over many runs, as a table and JSON."""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge.flags import THREADS_HELP


@dataclass
class LatencyRow:
    model: str
    size_kib: float
    batch: int
    runs: int
    median_ms: float
    p99_ms: float
    per_face_median_ms: float


def measure(model: Path, batch: int, runs: int, threads: int, warmup: int = 50) -> LatencyRow:
    from edge.classify import OnnxRuntimeClassifier

    classifier = OnnxRuntimeClassifier(model, providers=["CPUExecutionProvider"], threads=threads)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (batch, 48, 48), dtype=np.uint8)
    for _ in range(warmup):
        classifier.predict(crops)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        classifier.predict(crops)
        times[i] = time.perf_counter() - start
    median, p99 = float(np.median(times) * 1e3), float(np.percentile(times, 99) * 1e3)
    return LatencyRow(
        model.name,
        round(model.stat().st_size / 1024, 1),
        batch,
        runs,
        round(median, 3),
        round(p99, 3),
        round(median / batch, 3),
    )


def add_bench_model(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench-model", help="classifier latency with ONNX Runtime on this CPU (median, p99)")
    p.add_argument("models", type=Path, nargs="+", help="ONNX models, e.g. the FP32 and INT8 ones")
    p.add_argument(
        "--batch",
        type=int,
        nargs="+",
        default=[1, 8],
        help="batch sizes to time, faces per call (default 1 8)",
    )
    p.add_argument("--runs", type=int, default=1000, help="timed calls per model and batch size (default 1000)")
    p.add_argument("--threads", type=int, default=0, help=f"{THREADS_HELP} (default 0)")
    p.add_argument("--json", type=Path, help="write the rows as JSON")
    p.set_defaults(func=cmd_bench_model)


def cmd_bench_model(args: argparse.Namespace) -> int:
    rows = [measure(m, b, args.runs, args.threads) for m in args.models for b in args.batch]
    print(f"ONNX Runtime CPU, {os.cpu_count()} cores, {args.runs} runs per row (preprocessing included)")
    print(f"{'model':<32}{'KiB':>9}{'batch':>7}{'median ms':>11}{'p99 ms':>9}{'ms/face':>9}")
    for r in rows:
        print(
            f"{r.model:<32}{r.size_kib:>9.1f}{r.batch:>7}{r.median_ms:>11.3f}{r.p99_ms:>9.3f}{r.per_face_median_ms:>9.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0
