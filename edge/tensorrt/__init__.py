"""The NVIDIA room: the TensorRT classifier backend, YuNet's engine and runner (``yunet``), engine
building, and the engine cache beside each model.

Only ``backend``, ``build`` and ``yunet`` import TensorRT and pycuda (at the top, by design: they are loaded
only where those exist); ``support`` says whether they can run here without importing them for real,
and ``engine_cache``/``engine_manager`` check and rebuild an engine with the standard library.
"""
