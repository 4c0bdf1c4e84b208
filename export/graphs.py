"""The two networks edgemask exports, wrapped around the official modules."""

import torch
from torch import nn
from segment_anything.utils.onnx import SamOnnxModel


class EncoderGraph(nn.Module):
    """Padded RGB image [S, S, 3] (0..255, padding = pixel mean) -> image embeddings [1, 256, 64, 64].

    Normalisation and the HWC->CHW transpose live in the graph, so the runtime only resizes and pads.
    """

    def __init__(self, image_encoder: nn.Module, pixel_mean, pixel_std) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(2, 0, 1).unsqueeze(0)
        x = (x - self.pixel_mean) / self.pixel_std
        return self.image_encoder(x)


class DecoderGraph(SamOnnxModel):
    """Prompt encoder + mask decoder, per click, for every family.

    Reuses the official ONNX wrapper's prompt embedding (points with labels incl. box corners and the
    padding point, mask input with its has_mask_input switch) but returns all four masks at 256x256 and
    computes no shape from input values, so TensorRT can build it; upscaling is the runtime's job.
    """

    def __init__(self, model: nn.Module, prompt_frame: int = 1024) -> None:
        nn.Module.__init__(self)
        self.model = model
        self.mask_decoder = model.mask_decoder
        self.img_size = prompt_frame

    @torch.no_grad()
    def forward(self, image_embeddings, point_coords, point_labels, mask_input, has_mask_input):
        sparse_embedding = self._embed_points(point_coords, point_labels)
        dense_embedding = self._embed_masks(mask_input, has_mask_input)
        masks, scores = self.mask_decoder.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse_embedding,
            dense_prompt_embeddings=dense_embedding,
        )
        return scores, masks
