"""Load a checkpoint file into the official architecture, with one-sentence errors."""

import zipfile
from pathlib import Path

import numpy as np

from edgemask.export.registry import ModelSpec


class CheckpointError(ValueError):
    """The file is not a usable checkpoint for the requested model."""


def load_state_dict(path) -> dict:
    """Read a state dict from a .pth/.pt file (plain, or wrapped in {"state_dict": ...} / {"model": ...})
    as numpy arrays, without PyTorch and without running code from the file (see torch_file)."""
    import pickle

    from edgemask.export import torch_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(4)
        if head == b"\x80\x02\x8a\x0a":  # the magic number that opens torch's pre-1.6 format
            raise CheckpointError(f"{path} is in PyTorch's legacy (pre-1.6) format; re-save it with a current "
                                  "torch.save, or pass the official file")
        raise CheckpointError(f"{path} is not a PyTorch checkpoint, or it is truncated (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({exc})") from None
    if bad is not None:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt (bad member {bad})")
    try:
        obj = torch_file.load(path)
    except torch_file.UnsafeFileError as exc:
        raise CheckpointError(f"{path} asks to call {exc} when loaded, which a file of weights never needs; "
                              "refused without running it") from None
    except (pickle.UnpicklingError, zipfile.BadZipFile, KeyError, ValueError, TypeError, EOFError, OSError,
            AttributeError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint, or it is truncated ({first[:200]})"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise CheckpointError(f"{path} holds no state dict of tensors (found {type(obj).__name__})")
    return dict(obj)


def check_state_dict(spec: ModelSpec, state_dict: dict, expected_shapes: dict) -> None:
    """CheckpointError naming what differs when `state_dict` is not `spec`'s (keys and shapes)."""
    _check_keys(spec, expected_shapes, state_dict)


def official_model(spec: ModelSpec):
    """The official architecture of `spec`, untrained (needs PyTorch and the official packages)."""
    import importlib

    module_name, fn_name = spec.builder.split(":")
    if spec.family == "efficientvit-sam":
        # the official zoo builder also sets the norm eps the released weights were trained with
        from efficientsam.sam_model_zoo import create_efficientvit_sam_model

        return create_efficientvit_sam_model(spec.name, pretrained=False)
    if spec.family == "sam2.1":
        import torch

        # build_sam2 (Meta's sam2, or EdgeTAM's through edgemask.export.edgetam); Hiera's builder
        # reads values (drop-path rates), so it cannot build on the meta device
        build_sam2 = getattr(importlib.import_module(module_name), fn_name)
        with torch.device("cpu"):
            return build_sam2(spec.config, ckpt_path=None, device="cpu")
    return getattr(importlib.import_module(module_name), fn_name)(checkpoint=None)


def official_norm_eps(spec: ModelSpec) -> dict:
    """{state-dict prefix: eps} of the official model's BatchNorm layers."""
    import torch

    with torch.device("meta"):
        model = official_model(spec)
    return {name: float(m.eps) for name, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}


def build_model(spec: ModelSpec, state_dict: dict):
    """The official model for `spec` (eval mode, CPU) with `state_dict` (numpy arrays) loaded strictly."""
    import torch

    model = official_model(spec)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    _check_keys(spec, expected, state_dict)
    # values are numpy arrays from the torch-free reader, or tensors from an official model's own state_dict
    tensors = {k: v if isinstance(v, torch.Tensor) else torch.from_numpy(np.array(v)) for k, v in state_dict.items()}
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def _check_keys(spec: ModelSpec, expected: dict, given: dict) -> None:
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    if missing or unexpected:
        hint = _guess_model(given)
        raise CheckpointError(
            f"checkpoint does not match {spec.name}: {len(missing)} weights missing"
            f" (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})"
            + (f"; it looks like {hint}" if hint else "")
        )
    wrong = [(k, tuple(given[k].shape), tuple(v)) for k, v in expected.items() if tuple(given[k].shape) != tuple(v)]
    if wrong:
        k, got, want = wrong[0]
        hint = _guess_model(given)
        raise CheckpointError(
            f"checkpoint does not match {spec.name}: {len(wrong)} weights have other shapes"
            f" (e.g. {k}: {got}, expected {want})" + (f"; it looks like {hint}" if hint else "")
        )


def _guess_model(state_dict: dict) -> str:
    """A short guess of which model a state dict belongs to, for error messages."""
    if "image_encoder.pos_embed" in state_dict:
        blocks = {k.split(".")[2] for k in state_dict if k.startswith("image_encoder.blocks.")}
        name = {12: "sam-vit-b", 24: "sam-vit-l", 32: "sam-vit-h"}.get(len(blocks))
        return name or "a SAM ViT checkpoint"
    if any(k.startswith("image_encoder.backbone.") for k in state_dict):
        return "an EfficientViT-SAM checkpoint"
    if any(k.startswith("image_encoder.trunk.body.") for k in state_dict):
        return "an EdgeTAM checkpoint"
    if any(k.startswith("image_encoder.trunk.") for k in state_dict):
        embed = state_dict.get("image_encoder.trunk.patch_embed.proj.weight")
        dim = int(embed.shape[0]) if embed is not None else 0
        return {96: "sam2.1-hiera-tiny or -small", 112: "sam2.1-hiera-base-plus",
                144: "sam2.1-hiera-large"}.get(dim, "a SAM 2 checkpoint")
    return ""
