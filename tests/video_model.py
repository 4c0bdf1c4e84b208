"""The random-weight sam2.1-hiera-tiny export with its video graphs (edgemask.export.sam2_video_graphs), in
the folder tests/runtime/test_sequence_parity.py builds (so both share one export), plus what a mask prompt
needs in model.json "video" (mask_downsample, no_mem_embed) when the exporter did not write it."""

import json
import os
from pathlib import Path

NAME = "sam2.1-hiera-tiny"


def video_model_dir(exported_model, random_checkpoint, name: str = NAME) -> Path:
    from edgemask.export.sam2_video_graphs import add_video_parts

    image_dir = exported_model(name)
    out = image_dir.parent / f"{image_dir.name}-video"
    if not (out / "memory_attention.onnx").exists():
        tmp = out.with_name(out.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for f in image_dir.iterdir():
            if not (tmp / f.name).exists():
                os.link(f, tmp / f.name) if f.name != "model.json" else (tmp / f.name).write_bytes(f.read_bytes())
        add_video_parts(tmp, random_checkpoint(name))
        tmp.replace(out)
    _add_mask_prompt_parts(out, random_checkpoint(name))
    return out


def _add_mask_prompt_parts(model_dir: Path, checkpoint) -> None:
    manifest_path = model_dir / "model.json"
    manifest = json.loads(manifest_path.read_text())
    video = manifest["video"]
    if "mask_downsample" in video and "no_mem_embed" in video:
        return
    import torch

    state = torch.load(str(checkpoint), map_location="cpu", weights_only=True)["model"]
    video["mask_downsample"] = {"weight": [float(v) for v in state["mask_downsample.weight"].flatten()],
                                "bias": float(state["mask_downsample.bias"].flatten()[0])}
    video["no_mem_embed"] = [float(v) for v in state["no_mem_embed"].flatten()]
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(manifest_path)


def panning_frames(count: int, height: int = 48, width: int = 64, step: int = 2, seed: int = 5) -> list:
    """`count` RGB frames of one synthetic scene panning `step` pixels a frame (the same pixels wherever they
    are asked for, so page tests share their embeddings through one embedding cache)."""
    import numpy as np

    from synthetic import synthetic_image

    scene = synthetic_image(height + count * step, width + count * step, seed=seed)
    return [np.ascontiguousarray(scene[i * step:i * step + height, i * step:i * step + width]) for i in range(count)]
