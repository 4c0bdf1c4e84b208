"""SAM 2.1's two networks for export, wrapped around the official `sam2` modules (needs PyTorch).

The encoder's three outputs (the 64x64 image embedding and the two high-resolution feature maps the
decoder's upscaling adds, already through the decoder's conv_s0 / conv_s1, no_mem_embed added) travel
as one flat float32 tensor, `image_embeddings`, so that caches, precompute and the decoder split
handle one array per image as for the other families; the decoder takes it apart again.
"""

import math

import torch
from torch import nn

from edgemask.export.graphs import NormalisingGraph
from edgemask.export.registry import SAM2_PARTS as PARTS

PACKED_SIZE = sum(math.prod(shape) for _, shape in PARTS)


class Sam2EncoderGraph(NormalisingGraph):
    """RGB image [1024, 1024, 3] (0..255, already resized to the square) -> packed embedding [PACKED_SIZE]."""

    def __init__(self, model: nn.Module, pixel_mean, pixel_std) -> None:
        super().__init__(pixel_mean, pixel_std)
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.normalise(image)
        # SAM2ImagePredictor.set_image, from forward_image on
        backbone_out = self.model.forward_image(x)
        _, feats, _, _ = self.model._prepare_backbone_features(backbone_out)
        if self.model.directly_add_no_mem_embed:
            feats[-1] = feats[-1] + self.model.no_mem_embed
        order = [feats[-1], feats[0], feats[1]]  # image_embed, high_res_feats_0, high_res_feats_1
        return torch.cat([f.permute(1, 2, 0).reshape(-1) for f in order])


def unpack(packed: torch.Tensor):
    """The parts of a packed embedding, as PARTS lists them."""
    out, start = [], 0
    for _, shape in PARTS:
        size = math.prod(shape)
        out.append(packed[start:start + size].view(shape))
        start += size
    return out


class Sam2DecoderGraph(nn.Module):
    """Prompt encoder + mask decoder of SAM 2.1, per click: all four masks and IoU scores.

    point_coords [1, N, 2] are in the 1024x1024 frame and include what SAM2ImagePredictor sends: box
    corners first (labels 2, 3), then the points, then the padding point (0, 0) with label -1, which
    the official prompt encoder appends whenever it gets no separate box. mask_input / has_mask_input
    switch the dense prompt as in SAM's ONNX wrapper. Mask selection (multimask or the single mask with
    the stability fallback) is the runtime's job, so that it cannot be constant-folded here.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.prompt_encoder = model.sam_prompt_encoder
        self.mask_decoder = model.sam_mask_decoder

    @torch.no_grad()
    def forward(self, image_embeddings, point_coords, point_labels, mask_input, has_mask_input):
        image_embed, feat_s0, feat_s1 = unpack(image_embeddings)
        masks, iou, _, _ = prompt_and_decode(self.prompt_encoder, self.mask_decoder, image_embed, feat_s0, feat_s1,
                                             point_coords, point_labels, mask_input, has_mask_input)
        return iou, masks


def prompt_and_decode(pe, mask_decoder, image_embed, feat_s0, feat_s1, point_coords, point_labels, mask_input,
                      has_mask_input):
    """The prompt encoder (points, the mask or no_mask_embed as has_mask_input says) and predict_masks on
    `image_embed` with the high-res features: (masks, iou, mask tokens out, object score logits)."""
    sparse = pe._embed_points(point_coords, point_labels, pad=False)
    no_mask = pe.no_mask_embed.weight.reshape(1, -1, 1, 1)
    dense = has_mask_input * pe._embed_masks(mask_input) + (1 - has_mask_input) * no_mask
    return mask_decoder.predict_masks(
        image_embeddings=image_embed, image_pe=pe.get_dense_pe(), sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense, repeat_image=False, high_res_features=[feat_s0, feat_s1])


def trace_sam2(model, out_dir, opset: int) -> None:
    """Write out_dir/encoder.onnx and out_dir/decoder.onnx (fp32) from the official SAM 2.1 `model`."""
    from edgemask.export.registry import SAM_MEAN, SAM_STD
    from edgemask.export.trace import _onnx_export

    encoder = Sam2EncoderGraph(model, SAM_MEAN, SAM_STD).eval()
    _onnx_export(encoder, (torch.rand(1024, 1024, 3) * 255,), out_dir / "encoder.onnx", opset, ["image"],
                 ["image_embeddings"], None)
    dummy = (
        torch.randn(PACKED_SIZE),
        torch.randint(0, 1024, (1, 3, 2)).float(),
        torch.tensor([[2, 3, -1]], dtype=torch.float32),
        torch.randn(1, 1, 256, 256),
        torch.tensor([1], dtype=torch.float32),
    )
    names = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input"]
    dynamic = {"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}}
    _onnx_export(Sam2DecoderGraph(model).eval(), dummy, out_dir / "decoder.onnx", opset, names,
                 ["iou_predictions", "low_res_masks"], dynamic)
