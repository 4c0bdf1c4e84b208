"""Export official SAM / EfficientViT-SAM checkpoints to an ONNX encoder + decoder + model.json.

Importing this package does not import torch; `edgemask.export.exporter` does.
"""
