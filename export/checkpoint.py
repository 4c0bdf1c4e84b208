"""Load a checkpoint file into the official architecture, with one-sentence errors."""

import zipfile
from pathlib import Path

from edgemask.export.registry import ModelSpec


class CheckpointError(ValueError):
    """The file is not a usable checkpoint for the requested model."""


def load_state_dict(path) -> dict:
    """Read a state dict from a .pth/.pt file (plain, or wrapped in {"state_dict": ...} / {"model": ...})."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({exc})") from None
        if bad is not None:
            raise CheckpointError(f"checkpoint {path} is truncated or corrupt (bad member {bad})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint, or it is truncated ({first[:200]})"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} holds no state dict of tensors (found {type(obj).__name__})")
    return obj


def build_model(spec: ModelSpec, state_dict: dict):
    """The official model for `spec` (eval mode, CPU) with `state_dict` loaded strictly."""
    import importlib

    module_name, fn_name = spec.builder.split(":")
    if spec.family == "efficientvit-sam":
        # the official zoo builder also sets the norm eps the released weights were trained with
        from efficientsam.sam_model_zoo import create_efficientvit_sam_model

        model = create_efficientvit_sam_model(spec.name, pretrained=False)
    else:
        model = getattr(importlib.import_module(module_name), fn_name)(checkpoint=None)
    _check_keys(spec, model.state_dict(), state_dict)
    model.load_state_dict(state_dict, strict=True)
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
    wrong = [(k, tuple(given[k].shape), tuple(v.shape)) for k, v in expected.items() if given[k].shape != v.shape]
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
    return ""
