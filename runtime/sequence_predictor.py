"""Masks along a sequence of frames with SAM 2.1's memory, torch-free (onnxruntime + numpy).

SequencePredictor follows sam2's SAM2VideoPredictor step by step: prompts (points, a box or a mask) on
any frame (an initial conditioning frame is segmented without memory, a frame already tracked is
corrected with it), a preflight that encodes the prompted frames' memories, then propagation forward or backward where each
frame attends to the conditioning frames, the num_maskmem - 1 most recent frames and up to
max_obj_ptrs_in_encoder object pointers. Memories are kept in numpy as bfloat16 bits (uint16), as the
official predictor stores them. Frames are resized as the image predictor does (the embeddings are the
ones a click on that image uses). Hole filling (fill_hole_area, a CUDA kernel the official predictor
skips on CPU) is not done.
"""

from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from edgemask.runtime.families import Sam2Family, _stability
from edgemask.runtime.fuse_attention import fused_attention
from edgemask.runtime.model_folder import load_model_folder
from edgemask.runtime.postprocess import SquareUpscaler
from edgemask.runtime.transforms import check_image

COND, NON_COND = "cond_frame_outputs", "non_cond_frame_outputs"


def to_bfloat16(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits (uint16), rounding to nearest even as torch's .to(torch.bfloat16)."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)


def from_bfloat16(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) -> float32."""
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def _session(path: Path, threads: Optional[int]):
    import onnxruntime as ort

    from edgemask.runtime.providers import session_options

    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, session_options("cpu", threads), providers=["CPUExecutionProvider"])


class SequenceModel:
    """The ONNX sessions of a SAM 2.1 model folder with the video graphs (model.json "video")."""

    def __init__(self, model_dir, threads: Optional[int] = None) -> None:
        self.folder = load_model_folder(model_dir)
        video = self.folder.config.get("video")
        if self.folder.family != "sam2.1" or not video:
            raise ValueError(f"{model_dir} has no video graphs (a SAM 2.1 model folder with them is needed)")
        self.video = video
        self.family = Sam2Family(self.folder)
        path = Path(self.folder.path)
        self.encoder = _session(self.folder.encoder_path, threads)
        # its attentions as onnxruntime's MultiHeadAttention (runtime.fuse_attention: ~1.6x faster)
        self.attention = _session(fused_attention(path / video["graphs"]["memory_attention"]), threads)
        self.decoder, self.memory_encoder = (_session(path / video["graphs"][name], threads)
                                             for name in ("memory_decoder", "memory_encoder"))

    @property
    def mask_prompt(self) -> Optional[dict]:
        """What a mask prompt needs besides the graphs (model.json "video"): mask_downsample's 1x1xkxk
        convolution and no_mem_embed, as float32 arrays; None when the folder lacks them."""
        v = self.video
        if "mask_downsample" not in v or "no_mem_embed" not in v:
            return None
        k = int(round(len(v["mask_downsample"]["weight"]) ** 0.5))
        return {"weight": np.asarray(v["mask_downsample"]["weight"], np.float32).reshape(k, k),
                "bias": np.float32(v["mask_downsample"]["bias"]),
                "no_mem_embed": np.asarray(v["no_mem_embed"], np.float32).reshape(1, -1, 1, 1)}

    def encode(self, image: np.ndarray) -> np.ndarray:
        x = self.family.encoder_input(image)
        return self.encoder.run(None, {self.folder.encoder_input: x})[0]


class SequencePredictor:
    """SAM2VideoPredictor's API on numpy frames: init_state, add_new_points_or_box,
    propagate_in_video, reset_state. Masks come back as logits at the frames' size
    (n_objects x 1 x H x W, float32), objects in the order they were first prompted."""

    def __init__(self, model, threads: Optional[int] = None, cached_frames: int = 2) -> None:
        self.model = model if isinstance(model, SequenceModel) else SequenceModel(model, threads)
        v = self.model.video
        self.num_maskmem = v["num_maskmem"]
        self.max_cond = v["max_cond_frames_in_attn"]
        self.max_ptrs = v["max_obj_ptrs_in_encoder"]
        self.stride = v["memory_temporal_stride"]
        self.no_obj = np.float32(v["no_obj_score"])
        self.cached_frames = cached_frames

    # -- state -------------------------------------------------------------------------------
    def init_state(self, frames: List[np.ndarray], embed: Optional[Callable[[int], np.ndarray]] = None) -> dict:
        """A state over `frames` (RGB HxWx3 uint8, all of one size). `embed(frame index)`, when given, gives
        a frame's encoder output (the image predictor's packed embedding, e.g. from its cache) instead of
        encoding the frame here."""
        frames = [check_image(f) for f in frames]
        if not frames:
            raise ValueError("a sequence needs at least one frame")
        sizes = {f.shape[:2] for f in frames}
        if len(sizes) > 1:
            raise ValueError("the frames of a sequence must all have the same size "
                             f"(found {', '.join(f'{w}x{h}' for h, w in sorted(sizes))})")
        h, w = frames[0].shape[:2]
        return self._state(frames, len(frames), (h, w), embed)

    def init_embedded_state(self, num_frames: int, size: Tuple[int, int], embed: Callable[[int], np.ndarray]) -> dict:
        """A state over `num_frames` frames of `size` (h, w) that holds no pixels: `embed(frame index)` gives
        each frame's encoder output when it is needed (a long sequence of big photos is never all decoded)."""
        if num_frames < 1:
            raise ValueError("a sequence needs at least one frame")
        return self._state(None, num_frames, (int(size[0]), int(size[1])), embed)

    def _state(self, frames, num_frames, size, embed) -> dict:
        return {"frames": frames, "num_frames": num_frames, "size": size, "features": {},
                "obj_ids": [], "points": [], "temp": [], "outputs": [], "tracked": [], "embed": embed,
                "upscaler": SquareUpscaler(size, self.model.folder.prompt_frame, self.model.folder.low_res_size)}

    def reset_state(self, state: dict) -> None:
        """Forget every object and prompt (the frames' features stay cached)."""
        for key in ("obj_ids", "points", "temp", "outputs", "tracked"):
            state[key].clear()

    def memory_bytes(self, state: dict) -> int:
        """Bytes the memory bank holds (spatial memories, masks, pointers)."""
        total = 0
        for outputs in state["outputs"]:
            for frames in outputs.values():
                for out in frames.values():
                    total += sum(a.nbytes for a in out.values() if isinstance(a, np.ndarray))
        return total

    def _features(self, state, frame_idx: int) -> np.ndarray:
        cache = state["features"]
        if frame_idx not in cache:
            while len(cache) >= self.cached_frames:
                cache.pop(next(iter(cache)))
            embed = state.get("embed")
            cache[frame_idx] = (np.array(embed(frame_idx), np.float32) if embed is not None
                                else self.model.encode(state["frames"][frame_idx]))
        return cache[frame_idx]

    def _obj_idx(self, state, obj_id) -> int:
        if obj_id in state["obj_ids"]:
            return state["obj_ids"].index(obj_id)
        state["obj_ids"].append(obj_id)
        state["points"].append({})
        state["temp"].append({COND: {}, NON_COND: {}})
        state["outputs"].append({COND: {}, NON_COND: {}})
        state["tracked"].append({})
        return len(state["obj_ids"]) - 1

    # -- prompts -----------------------------------------------------------------------------
    def add_new_points_or_box(self, state, frame_idx: int, obj_id, points=None, labels=None,
                              clear_old_points: bool = True, box=None):
        """Prompts in pixels of the frame; returns (frame_idx, obj_ids, logits at the frame's size)."""
        if not 0 <= frame_idx < state["num_frames"]:
            raise ValueError(f"frame {frame_idx} is not in the sequence (0..{state['num_frames'] - 1})")
        if (points is None) != (labels is None):
            raise ValueError("points and labels must be given together")
        if points is None and box is None:
            raise ValueError("give points or a box")
        if box is not None and not clear_old_points:
            raise ValueError("a box replaces the frame's old points (clear_old_points=True)")
        obj_idx = self._obj_idx(state, obj_id)
        to_frame = self.model.family.to_frame
        parts = []
        if box is not None:
            parts.append((to_frame(np.asarray(box, np.float32).reshape(2, 2), state["size"]), np.array([2, 3], np.float32)))
        if points is not None and len(points):
            parts.append((to_frame(np.asarray(points, np.float32).reshape(-1, 2), state["size"]),
                          np.asarray(labels, np.float32).reshape(-1)))
        coords = np.concatenate([c for c, _ in parts]) if parts else np.zeros((0, 2), np.float32)
        lbls = np.concatenate([lb for _, lb in parts]) if parts else np.zeros(0, np.float32)
        old = None if clear_old_points else state["points"][obj_idx].get(frame_idx)
        if old is not None:
            coords, lbls = np.concatenate([old[0], coords]), np.concatenate([old[1], lbls])
        state["points"][obj_idx][frame_idx] = (coords, lbls)

        tracked = state["tracked"][obj_idx]
        is_init = frame_idx not in tracked
        reverse = False if is_init else tracked[frame_idx]
        storage = COND if is_init else NON_COND
        outputs, temp = state["outputs"][obj_idx], state["temp"][obj_idx]
        prev = temp[storage].get(frame_idx) or outputs[COND].get(frame_idx) or outputs[NON_COND].get(frame_idx)
        prev_logits = None
        if prev is not None and prev["pred_masks"] is not None:
            clamp = self.model.video["prev_mask_clamp"]
            prev_logits = np.clip(prev["pred_masks"], -clamp, clamp)
        temp[storage][frame_idx] = self._track(state, obj_idx, frame_idx, is_init, (coords, lbls), reverse,
                                               run_mem=False, prev_logits=prev_logits)
        return frame_idx, list(state["obj_ids"]), self._frame_logits(state, frame_idx, storage)

    def add_new_mask(self, state, frame_idx: int, obj_id, mask):
        """A mask (HxW bool at the frame's size) as the object's prompt on a frame, as SAM2VideoPredictor's
        add_new_mask with SAM 2.1's use_mask_input_as_output_without_sam: the mask is the frame's output
        (logits +-10, low-res by antialiased bilinear), its object pointer comes from the decoder with the
        mask as prompt. Returns (frame_idx, obj_ids, logits at the frame's size). An empty mask is refused."""
        if not 0 <= frame_idx < state["num_frames"]:
            raise ValueError(f"frame {frame_idx} is not in the sequence (0..{state['num_frames'] - 1})")
        mask = np.asarray(mask)
        if mask.shape != tuple(state["size"]):
            h, w = state["size"]
            raise ValueError(f"the mask must have the frame's size {w}x{h} (got {mask.shape[1::-1]})")
        if not mask.any():
            raise ValueError("an empty mask cannot be a prompt")
        extras = self.model.mask_prompt
        if extras is None:
            raise ValueError("this model folder's video parts cannot take a mask prompt (model.json \"video\" "
                             "lacks mask_downsample and no_mem_embed): add the video parts again")
        obj_idx = self._obj_idx(state, obj_id)
        state["points"][obj_idx].pop(frame_idx, None)
        tracked = state["tracked"][obj_idx]
        is_init = frame_idx not in tracked
        storage = COND if is_init else NON_COND
        size = self.model.folder.encoder_size
        frame_mask = mask.astype(np.float32)
        if frame_mask.shape != (size, size):
            frame_mask = (aa_bilinear(frame_mask, size, size) >= 0.5).astype(np.float32)
        high = frame_mask * np.float32(20.0) - np.float32(10.0)  # _use_mask_as_output: +-10 logits
        low_size = self.model.folder.low_res_size
        low = aa_bilinear(high, low_size, low_size)[None, None]
        emb = self._features(state, frame_idx)
        raw = emb[:256 * 64 * 64].reshape(1, 256, 64, 64) - extras["no_mem_embed"]
        k = size // low_size  # mask_downsample: a k x k convolution of stride k
        down = np.einsum("ykxl,kl->yx", frame_mask.reshape(low_size, k, low_size, k), extras["weight"])
        down = (down + extras["bias"]).astype(np.float32)[None, None]
        _, _, ptrs, _ = self.model.decoder.run(None, {
            "pix_feat": np.ascontiguousarray(raw, np.float32), "image_embeddings": emb,
            "point_coords": np.zeros((1, 2, 2), np.float32), "point_labels": np.full((1, 2), -1, np.float32),
            "mask_input": down, "has_mask_input": np.array([1.0], np.float32)})
        state["temp"][obj_idx][storage][frame_idx] = {
            "pred_masks": np.ascontiguousarray(low, np.float32), "obj_ptr": ptrs[:, 0].copy(),
            "object_score_logits": np.array([[10.0]], np.float32), "maskmem": None}
        return frame_idx, list(state["obj_ids"]), self._frame_logits(state, frame_idx, storage)

    def _frame_logits(self, state, frame_idx, storage) -> np.ndarray:
        h, w = state["size"]
        out = np.full((len(state["obj_ids"]), 1, h, w), self.no_obj, np.float32)
        for i in range(len(state["obj_ids"])):
            got = (state["temp"][i][storage].get(frame_idx) or state["outputs"][i][COND].get(frame_idx)
                   or state["outputs"][i][NON_COND].get(frame_idx))
            if got is not None:
                out[i, 0] = state["upscaler"].logits(got["pred_masks"][0, 0])
        return out

    def object_scores(self, state, frame_idx: int) -> List[float]:
        """Each object's object score logit on a frame (sam2's occlusion score: > 0 means the object is
        there), in obj_ids order; no_obj_score for an object without an output on that frame."""
        scores = []
        for i in range(len(state["obj_ids"])):
            got = (state["outputs"][i][COND].get(frame_idx) or state["outputs"][i][NON_COND].get(frame_idx)
                   or state["temp"][i][COND].get(frame_idx) or state["temp"][i][NON_COND].get(frame_idx))
            scores.append(float(got["object_score_logits"].reshape(-1)[0]) if got is not None else float(self.no_obj))
        return scores

    # -- propagation -------------------------------------------------------------------------
    def _preflight(self, state) -> None:
        if not state["obj_ids"]:
            raise ValueError("no object has prompts yet: add points or a box first")
        for obj_idx in range(len(state["obj_ids"])):
            outputs, temp = state["outputs"][obj_idx], state["temp"][obj_idx]
            for storage in (NON_COND, COND):
                for frame_idx, out in temp[storage].items():
                    if out["maskmem"] is None:
                        out["maskmem"] = self._encode_memory(state, frame_idx, out["pred_masks"],
                                                             out["object_score_logits"], from_points=True)
                    outputs[storage][frame_idx] = out
                temp[storage].clear()
            if not outputs[COND]:
                raise ValueError(f"object {state['obj_ids'][obj_idx]} has no prompts yet")
            for frame_idx in outputs[COND]:
                outputs[NON_COND].pop(frame_idx, None)

    def propagate_in_video(self, state, start_frame_idx: Optional[int] = None,
                           max_frame_num_to_track: Optional[int] = None,
                           reverse: bool = False) -> Iterator[Tuple[int, list, np.ndarray]]:
        """Yields (frame_idx, obj_ids, logits at the frame's size) frame by frame, as the official one."""
        self._preflight(state)
        n = state["num_frames"]
        if start_frame_idx is None:
            start_frame_idx = min(t for outputs in state["outputs"] for t in outputs[COND])
        if max_frame_num_to_track is None:
            max_frame_num_to_track = n
        if reverse:
            end = max(start_frame_idx - max_frame_num_to_track, 0)
            order = range(start_frame_idx, end - 1, -1) if start_frame_idx > 0 else []
        else:
            end = min(start_frame_idx + max_frame_num_to_track, n - 1)
            order = range(start_frame_idx, end + 1)
        for frame_idx in order:
            for obj_idx in range(len(state["obj_ids"])):
                outputs = state["outputs"][obj_idx]
                if frame_idx not in outputs[COND]:
                    outputs[NON_COND][frame_idx] = self._track(state, obj_idx, frame_idx, False, None, reverse,
                                                               run_mem=True)
                state["tracked"][obj_idx][frame_idx] = reverse
            yield frame_idx, list(state["obj_ids"]), self._frame_logits(state, frame_idx, NON_COND)

    # -- one frame, one object (SAM2Base.track_step) ------------------------------------------
    def _track(self, state, obj_idx, frame_idx, is_init, points, reverse, run_mem, prev_logits=None) -> dict:
        emb = self._features(state, frame_idx)
        if is_init:
            pix = emb[:256 * 64 * 64].reshape(1, 256, 64, 64)  # image_embed, no_mem_embed added
        else:
            pix = self._attend(state, obj_idx, frame_idx, emb, reverse)
        if points is None:  # no prompt: the official pads an empty point, and the prompt encoder once more
            coords, labels = np.zeros((1, 2, 2), np.float32), np.full((1, 2), -1, np.float32)
            num_pts = 0
        else:
            coords = np.concatenate([points[0], np.zeros((1, 2), np.float32)])[None]
            labels = np.concatenate([points[1], np.array([-1], np.float32)])[None]
            num_pts = len(points[1])
        has_mask = prev_logits is not None
        mask_input = prev_logits.astype(np.float32) if has_mask else np.zeros((1, 1, 256, 256), np.float32)
        iou, low, ptrs, score = self.model.decoder.run(None, {
            "pix_feat": np.ascontiguousarray(pix, np.float32), "image_embeddings": emb, "point_coords": coords,
            "point_labels": labels, "mask_input": mask_input, "has_mask_input": np.array([float(has_mask)], np.float32)})
        v = self.model.video
        multimask = (v["multimask_for_tracking"] or is_init) and v["multimask_min_points"] <= num_pts <= v["multimask_max_points"]
        idx, token = self._choose(iou[0], low[0], multimask)
        mask = low[:, idx:idx + 1]
        if v["pred_obj_scores"] and not score[0, 0] > 0:
            mask = np.full_like(mask, self.no_obj)
        out = {"pred_masks": np.ascontiguousarray(mask), "obj_ptr": ptrs[:, token].copy(),
               "object_score_logits": score.copy(), "maskmem": None}
        if run_mem:
            out["maskmem"] = self._encode_memory(state, frame_idx, out["pred_masks"], score, from_points=points is not None)
        return out

    def _choose(self, iou, low, multimask) -> Tuple[int, int]:
        """(mask index, output token index for the object pointer) of the decoder's four."""
        family = self.model.family
        multi = list(self.model.folder.multimask_indices)
        best = multi[int(np.argmax(iou[multi]))]
        if multimask:
            return best, best if self.model.video["multimask_token_for_obj_ptr"] else 0
        single = self.model.folder.single_mask_index
        if family.fallback is None or _stability(low[single], family.fallback[0]) >= family.fallback[1]:
            return single, single
        return best, single  # the stability fallback changes the mask, not the token

    def _encode_memory(self, state, frame_idx, low, score, from_points: bool) -> np.ndarray:
        feats = self.model.memory_encoder.run(None, {
            "image_embeddings": self._features(state, frame_idx), "low_res_mask": low.astype(np.float32),
            "object_score_logits": score.astype(np.float32),
            "is_mask_from_pts": np.array([float(from_points)], np.float32)})[0]
        return to_bfloat16(feats)

    def _attend(self, state, obj_idx, frame_idx, emb, reverse) -> np.ndarray:
        """_prepare_memory_conditioned_features for a frame that is not an initial conditioning one."""
        outputs = state["outputs"][obj_idx]
        num_frames = state["num_frames"]
        selected, unselected = _closest_cond_frames(frame_idx, outputs[COND], self.max_cond)
        memories = [(0, out) for out in selected.values()]
        for t_pos in range(1, self.num_maskmem):
            t_rel = self.num_maskmem - t_pos
            if t_rel == 1:
                prev = frame_idx + t_rel if reverse else frame_idx - t_rel
            elif not reverse:
                prev = ((frame_idx - 2) // self.stride) * self.stride - (t_rel - 2) * self.stride
            else:
                prev = -(-(frame_idx + 2) // self.stride) * self.stride + (t_rel - 2) * self.stride
            out = outputs[NON_COND].get(prev, unselected.get(prev))
            memories.append((t_pos, out))
        memories = [(t, out) for t, out in memories if out is not None]
        memory = np.concatenate([from_bfloat16(out["maskmem"]) for _, out in memories])
        tpos = np.array([t for t, _ in memories], np.int64)

        max_ptrs = min(num_frames, self.max_ptrs)
        sign = -1 if reverse else 1
        past = {t: out for t, out in selected.items() if (t >= frame_idx if reverse else t <= frame_idx)} \
            if self.model.video["only_obj_ptrs_in_the_past"] else selected
        signed = self.model.video["signed_obj_ptr_tpos"]
        ptrs = [((frame_idx - t) * sign if signed else abs(frame_idx - t), out["obj_ptr"]) for t, out in past.items()]
        for t_diff in range(1, max_ptrs):
            t = frame_idx + t_diff if reverse else frame_idx - t_diff
            if t < 0 or t >= num_frames:
                break
            out = outputs[NON_COND].get(t, unselected.get(t))
            if out is not None:
                ptrs.append((t_diff, out["obj_ptr"]))
        t_diff_max = np.float32(max_ptrs - 1)
        pos = np.array([p for p, _ in ptrs], np.float32) / t_diff_max
        obj_ptrs = np.concatenate([p for _, p in ptrs]).astype(np.float32)
        return self.model.attention.run(None, {"image_embeddings": emb, "memory": memory, "memory_tpos": tpos,
                                               "obj_ptrs": obj_ptrs, "obj_ptr_tpos": pos})[0]


def aa_bilinear(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """torch's F.interpolate(mode="bilinear", align_corners=False, antialias=True) of a 2-D float32 array."""
    return (_aa_weights(x.shape[0], out_h) @ x.astype(np.float64) @ _aa_weights(x.shape[1], out_w).T).astype(np.float32)


def _aa_weights(size: int, out: int) -> np.ndarray:
    """The [out, size] matrix of torch's antialiased bilinear taps (_compute_indices_weights_aa)."""
    scale = size / out
    support = scale if scale >= 1.0 else 1.0
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    weights = np.zeros((out, size))
    for i in range(out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), size)
        taps = np.maximum(0.0, 1.0 - np.abs((np.arange(lo, hi) - center + 0.5) * invscale))
        total = taps.sum()
        weights[i, lo:hi] = taps / total if total > 0 else taps
    return weights


def _closest_cond_frames(frame_idx: int, cond: Dict[int, dict], max_num: int):
    """sam2_utils.select_closest_cond_frames: at most max_num conditioning frames nearest frame_idx."""
    if max_num == -1 or len(cond) <= max_num:
        return dict(cond), {}
    assert max_num >= 2, "we should allow using 2+ conditioning frames"
    selected = {}
    before = max((t for t in cond if t < frame_idx), default=None)
    if before is not None:
        selected[before] = cond[before]
    after = min((t for t in cond if t >= frame_idx), default=None)
    if after is not None:
        selected[after] = cond[after]
    rest = max_num - len(selected)
    for t in sorted((t for t in cond if t not in selected), key=lambda x: abs(x - frame_idx))[:rest]:
        selected[t] = cond[t]
    return selected, {t: v for t, v in cond.items() if t not in selected}
