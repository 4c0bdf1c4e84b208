"""Export official SAM / EfficientViT-SAM checkpoints to an ONNX encoder + decoder + model.json.

Torch-free by default: the checkpoint is read by `torch_file` and the shipped weightless graphs are
filled by `weightless`. Only `trace` and `make_weightless`, which make those graphs, import torch.
"""
