"""EdgeTAM's official code (PyPI `edgetam-dimos`, a packaging of facebookresearch/EdgeTAM), next to Meta's `sam2`.

Both install a top-level package named `sam2`, so EdgeTAM's lives in its own folder
(`pip install --no-deps --target DIR ...`, see INSTALL; DIR is EDGEMASK_EDGETAM_PATH, by default the
folder `edgetam` in the Python environment's prefix, e.g. .venv/edgetam)
and is imported only while a model is built, with Meta's `sam2` modules set aside meanwhile. The
models built keep EdgeTAM's code. Its RepViT trunk comes from timm, which would download ImageNet
weights that any EdgeTAM checkpoint replaces; the build asks timm for none (needs PyTorch).
"""

import os
import sys
from contextlib import contextmanager
from pathlib import Path

ENV = "EDGEMASK_EDGETAM_PATH"
INSTALL = ("pip install --no-deps --target DIR edgetam-dimos==1.0.1 timm==1.0.31 huggingface_hub==2.4.0 "
           "safetensors==0.8.0")


class EdgeTamMissing(ValueError):
    pass


def site() -> Path:
    """The folder holding EdgeTAM's `sam2` package and timm; EdgeTamMissing saying how to make it otherwise."""
    folder = Path(os.environ.get(ENV) or Path(sys.prefix) / "edgetam")
    if not (folder / "sam2" / "configs" / "edgetam.yaml").is_file():
        raise EdgeTamMissing(f"EdgeTAM's official code installs a package named sam2, as Meta's SAM 2 does, so "
                             f"edgemask loads it from a folder of its own, not found at {folder}: {INSTALL} "
                             f"(DIR: {Path(sys.prefix) / 'edgetam'}, or set {ENV}=DIR).")
    return folder


def _sam2_modules() -> dict:
    return {k: sys.modules.pop(k) for k in list(sys.modules) if k == "sam2" or k.startswith("sam2.")}


@contextmanager
def edgetam_code():
    """Within: `import sam2` is EdgeTAM's. Meta's modules, if imported, are back afterwards."""
    folder = str(site())
    if folder not in sys.path:
        sys.path.append(folder)  # timm and the distribution's metadata stay findable
    meta = _sam2_modules()
    sys.path.insert(0, folder)
    try:
        import sam2.modeling.backbones.timm as trunk

        if not getattr(trunk.create_model, "no_download", False):
            trunk.create_model = _without_pretrained(trunk.create_model)
        yield
    finally:
        sys.path.remove(folder)
        _sam2_modules()
        sys.modules.update(meta)


def _without_pretrained(create_model):
    def create(*args, **kwargs):
        return create_model(*args, **dict(kwargs, pretrained=False))

    create.no_download = True
    return create


def build_edgetam(config: str, ckpt_path=None, device: str = "cpu"):
    """EdgeTAM by its official builder (`sam2.build_sam.build_sam2` of edgetam-dimos), untrained when ckpt_path is None."""
    with edgetam_code():
        from sam2.build_sam import build_sam2

        return build_sam2(config, ckpt_path=ckpt_path, device=device)


def image_predictor(model):
    """EdgeTAM's official SAM2ImagePredictor around `model`."""
    with edgetam_code():
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        return SAM2ImagePredictor(model)


def traceable(model):
    """`model` with a point embedding that traces for any number of points: EdgeTAM's prompt encoder adds
    the label embeddings by boolean-mask assignment, which the tracer fixes to the example's point count;
    the same sums written with torch.where (as Meta's sam2 1.1 writes them). Returns `model`."""
    import types

    import torch

    def embed_points(self, points, labels, pad):
        if pad:
            raise ValueError("the exported decoder gets its padding point from the runtime")
        emb = self.pe_layer.forward_with_coords(points + 0.5, self.input_image_size)
        label = labels.unsqueeze(-1)
        emb = torch.where(label == -1, torch.zeros_like(emb) + self.not_a_point_embed.weight, emb)
        for i, weight in enumerate(self.point_embeddings):
            emb = torch.where(label == i, emb + weight.weight, emb)
        return emb

    encoder = model.sam_prompt_encoder
    encoder._embed_points = types.MethodType(embed_points, encoder)
    return model


def library_versions() -> dict:
    """{distribution: version} of EdgeTAM's official code and its trunk's library, from site()."""
    from importlib.metadata import distributions

    found = {d.metadata["Name"].lower(): d.version for d in distributions(path=[str(site())])}
    return {name: found[name] for name in ("edgetam-dimos", "timm")}
