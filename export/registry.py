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
    sha256: Optional[str] = None  # full sha256 of the official file, as published
    size_bytes: Optional[int] = None  # byte size of the official file, where published
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
                  _SAM_URL + "sam_vit_b_01ec64.pth",
                  "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", 375042383),
        ModelSpec("sam-vit-l", "sam", "segment_anything.build_sam:build_sam_vit_l", 1024,
                  _SAM_URL + "sam_vit_l_0b3195.pth",
                  "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622"),
        ModelSpec("sam-vit-h", "sam", "segment_anything.build_sam:build_sam_vit_h", 1024,
                  _SAM_URL + "sam_vit_h_4b8939.pth",
                  "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", 2564550879),
        ModelSpec("efficientvit-sam-l0", "efficientvit-sam", _EVIT + "efficientvit_sam_l0", 512,
                  _EVIT_URL + "efficientvit_sam_l0.pt",
                  "c4f994b01a16d48bcf2fbbb089448cfbf58fae5811edfa8113c953b8b8cc64b8"),
        ModelSpec("efficientvit-sam-l1", "efficientvit-sam", _EVIT + "efficientvit_sam_l1", 512,
                  _EVIT_URL + "efficientvit_sam_l1.pt",
                  "fa151df2b9b96896accd505470755cdd293a4c50cdabac95478f3fbd86d9152b"),
        ModelSpec("efficientvit-sam-l2", "efficientvit-sam", _EVIT + "efficientvit_sam_l2", 512,
                  _EVIT_URL + "efficientvit_sam_l2.pt",
                  "d4bfd842224cbb99de09acc3325e81ac5b7e8725c8fbdab152305e5d934bfe4a"),
        ModelSpec("efficientvit-sam-xl0", "efficientvit-sam", _EVIT + "efficientvit_sam_xl0", 1024,
                  _EVIT_URL + "efficientvit_sam_xl0.pt",
                  "9bc2f87bd23d6e6d1f7b5beff910f98835c7c333fac73e695bac0bec685968f8"),
        ModelSpec("efficientvit-sam-xl1", "efficientvit-sam", _EVIT + "efficientvit_sam_xl1", 1024,
                  _EVIT_URL + "efficientvit_sam_xl1.pt",
                  "10f42277679427c1183dcff19758e536aa86bcc4304e4b387ff48865784be05c"),
    ]
}


def get_spec(name: str) -> ModelSpec:
    """The spec of a model by name; ValueError listing the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None
