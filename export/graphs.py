"""The two networks edgemask exports, wrapped around the official modules."""

import torch
from torch import nn
from segment_anything.utils.onnx import SamOnnxModel


class NormalisingGraph(nn.Module):
    """Base of the encoder graphs: holds pixel_mean / pixel_std and turns an RGB image [H, W, 3] (0..255)
    into the normalised [1, 3, H, W] batch the official image encoders take."""

    def __init__(self, pixel_mean, pixel_std) -> None:
        super().__init__()
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(1, 3, 1, 1))

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        return (image.permute(2, 0, 1).unsqueeze(0) - self.pixel_mean) / self.pixel_std


class EncoderGraph(NormalisingGraph):
    """Padded RGB image [S, S, 3] (0..255, padding = pixel mean) -> image embeddings [1, 256, 64, 64].

    Normalisation and the HWC->CHW transpose live in the graph, so the runtime only resizes and pads.
    """

    def __init__(self, image_encoder: nn.Module, pixel_mean, pixel_std) -> None:
        super().__init__(pixel_mean, pixel_std)
        self.image_encoder = image_encoder

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(self.normalise(image))


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


class HeadChunkedAttention(nn.Module):
    """SAM's attention computed in tiles of `heads_per_chunk` heads x `query_rows` rows of queries (for
    global attention one head x 4 rows of the 64x64 grid: 256 queries x 4096 keys, 4 MB): the same maths as
    `segment_anything.modeling.image_encoder.Attention`, but each tile's scores stay in the CPU's cache
    through the MatMul, the relative-position adds, the softmax and the MatMul with V, and onnxruntime
    never holds the 4096x4096 matrices of all heads (peak memory for ViT-B drops by gigabytes)."""

    def __init__(self, attn: nn.Module, heads_per_chunk: int = 1, query_rows: int = 4) -> None:
        super().__init__()
        self.attn = attn
        self.heads_per_chunk = heads_per_chunk
        self.query_rows = query_rows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from segment_anything.modeling.image_encoder import get_rel_pos

        a = self.attn
        b, h, w, _ = x.shape
        n = b * a.num_heads
        qkv = a.qkv(x).reshape(b, h * w, 3, a.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, n, h * w, -1).unbind(0)
        rel_h = rel_w = None
        if a.use_rel_pos:  # add_decomposed_rel_pos's two terms, shaped to broadcast over [., queries, h, w]
            r_q = q.reshape(n, h, w, -1)
            rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, get_rel_pos(h, h, a.rel_pos_h)).reshape(n, h * w, h, 1)
            rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, get_rel_pos(w, w, a.rel_pos_w)).reshape(n, h * w, 1, w)
        q, k_t, tile = q * a.scale, k.transpose(-2, -1), min(self.query_rows, h) * w
        heads = []
        for i in range(0, n, self.heads_per_chunk):
            hs, rows = slice(i, i + self.heads_per_chunk), []
            for j in range(0, h * w, tile):
                qs = slice(j, j + tile)
                scores = q[hs, qs] @ k_t[hs]
                if rel_h is not None:
                    scores = (scores.view(-1, scores.shape[1], h, w) + rel_h[hs, qs] + rel_w[hs, qs]).flatten(2)
                rows.append(scores.softmax(dim=-1) @ v[hs])
            heads.append(torch.cat(rows, 1) if len(rows) > 1 else rows[0])
        x = torch.cat(heads).view(b, a.num_heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
        return a.proj(x)


def chunk_global_attention(image_encoder: nn.Module, heads_per_chunk: int = 1, query_rows: int = 4) -> None:
    """Swap the attention of a SAM ViT encoder's blocks for HeadChunkedAttention, in place: the global
    blocks in tiles of `heads_per_chunk` heads x `query_rows` query rows, the windowed blocks one window
    (all its heads) at a time, whose 196x196 scores fit the cache the same way."""
    for block in getattr(image_encoder, "blocks", []):
        if isinstance(block.attn, HeadChunkedAttention):
            continue
        if block.window_size == 0:
            block.attn = HeadChunkedAttention(block.attn, heads_per_chunk, query_rows)
        else:
            block.attn = HeadChunkedAttention(block.attn, block.attn.num_heads, block.window_size)


class MatrixResize(nn.Module):
    """A fixed-size interpolation written as two matrix products, rows @ x @ cols_t.

    The matrices are torch's own 1-D interpolation applied to one-hot inputs, and bicubic/bilinear
    resizing is separable, so this is the same maths as F.interpolate; onnxruntime runs it several
    times faster than a cubic Resize (EfficientViT-SAM's neck upsamples every stage to 64x64).
    """

    def __init__(self, in_hw, out_hw, mode: str, align_corners: bool) -> None:
        super().__init__()
        self.register_buffer("rows", _interpolation_matrix(in_hw[0], out_hw[0], mode, align_corners))
        self.register_buffer("cols_t", _interpolation_matrix(in_hw[1], out_hw[1], mode, align_corners).T.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rows @ x @ self.cols_t


def _interpolation_matrix(n_in: int, n_out: int, mode: str, align_corners: bool) -> torch.Tensor:
    """(n_out, n_in) matrix M with M @ v == 1-D F.interpolate(v) for every vector v."""
    eye = torch.eye(n_in).reshape(n_in, 1, 1, n_in)
    out = torch.nn.functional.interpolate(eye, size=(1, n_out), mode=mode, align_corners=align_corners)
    return out.reshape(n_in, n_out).T.contiguous()


def matrix_upsampling(image_encoder: nn.Module, example: torch.Tensor) -> int:
    """Swap EfficientViT's fixed-size UpSampleLayer modules for MatrixResize, in place.

    Runs `example` (a normalised [1, 3, S, S] image) once to learn each layer's input size; layers
    whose input already has the output size become identities. Returns the number replaced.
    """
    from efficientsam.models.nn.ops import UpSampleLayer

    seen = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args: seen.__setitem__(mod, tuple(args[0].shape[-2:])))
             for m in image_encoder.modules() if isinstance(m, UpSampleLayer) and m.size is not None]
    with torch.no_grad():
        image_encoder(example)
    for hook in hooks:
        hook.remove()
    replaced = 0
    for parent in list(image_encoder.modules()):
        for name, child in list(parent.named_children()):
            if child in seen and child.mode in ("bicubic", "bilinear"):
                in_hw, out_hw = seen[child], tuple(child.size)
                new = nn.Identity() if in_hw == out_hw else MatrixResize(in_hw, out_hw, child.mode, child.align_corners)
                setattr(parent, name, new)
                replaced += 1
    return replaced
