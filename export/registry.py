"""The models edgemask can export: official builders, checkpoint URLs and geometry.

Torch-free: builders are named as "module:function" and imported only by the exporter.
"""

from dataclasses import dataclass
from typing import Optional

SAM_MEAN = (123.675, 116.28, 103.53)
SAM_STD = (58.395, 57.12, 57.375)
# SAM 2.1's encoder outputs, packed into one flat image_embeddings tensor in this order
SAM2_PARTS = (("image_embed", (1, 256, 64, 64)), ("high_res_feats_0", (1, 32, 256, 256)),
              ("high_res_feats_1", (1, 64, 128, 128)))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "sam", "efficientvit-sam" or "sam2.1"
    builder: str  # "module:function" of the official builder
    encoder_size: int  # side of the square image the encoder sees
    url: str
    sha256: Optional[str] = None  # full sha256 of the official file, as published
    size_bytes: Optional[int] = None  # byte size of the official file, where published
    prompt_frame: int = 1024  # prompts and decoder masks live in this square frame for every family
    interpolation: str = "bilinear"  # how the official transform resizes (torchvision on a PIL image)
    resize: str = "longest_side"  # "longest_side" (then padded) or "square" (SAM 2.1: both axes to encoder_size)
    config: Optional[str] = None  # the official builder's config (SAM 2.1's hydra config name)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
_EVIT_URL = "https://huggingface.co/mit-han-lab/efficientvit-sam/resolve/main/"
_EVIT = "efficientsam.models.efficientvit.sam:"
_SAM2_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"


def _sam2(name: str, config: str, file: str, sha256: str) -> "ModelSpec":
    # SAM2ImagePredictor: torchvision Resize((1024, 1024)) on the float image tensor (antialiased bilinear)
    return ModelSpec(name, "sam2.1", "sam2.build_sam:build_sam2", 1024, _SAM2_URL + file, sha256,
                     interpolation="bilinear", resize="square", config=f"configs/sam2.1/{config}")


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
        _sam2("sam2.1-hiera-tiny", "sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny.pt",
              "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69"),
        _sam2("sam2.1-hiera-small", "sam2.1_hiera_s.yaml", "sam2.1_hiera_small.pt",
              "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38"),
        _sam2("sam2.1-hiera-base-plus", "sam2.1_hiera_b+.yaml", "sam2.1_hiera_base_plus.pt",
              "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5"),
        _sam2("sam2.1-hiera-large", "sam2.1_hiera_l.yaml", "sam2.1_hiera_large.pt",
              "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318"),
        # EdgeTAM (facebookresearch/EdgeTAM; official code on PyPI as edgetam-dimos): SAM 2's image
        # pipeline with a RepViT trunk; the checkpoint lives in the GitHub repository, no sha256 published
        ModelSpec("edgetam", "sam2.1", "edgemask.export.edgetam:build_edgetam", 1024,
                  "https://github.com/facebookresearch/EdgeTAM/raw/main/checkpoints/edgetam.pt", None,
                  interpolation="bilinear", resize="square", config="configs/edgetam.yaml"),
    ]
}


def get_spec(name: str) -> ModelSpec:
    """The spec of a model by name; ValueError listing the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None
