"""A small stand-in for ``tensorrt`` and ``pycuda.driver``, because neither can run on these machines.

Used for two things only, as the project allows: which network and builder flags the engine
builder picks for each TensorRT release (8.6, 10.x, 11.x, told apart by the features each binding
exposes, as in NVIDIA's 10.x to 11.x migration guide), and how each kind of TensorRT/CUDA load
failure is handled (fallback, freeing, close order). Everything else in the tests is real.
"""

from __future__ import annotations

import enum
import json
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

# What the bindings of each release expose (BuilderFlag, NetworkDefinitionCreationFlag members).
RELEASES: dict[str, dict[str, Any]] = {
    "8.6.2": {"builder_flags": ["FP16", "INT8", "TF32"], "network_flags": ["EXPLICIT_BATCH", "EXPLICIT_PRECISION"]},
    "10.3.0": {"builder_flags": ["FP16", "INT8", "TF32"], "network_flags": ["EXPLICIT_BATCH", "STRONGLY_TYPED"]},
    "10.13.0": {"builder_flags": ["FP16", "INT8", "TF32"], "network_flags": ["EXPLICIT_BATCH", "STRONGLY_TYPED"]},
    # 11.x removed every precision flag; whether STRONGLY_TYPED stays as a (no-op) name is not
    # something the builder may depend on, so both are tested.
    "11.0.0": {"builder_flags": ["TF32"], "network_flags": ["STRONGLY_TYPED"]},
    "11.4.0-noflag": {"builder_flags": ["TF32"], "network_flags": []},
}


@dataclass
class Record:
    """What the code under test did, in order."""

    events: list[str] = field(default_factory=list)
    networks: list[int] = field(default_factory=list)  # creation flags of each network
    builder_flags: list[str] = field(default_factory=list)
    context_depth: int = 0
    retained: int = 0  # primary-context retains minus releases
    allocations: int = 0  # device + pinned allocations not yet freed
    # Failure injection
    fail: str = ""


def make_tensorrt(version: str, record: Record) -> types.ModuleType:
    spec = RELEASES[version]
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version.split("-")[0]

    class Severity(enum.Enum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    class ILogger:
        def __init__(self) -> None:
            pass

    ILogger.Severity = Severity  # type: ignore[attr-defined]
    trt.ILogger = ILogger
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", {n: i for i, n in enumerate(spec["builder_flags"])})
    trt.NetworkDefinitionCreationFlag = enum.IntEnum(
        "NetworkDefinitionCreationFlag", {n: i for i, n in enumerate(spec["network_flags"])}
    )
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0})
    trt.LayerType = enum.IntEnum("LayerType", {"CONVOLUTION": 0, "QUANTIZE": 1})
    trt.TensorIOMode = enum.IntEnum("TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2})
    trt.DataType = enum.IntEnum("DataType", {"FLOAT": 0, "HALF": 1, "INT8": 2})
    trt.Dims = lambda dims: tuple(dims)

    class Layer:
        def __init__(self, kind: int) -> None:
            self.type = kind

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            self.layers: list[Layer] = []
            record.networks.append(flags)

        @property
        def num_layers(self) -> int:
            return len(self.layers)

        def get_layer(self, i: int) -> Layer:
            return self.layers[i]

    class OnnxParser:
        num_errors = 0

        def __init__(self, network: Network, logger: Any) -> None:
            self.network = network

        def parse(self, data: bytes, path: str) -> bool:
            quantized = b"QuantizeLinear" in data
            self.network.layers = [Layer(trt.LayerType.CONVOLUTION)] + (
                [Layer(trt.LayerType.QUANTIZE)] if quantized else []
            )
            return True

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self) -> bytes:
            return self.data + b"+timed"

    class Config:
        def __init__(self) -> None:
            self.cache: TimingCache | None = None

        def set_memory_pool_limit(self, pool: int, size: int) -> None:
            pass

        def set_flag(self, flag: enum.IntEnum) -> None:
            record.builder_flags.append(flag.name)

        def add_optimization_profile(self, profile: Any) -> int:
            return 0

        def create_timing_cache(self, data: bytes) -> TimingCache:
            return TimingCache(data)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            if cache.data == b"from another GPU":
                return False
            self.cache = cache
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self.cache

    class Profile:
        def set_shape(self, *args: Any) -> None:
            pass

    class Builder:
        def __init__(self, logger: Any) -> None:
            pass

        def create_network(self, flags: int = 0) -> Network:
            return Network(flags)

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
            return json.dumps(ENGINE_SPEC).encode()

    trt.OnnxParser = OnnxParser
    trt.Builder = Builder

    class ExecutionContext:
        def __init__(self) -> None:
            record.events.append("create execution context")

        def set_tensor_address(self, name: str, address: int) -> bool:
            return record.fail != "set_tensor_address"

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            return True

        def __del__(self) -> None:
            record.events.append("destroy execution context")

    class Engine:
        def __init__(self, spec: dict[str, Any]) -> None:
            self.tensors = spec["tensors"]
            self.profile = spec["profile"]
            record.events.append("deserialize engine")

        @property
        def num_io_tensors(self) -> int:
            return len(self.tensors)

        def get_tensor_name(self, i: int) -> str:
            return list(self.tensors)[i]

        def get_tensor_mode(self, name: str) -> enum.IntEnum:
            return trt.TensorIOMode[self.tensors[name]["mode"]]

        def get_tensor_dtype(self, name: str) -> enum.IntEnum:
            return trt.DataType[self.tensors[name]["dtype"]]

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return tuple(self.tensors[name]["shape"])

        def get_tensor_profile_shape(self, name: str, index: int) -> list[tuple[int, ...]]:
            return [tuple(s) for s in self.profile]

        def create_execution_context(self) -> ExecutionContext:
            return ExecutionContext()

        def __del__(self) -> None:
            record.events.append("destroy engine")

    class Runtime:
        def __init__(self, logger: Any) -> None:
            record.events.append("create runtime")

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            try:
                return Engine(json.loads(data))
            except ValueError:
                return None  # what TensorRT does with an engine it cannot read

        def __del__(self) -> None:
            record.events.append("destroy runtime")

    trt.Runtime = Runtime
    return trt


