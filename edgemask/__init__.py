"""edgemask: click-to-mask annotation with SAM / EfficientViT-SAM on ONNX Runtime."""

__version__ = "0.1.0"
