"""Text into vectors: the embedding model and its ONNX/OpenVINO encoders."""
