"""What SAM 2.1's video predictor adds to the image networks, for export (needs PyTorch): the memory
encoder, the memory attention and the mask decoder conditioned on memory with the object pointer
projection, wrapped around the official `sam2` modules (SAM2VideoPredictor, sam2_base.SAM2Base).

Every graph takes the image encoder's packed `image_embeddings` (sam2_graphs; image_embed there has
no_mem_embed added, which the graphs take off again where the video predictor uses the raw feature).
Memory bookkeeping (which frames, which pointers, bfloat16 storage) is the runtime's job
(edgemask.runtime.sequence_predictor); constants that only depend on the 64x64 feature size (the
vision and memory position encodings) are folded into the graphs.
"""

import contextlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from edgemask.export.sam2_graphs import PACKED_SIZE, prompt_and_decode, unpack
from edgemask.export.video_weights import video_weights

VIDEO_GRAPHS = ("memory_attention.onnx", "memory_decoder.onnx", "memory_encoder.onnx")


def _raw_feature(model, image_embeddings):
    """The top-level vision feature [1, 256, 64, 64] before no_mem_embed, and the two high-res maps."""
    image_embed, feat_s0, feat_s1 = unpack(image_embeddings)
    if model.directly_add_no_mem_embed:
        image_embed = image_embed - model.no_mem_embed.reshape(1, -1, 1, 1)
    return image_embed, feat_s0, feat_s1


class GridTable(nn.Module):
    """A [S*S, C] table over an SxS grid (row-major) whose first and second halves of channels each vary
    along one grid axis only (sine position encodings, axial RoPE), rebuilt from two small [S, C/2]
    edges: the exported graph holds 2 x S x C/2 values instead of S x S x C (no large constant to ship)."""

    def __init__(self, table, size: int = 64) -> None:
        super().__init__()
        grid = table.reshape(size, size, -1)
        half = grid.shape[-1] // 2
        self.size, self.axes = size, []
        for i, part in enumerate((grid[..., :half], grid[..., half:])):
            if torch.equal(part, part[:, :1].expand_as(part)):
                edge, axis = part[:, :1], "y"  # [S, 1, C/2]
            elif torch.equal(part, part[:1].expand_as(part)):
                edge, axis = part[:1], "x"  # [1, S, C/2]
            else:
                raise ValueError("the table varies along both grid axes in one half of its channels")
            self.register_buffer(f"edge{i}", edge.contiguous().clone())
            self.axes.append(axis)
        assert torch.equal(self(), table.reshape(size * size, -1))

    def forward(self):
        s = self.size
        halves = [getattr(self, f"edge{i}").expand(s, s, -1) for i in range(2)]
        return torch.cat(halves, dim=-1).reshape(s * s, -1)