ENGINE_SPEC: dict[str, Any] = {
    "tensors": {
        "input": {"mode": "INPUT", "dtype": "FLOAT", "shape": [-1, 1, 48, 48]},
        "probabilities": {"mode": "OUTPUT", "dtype": "FLOAT", "shape": [-1, 7]},
    },
    "profile": [[1, 1, 48, 48], [4, 1, 48, 48], [8, 1, 48, 48]],
}


class CudaError(Exception):
    """pycuda._driver.Error derives from Exception, not RuntimeError (pycuda's wrap_cudadrv.cpp)."""


def make_pycuda(record: Record) -> tuple[types.ModuleType, types.ModuleType]:
    pycuda = types.ModuleType("pycuda")
    driver = types.ModuleType("pycuda.driver")
    driver.__name__ = "pycuda.driver"
    error = type("LogicError", (CudaError,), {"__module__": "pycuda._driver"})
    driver.Error = CudaError
    driver.LogicError = error

    def init() -> None:
        if record.fail == "cuInit":
            raise error("cuInit failed: no CUDA-capable device is detected")

    class Context:
        def push(self) -> None:
            if record.fail == "push":
                raise error("cuCtxPushCurrent failed: invalid device context")
            record.context_depth += 1
            record.events.append("push context")

        @staticmethod
        def pop() -> None:
            record.context_depth -= 1
            record.events.append("pop context")

        def detach(self) -> None:
            assert record.context_depth == 0, "the context is released while current"
            record.retained -= 1
            record.events.append("release context")

    class Device:
        def __init__(self, index: int) -> None:
            pass

        @staticmethod
        def count() -> int:
            return 1

        def name(self) -> str:
            return "Orin"

        def compute_capability(self) -> tuple[int, int]:
            return (8, 7)

        def retain_primary_context(self) -> Context:
            if record.fail == "retain":
                raise error("cuDevicePrimaryCtxRetain failed: out of memory")
            record.retained += 1
            record.events.append("retain context")
            return Context()

    class Stream:
        handle = 1

        def __init__(self) -> None:
            if record.fail == "stream":
                raise type("MemoryError", (CudaError,), {"__module__": "pycuda._driver"})("cuStreamCreate failed")
            record.events.append("create stream")

        def synchronize(self) -> None:
            assert record.context_depth > 0, "stream used without its context"
            record.events.append("synchronize stream")

        def __del__(self) -> None:
            record.events.append("destroy stream")

    class DeviceAllocation:
        def __init__(self, nbytes: int) -> None:
            if record.fail == "mem_alloc":
                raise type("MemoryError", (CudaError,), {"__module__": "pycuda._driver"})(
                    "cuMemAlloc failed: out of memory"
                )
            record.allocations += 1
            self.freed = False

        def __int__(self) -> int:
            return 0x1000

        def free(self) -> None:
            assert record.context_depth > 0, "device memory freed without its context"
            record.allocations -= 1
            record.events.append("free device memory")

    class HostAllocation(bytearray):
        def free(self) -> None:
            assert record.context_depth > 0, "pinned memory freed without its context"
            record.allocations -= 1
            record.events.append("free pinned memory")

    def pagelocked_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        record.allocations += 1
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return np.ndarray(shape, dtype=dtype, buffer=HostAllocation(size))  # .base: the allocation, as in pycuda

    driver.init = init
    driver.Context = Context
    driver.Device = Device
    driver.Stream = Stream
    driver.mem_alloc = DeviceAllocation
    driver.pagelocked_empty = pagelocked_empty
    pycuda.driver = driver
    return pycuda, driver


# The modules that import tensorrt and pycuda at the top: imported afresh against each stand-in.
LAYER = ("edge.tensorrt.build", "edge.tensorrt.backend", "edge.tensorrt.yunet")


@contextmanager
def standin(monkeypatch: pytest.MonkeyPatch, version: str = "10.3.0") -> Iterator[Record]:
    """Install the stand-ins and import the TensorRT layer afresh against them."""
    record = Record()
    pycuda, driver = make_pycuda(record)
    monkeypatch.setitem(sys.modules, "tensorrt", make_tensorrt(version, record))
    monkeypatch.setitem(sys.modules, "pycuda", pycuda)
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
    for name in LAYER:
        monkeypatch.delitem(sys.modules, name, raising=False)
    try:
        yield record
    finally:
        for name in LAYER:
            sys.modules.pop(name, None)
