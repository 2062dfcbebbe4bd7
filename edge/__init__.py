"""The device: everything a camera box installs, from the frame to the MQTT message.

The core modules here (sources, capture, detect, align, classify, tracking, smoothing, loop, config)
are the frame loop; the rooms beside them are ``mqtt`` (the contract and its client), ``service``
(``emotion-edge run`` under systemd), ``tensorrt`` (the Jetson backend and its engines) and ``tools``
(demo, benchmarks, soak). Nothing in this package imports torch, train or export: the device needs
none of them (tests/test_boundaries.py keeps it so). docs/architecture.md draws the house.
"""

from edge.ort import telemetry_off

telemetry_off()  # before any module loads ONNX Runtime: it collects telemetry otherwise (edge/ort.py)

__version__ = "2.1.0"  # the package's, as in pyproject.toml (tests/test_version.py keeps them equal)