def _rotary_real(tables):
    """apply_rotary_enc (sam2.modeling.position_encoding) on real tensors: ONNX has no complex type.
    tables maps id(freqs_cis) -> (cos, sin) [L, D/2] of the same complex frequencies, set per forward."""

    def apply(xq, xk, freqs_cis, repeat_freqs_k=False):
        cos, sin = tables[id(freqs_cis)]

        def rot(x):
            shape = x.shape
            lq = cos.shape[0]
            # keys repeat the query's frequencies along their length (rope_k_repeat)
            pairs = x.float().reshape(shape[0], shape[1], -1, lq, shape[-1] // 2, 2)
            a, b = pairs[..., 0], pairs[..., 1]
            out = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
            return out.reshape(shape).type_as(x)

        if xk.shape[-2] == 0:
            return rot(xq), xk
        return rot(xq), rot(xk)

    return apply


class RotaryTables(nn.Module):
    """cos and sin of every RoPEAttention's frequencies in a memory attention, one GridTable pair per
    distinct set of frequencies (the layers share theirs)."""

    def __init__(self, memory_attention) -> None:
        super().__init__()
        from sam2.modeling.sam import transformer

        self.ids, unique = [], []  # ids: (id(freqs_cis), index into unique)
        for module in memory_attention.modules():
            if isinstance(module, transformer.RoPEAttention):
                f = module.freqs_cis
                same = [i for i, u in enumerate(unique) if u.shape == f.shape and torch.equal(u, f)]
                if not same:
                    unique.append(f)
                self.ids.append((id(f), same[0] if same else len(unique) - 1))
        self.cos = nn.ModuleList(GridTable(f.real.contiguous()) for f in unique)
        self.sin = nn.ModuleList(GridTable(f.imag.contiguous()) for f in unique)

    def forward(self) -> dict:
        pairs = [(c(), s()) for c, s in zip(self.cos, self.sin)]
        return {key: pairs[i] for key, i in self.ids}


@contextlib.contextmanager
def real_rotary(tables: dict):
    """Trace RoPEAttention with the real-valued rotary encoding (numerically the official one), reading
    its cos / sin from `tables` (filled by the graph's forward)."""
    from sam2.modeling.sam import transformer

    original = transformer.apply_rotary_enc
    transformer.apply_rotary_enc = _rotary_real(tables)
    try:
        yield
    finally:
        transformer.apply_rotary_enc = original


class MemoryAttentionGraph(nn.Module):
    """_prepare_memory_conditioned_features, step 2, for one object on a non-initial frame.

    memory [N, 64, 64, 64]: the spatial memories of the N chosen frames; memory_tpos [N] (int64): their
    t_pos (0 for conditioning frames, 1..num_maskmem-1 for the recent ones); obj_ptrs [P, 256]: the
    object pointers; obj_ptr_tpos [P]: each pointer's signed frame distance over t_diff_max.
    -> pix_feat_with_mem [1, 256, 64, 64]."""

    def __init__(self, model, vision_pos, maskmem_pos) -> None:
        super().__init__()
        self.model = model
        self.vision_pos = GridTable(vision_pos.reshape(4096, -1))  # [4096, 1, 256]
        self.maskmem_pos = GridTable(maskmem_pos.reshape(4096, -1))  # [4096, 1, 64]
        self.rotary = RotaryTables(model.memory_attention)
        self.tables = {}  # what real_rotary reads while tracing

    @torch.no_grad()
    def forward(self, image_embeddings, memory, memory_tpos, obj_ptrs, obj_ptr_tpos):
        from sam2.modeling.sam2_utils import get_1d_sine_pe

        m = self.model
        self.tables.clear()
        self.tables.update(self.rotary())
        vision_pos = self.vision_pos().unsqueeze(1)
        maskmem_pos = self.maskmem_pos().unsqueeze(1)
        feat = _raw_feature(m, image_embeddings)[0]
        curr = feat.flatten(2).permute(2, 0, 1)  # (HW) B C
        mem = memory.flatten(2).permute(0, 2, 1).reshape(-1, 1, m.mem_dim)
        tpos = m.maskmem_tpos_enc[m.num_maskmem - memory_tpos - 1]  # [N, 1, 1, 64]
        mem_pos = (maskmem_pos.unsqueeze(0) + tpos.reshape(-1, 1, 1, m.mem_dim)).reshape(-1, 1, m.mem_dim)
        tpos_dim = m.hidden_dim if m.proj_tpos_enc_in_obj_ptrs else m.mem_dim
        obj_pos = m.obj_ptr_tpos_proj(get_1d_sine_pe(obj_ptr_tpos, dim=tpos_dim))
        split = m.hidden_dim // m.mem_dim
        ptrs = obj_ptrs.reshape(-1, 1, split, m.mem_dim).permute(0, 2, 1, 3).flatten(0, 1)
        obj_pos = obj_pos.unsqueeze(1).repeat_interleave(split, dim=0)
        out = m.memory_attention(
            curr=[curr], curr_pos=[vision_pos], memory=torch.cat([mem, ptrs]),
            memory_pos=torch.cat([mem_pos, obj_pos]), num_obj_ptr_tokens=ptrs.shape[0])
        return out.permute(1, 2, 0).reshape(1, m.hidden_dim, 64, 64)


class MemoryDecoderGraph(nn.Module):
    """_forward_sam_heads on a frame's feature (memory-conditioned, or image_embed on an initial
    conditioning frame): the four masks and IoU scores before any choice, the object score, and the
    object pointer of each of the four output tokens (obj_ptr_proj, occlusion mixed with no_obj_ptr).
    Prompts as Sam2DecoderGraph's (the padding point(s) included by the caller)."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    @torch.no_grad()
    def forward(self, pix_feat, image_embeddings, point_coords, point_labels, mask_input, has_mask_input):
        m = self.model
        _, feat_s0, feat_s1 = unpack(image_embeddings)
        masks, iou, tokens, score = prompt_and_decode(m.sam_prompt_encoder, m.sam_mask_decoder, pix_feat, feat_s0,
                                                      feat_s1, point_coords, point_labels, mask_input, has_mask_input)
        obj_ptr = m.obj_ptr_proj(tokens)  # [1, 4, 256]
        if m.pred_obj_scores:
            appearing = score.sigmoid() if m.soft_no_obj_ptr else (score > 0).float()
            appearing = appearing.unsqueeze(-1)
            if m.fixed_no_obj_ptr:
                obj_ptr = appearing * obj_ptr
            obj_ptr = obj_ptr + (1 - appearing) * m.no_obj_ptr
        return iou, masks, obj_ptr, score


class MemoryEncoderGraph(nn.Module):
    """_encode_new_memory for one object: the chosen low-res mask logits [1, 1, 256, 256] (upsampled to
    the 1024 frame as the predictor does), binarized when is_mask_from_pts is 1 (else sigmoid), scaled,
    fused with the raw feature; no_obj_embed_spatial added when the object score is <= 0.
    -> maskmem_features [1, 64, 64, 64]."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    @torch.no_grad()
    def forward(self, image_embeddings, low_res_mask, object_score_logits, is_mask_from_pts):
        m = self.model
        feat = _raw_feature(m, image_embeddings)[0]
        high = F.interpolate(low_res_mask, size=(m.image_size, m.image_size), mode="bilinear", align_corners=False)
        binary = (high > 0).float()
        flag = is_mask_from_pts.reshape(1, 1, 1, 1) if m.binarize_mask_from_pts_for_mem_enc else 0 * high
        mask = flag * binary + (1 - flag) * torch.sigmoid(high)
        mask = mask * m.sigmoid_scale_for_mem_enc + m.sigmoid_bias_for_mem_enc
        x = m.memory_encoder(feat, mask, skip_mask_sigmoid=True)["vision_features"]
        if m.no_obj_embed_spatial is not None:
            appearing = (object_score_logits > 0).float()
            x = x + (1 - appearing[..., None, None]) * m.no_obj_embed_spatial[..., None, None]
        return x


def _constants(model):
    """The vision position encoding of the 64x64 level and the memory's, as the predictor computes them."""
    with torch.no_grad():
        backbone = model.forward_image(torch.zeros(1, 3, model.image_size, model.image_size))
        _, _, vision_pos, _ = model._prepare_backbone_features(backbone)
        pix = torch.zeros(1, model.hidden_dim, 64, 64)
        mask = torch.zeros(1, 1, model.image_size, model.image_size)
        maskmem_pos = model.memory_encoder(pix, mask, skip_mask_sigmoid=True)["vision_pos_enc"][-1]
    return vision_pos[-1].clone(), maskmem_pos.flatten(2).permute(2, 0, 1).clone()


def video_manifest(model) -> dict:
    """model.json's "video" section: the graphs and the memory-bank rules SAM2VideoPredictor follows."""
    return {
        "graphs": {name.removesuffix(".onnx"): name for name in VIDEO_GRAPHS},
        "num_maskmem": int(model.num_maskmem),
        "max_cond_frames_in_attn": int(model.max_cond_frames_in_attn),
        "max_obj_ptrs_in_encoder": int(model.max_obj_ptrs_in_encoder),
        "memory_temporal_stride": int(model.memory_temporal_stride_for_eval),
        "only_obj_ptrs_in_the_past": bool(model.only_obj_ptrs_in_the_past_for_eval),
        "signed_obj_ptr_tpos": bool(model.use_signed_tpos_enc_to_obj_ptrs),
        "multimask_for_tracking": bool(model.multimask_output_in_sam and model.multimask_output_for_tracking),
        "multimask_max_points": int(model.multimask_max_pt_num),
        "multimask_min_points": int(model.multimask_min_pt_num),
        "multimask_token_for_obj_ptr": bool(model.sam_mask_decoder.use_multimask_token_for_obj_ptr),
        "pred_obj_scores": bool(model.pred_obj_scores),
        "no_obj_score": -1024.0,
        "prev_mask_clamp": 32.0,
        "memory_dtype": "bfloat16",
        "memory_shape": [int(model.mem_dim), 64, 64],
        "hidden_dim": int(model.hidden_dim),
    }


def trace_sam2_video(model, out_dir, opset: int) -> None:
    """Write the three video graphs (fp32) into out_dir from the official SAM 2.1 `model`."""
    from edgemask.export.trace import _onnx_export

    out_dir = Path(out_dir)
    model = model.eval()
    vision_pos, maskmem_pos = _constants(model)
    packed = torch.randn(PACKED_SIZE)
    attention = MemoryAttentionGraph(model, vision_pos, maskmem_pos).eval()
    with real_rotary(attention.tables):
        _onnx_export(attention,
                     (packed, torch.randn(2, 64, 64, 64), torch.tensor([0, 6]), torch.randn(3, 256),
                      torch.tensor([0.0, 0.5, 1.0])),
                     out_dir / "memory_attention.onnx", opset,
                     ["image_embeddings", "memory", "memory_tpos", "obj_ptrs", "obj_ptr_tpos"],
                     ["pix_feat_with_mem"],
                     {"memory": {0: "num_memories"}, "memory_tpos": {0: "num_memories"},
                      "obj_ptrs": {0: "num_ptrs"}, "obj_ptr_tpos": {0: "num_ptrs"}})
    _onnx_export(MemoryDecoderGraph(model).eval(),
                 (torch.randn(1, 256, 64, 64), packed, torch.randint(0, 1024, (1, 3, 2)).float(),
                  torch.tensor([[2, 3, -1]], dtype=torch.float32), torch.randn(1, 1, 256, 256),
                  torch.tensor([1], dtype=torch.float32)),
                 out_dir / "memory_decoder.onnx", opset,
                 ["pix_feat", "image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input"],
                 ["iou_predictions", "low_res_masks", "obj_ptrs", "object_score_logits"],
                 {"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}})
    _onnx_export(MemoryEncoderGraph(model).eval(),
                 (packed, torch.randn(1, 1, 256, 256), torch.tensor([[1.0]]), torch.tensor([1.0])),
                 out_dir / "memory_encoder.onnx", opset,
                 ["image_embeddings", "low_res_mask", "object_score_logits", "is_mask_from_pts"],
                 ["maskmem_features"], None)


def has_video_parts(spec) -> bool:
    """Whether `spec`'s exports carry the video graphs: Meta's SAM 2.1 (EdgeTAM's video predictor is not exported)."""
    return spec.family == "sam2.1" and spec.builder == "sam2.build_sam:build_sam2"


def video_model(model, spec):
    """The official SAM2VideoPredictor of `spec` (the video builder's settings, such as binarizing a
    prompted frame's mask for its memory) holding `model`'s weights."""
    from sam2.build_sam import build_sam2_video_predictor

    video = build_sam2_video_predictor(spec.config, ckpt_path=None, device="cpu")
    video.load_state_dict(model.state_dict(), strict=True)
    return video.eval()


def trace_video_parts(model, spec, out_dir, opset: int) -> dict:
    """Write the video graphs of the official SAM 2.1 image `model` into out_dir; model.json's "video"
    section without the values read from the state dict (video_weights)."""
    video = video_model(model, spec)
    trace_sam2_video(video, out_dir, opset)
    return video_manifest(video)


def add_video_parts(model_dir, checkpoint) -> Path:
    """Add the video graphs to a SAM 2.1 model folder made by `edgemask export` from `checkpoint` (exports
    carry them since they were made by the exporter; such a folder is left as it is), and describe them
    in its model.json ("video")."""
    from edgemask.export.checkpoint import build_model, load_state_dict
    from edgemask.export.download import file_sha256
    from edgemask.export.registry import get_spec

    model_dir = Path(model_dir)
    manifest_path = model_dir / "model.json"
    manifest = json.loads(manifest_path.read_text())
    if "video" in manifest and all((model_dir / name).is_file() for name in VIDEO_GRAPHS):
        return model_dir
    spec = get_spec(manifest["model"])
    state_dict = load_state_dict(checkpoint)
    static = trace_video_parts(build_model(spec, state_dict), spec, model_dir, int(manifest["opset"]))
    manifest["video"] = {**static, **video_weights(state_dict)}
    for name in VIDEO_GRAPHS:
        path = model_dir / name
        manifest["files"][name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return model_dir
