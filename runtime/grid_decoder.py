"""`GridDecoder`: SAM's mask decoder on many single-point prompts of one image (the automatic mask
generator's point grid), for the SAM and EfficientViT-SAM families.

It reads the decoder's weights from the model folder's decoder_weights.npz (written at export) and
runs the graphs of edgemask.runtime.grid_graphs: the per-image tensors are computed once (numpy),
each prompt costs its low-rank part only, and the output upscaling runs only for the prompts whose
masks are wanted (those with a predicted IoU above the generator's threshold).
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgemask.runtime import grid_graphs as gg

Prompt = Tuple[np.ndarray, np.ndarray]  # decoder coords [1,N,2], labels [1,N]
CHUNK = 8  # prompts per graph run


def load_weights(path: Path) -> Dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: np.asarray(f[k], np.float32) for k in f.files}


class GridDecoder:
    """decode(embedding, prompts, wanted) -> [(iou [4], low-res logits [4,256,256] or None)].

    wanted(iou [4]) -> bool: whether the prompt's masks are needed; None for those that are not."""

    def __init__(self, weights: Dict[str, np.ndarray], prompt_frame: int, workers: int = 1,
                 mask_indices: Sequence[int] = (0, 1, 2, 3)) -> None:
        self.w, self.frame = weights, prompt_frame
        self.mask_indices = list(mask_indices)
        self.workers = max(1, int(workers))
        self._sessions: Dict[tuple, list] = {}
        self._executor = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        self._image = (None, None)

    # -- prompt encoder (numpy: a few hundred numbers per prompt) ----------------------------------------
    def _pe(self, xy: np.ndarray) -> np.ndarray:
        G = self.w["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"]
        c = ((2 * xy - 1) @ G) * np.float32(2 * np.pi)
        return np.concatenate([np.sin(c), np.cos(c)], -1).astype(np.float32)

    def tokens(self, coords: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Output tokens + sparse prompt embeddings (P, 5+N, C) of prompts coords (P,N,2), labels (P,N)."""
        w = self.w
        pe = self._pe((coords.astype(np.float32) + np.float32(0.5)) / np.float32(self.frame))
        lab = labels[..., None]
        pe = np.where(lab == -1, w["prompt_encoder.not_a_point_embed.weight"], pe)
        for i in range(4):
            pe = pe + w[f"prompt_encoder.point_embeddings.{i}.weight"] * (lab == i)
        out = np.concatenate([w["mask_decoder.iou_token.weight"], w["mask_decoder.mask_tokens.weight"]], 0)
        return np.concatenate([np.broadcast_to(out, (len(pe),) + out.shape), pe.astype(np.float32)], 1)

    # -- per image ---------------------------------------------------------------------------------
    def shared_tensors(self, host: np.ndarray) -> dict:
        """The per-image tensors of tokens_graph (SHARED_INPUTS) and masks_graph (S2up)."""
        w = self.w
        L0, L1 = gg.TR + "layers.0.", gg.TR + "layers.1."
        _, C, H, W = host.shape
        T = H * W
        S = host.reshape(C, T).T.astype(np.float32) + w["prompt_encoder.no_mask_embed.weight"]
        ys, xs = np.meshgrid((np.arange(H) + 0.5) / H, (np.arange(W) + 0.5) / W, indexing="ij")
        pe = self._pe(np.stack([xs, ys], -1).reshape(T, 2).astype(np.float32))

        def lin(x, name, bias=True):
            y = x @ w[name + ".weight"].T
            return y + w[name + ".bias"] if bias else y

        Spe = S + pe
        i2t0 = L0 + "cross_attn_image_to_token"
        Wo0, bo0 = w[i2t0 + ".out_proj.weight"], w[i2t0 + ".out_proj.bias"]
        g4, b4 = w[L0 + "norm4.weight"], w[L0 + "norm4.bias"]
        S1 = S * g4
        col = lambda v: np.ascontiguousarray(v[:, None], np.float32)  # noqa: E731
        kvq = [L1 + "cross_attn_token_to_image.k_proj", L1 + "cross_attn_token_to_image.v_proj",
               L1 + "cross_attn_image_to_token.q_proj"]
        bo1 = w[L1 + "cross_attn_image_to_token.out_proj.bias"]
        S2 = S1 * w[L1 + "norm4.weight"]
        F = gg.TR + "final_attn_token_to_image"
        t = {
            "K0": lin(Spe, L0 + "cross_attn_token_to_image.k_proj"),
            "V0": lin(S, L0 + "cross_attn_token_to_image.v_proj"),
            "Q0": lin(Spe, i2t0 + ".q_proj"),
            "SWo0": S @ Wo0, "mS": col(S.mean(1)), "nS": col((S * S).sum(1)), "Sbo0": col(S @ bo0),
            "S1kvq": np.concatenate([lin(S1, n, bias=False) for n in kvq], 1),
            "PE1kvq": np.concatenate([lin(pe, kvq[0]), np.broadcast_to(w[kvq[1] + ".bias"], (T, len(w[kvq[1] + ".bias"]))),
                                      lin(pe, kvq[2])], 1),
            "S1Wo0": (S1 * g4) @ Wo0, "S1Wo1": S1 @ w[L1 + "cross_attn_image_to_token.out_proj.weight"],
            "mS1": col(S1.mean(1)), "nS1": col((S1 * S1).sum(1)),
            "S1c": np.stack([S1 @ (g4 * bo0), S1 @ g4, S1 @ b4, S1 @ bo1], 1),
            "S2kv": np.concatenate([lin(S2, F + ".k_proj", bias=False), lin(S2, F + ".v_proj", bias=False)], 1),
            "PEfkv": np.concatenate([lin(pe, F + ".k_proj"), np.broadcast_to(w[F + ".v_proj.bias"], (T, len(w[F + ".v_proj.bias"])))], 1),
            "S2up": S2 @ gg.upscaling_weight(w),
        }
        return {k: np.ascontiguousarray(v, np.float32) for k, v in t.items()}, (H, W)

    def _held(self, host: np.ndarray):
        if self._image[0] is not host:
            self._image = (host, self.shared_tensors(host))
        return self._image[1]

    def _graphs(self, n_tokens: int, hw) -> list:
        key = (n_tokens, hw)
        if key not in self._sessions:
            import onnxruntime as ort

            from edgemask.runtime import providers as prov

            models = (gg.tokens_graph(self.w, n_tokens), gg.masks_graph(self.w, hw, len(self.mask_indices)))
            so = prov.session_options("cpu", 1 if self.workers > 1 else prov.physical_cores(), True)
            self._sessions[key] = [[ort.InferenceSession(m, so, providers=["CPUExecutionProvider"]) for m in models]
                                   for _ in range(self.workers)]
        return self._sessions[key]

    # -- per prompt ------------------------------------------------------------------------------------
    def decode(self, host: np.ndarray, prompts: Sequence[Prompt],
               wanted: Optional[Callable[[np.ndarray], bool]] = None) -> List[Tuple[np.ndarray, Optional[np.ndarray]]]:
        shared, hw = self._held(host)
        coords = np.concatenate([c for c, _ in prompts]).astype(np.float32)
        labels = np.concatenate([l for _, l in prompts]).astype(np.float32)
        sessions = self._graphs(coords.shape[1] + 5, hw)
        feeds = {k: v for k, v in shared.items() if k != "S2up"}
        chunks = [range(s, min(s + CHUNK, len(prompts))) for s in range(0, len(prompts), CHUNK)]
        mask_idx = np.asarray(self.mask_indices)

        def run(k):
            tok_s, mask_s = sessions[k]
            out = []
            for chunk in chunks[k::self.workers]:
                idx = np.asarray(chunk)
                tok = self.tokens(coords[idx], labels[idx])
                iou, hyper, a2, c2, E2 = tok_s.run(["iou", "hyper", "a2", "c2", "E2"], dict(feeds, tokens=tok))
                keep = np.array([wanted is None or bool(wanted(i)) for i in iou])
                low = [None] * len(idx)
                if keep.any():
                    sel = np.flatnonzero(keep)
                    masks = mask_s.run(["low"], {"S2up": shared["S2up"], "a2": a2[sel], "c2": c2[sel],
                                                 "E2": E2[sel], "hyper": np.ascontiguousarray(hyper[sel][:, mask_idx])})[0]
                    for j, m in zip(sel, masks):
                        low[j] = m
                out += list(zip(chunk, iou, low))
            return out

        parts = list(self._executor.map(run, range(self.workers))) if self._executor else [run(0)]
        results: list = [None] * len(prompts)
        for part in parts:
            for i, iou, low in part:
                results[i] = (iou, low)
        return results

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)
