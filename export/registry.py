"""The models edgemask can export: official builders, checkpoint URLs and geometry.

Torch-free: builders are named as "module:function" and imported only by the exporter.
"""

from dataclasses import dataclass
from typing import Optional

SAM_MEAN = (123.675, 116.28, 103.53)
SAM_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "sam" or "efficientvit-sam"
    builder: str  # "module:function" of the official builder
    encoder_size: int  # side of the square image the encoder sees
    url: str
    sha256_prefix: Optional[str] = None  # Meta's file names carry the first hex digits of the sha256
    size_bytes: Optional[int] = None
    prompt_frame: int = 1024  # prompts and decoder masks live in this square frame for every family
    interpolation: str = "bilinear"  # how the official transform resizes (torchvision on a PIL image)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
_EVIT_URL = "https://huggingface.co/mit-han-lab/efficientvit-sam/resolve/main/"
_EVIT = "efficientsam.models.efficientvit.sam:"

MODELS = {
    spec.name: spec
    for spec in [
        ModelSpec("sam-vit-b", "sam", "segment_anything.build_sam:build_sam_vit_b", 1024,
                  _SAM_URL + "sam_vit_b_01ec64.pth", "01ec64"),
        ModelSpec("sam-vit-l", "sam", "segment_anything.build_sam:build_sam_vit_l", 1024,
                  _SAM_URL + "sam_vit_l_0b3195.pth", "0b3195"),
        ModelSpec("sam-vit-h", "sam", "segment_anything.build_sam:build_sam_vit_h", 1024,
                  _SAM_URL + "sam_vit_h_4b8939.pth", "4b8939"),
        ModelSpec("efficientvit-sam-l0", "efficientvit-sam", _EVIT + "efficientvit_sam_l0", 512,
                  _EVIT_URL + "efficientvit_sam_l0.pt"),
        ModelSpec("efficientvit-sam-l1", "efficientvit-sam", _EVIT + "efficientvit_sam_l1", 512,
                  _EVIT_URL + "efficientvit_sam_l1.pt"),
        ModelSpec("efficientvit-sam-l2", "efficientvit-sam", _EVIT + "efficientvit_sam_l2", 512,
                  _EVIT_URL + "efficientvit_sam_l2.pt"),
        ModelSpec("efficientvit-sam-xl0", "efficientvit-sam", _EVIT + "efficientvit_sam_xl0", 1024,
                  _EVIT_URL + "efficientvit_sam_xl0.pt"),
        ModelSpec("efficientvit-sam-xl1", "efficientvit-sam", _EVIT + "efficientvit_sam_xl1", 1024,
                  _EVIT_URL + "efficientvit_sam_xl1.pt"),
    ]
}


def get_spec(name: str) -> ModelSpec:
    """The spec of a model by name; ValueError listing the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None
