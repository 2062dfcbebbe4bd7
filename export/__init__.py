"""Workstation and device: ONNX export, INT8 quantization, TensorRT engine building."""
