"""From a training checkpoint to what the device loads: ONNX export with its metadata, INT8 Q/DQ
quantization and the TensorRT engine; ``int8`` and ``engine`` also run where torch is absent."""
