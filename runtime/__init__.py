"""mnistgen: handwritten digits on demand, from an ONNX model, without PyTorch."""
