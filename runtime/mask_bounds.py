"""Stability scores and boxes of full-size masks, decided from their 256x256 logits.

A full-size logit is a bilinear (convex) combination of at most 3x3 neighbouring low-res logits (the
two resizes of MaskUpscaler, or SquareUpscaler's one, composed), so it lies between their minimum and
maximum. Grouping the image's rows and columns by the low-res rows and columns they read gives, for a
whole batch of masks at once and at low resolution, lower and upper bounds on how many full-size
logits exceed a threshold. The automatic mask generator accepts or rejects a candidate on these
bounds when they decide it, and upscales only the candidates they leave open; a mask's box is found
by evaluating exactly only the few rows and columns between its sure and its possible extent.
"""

from typing import Optional, Tuple

import numpy as np

from edgemask.runtime.postprocess import MaskUpscaler, SquareUpscaler

CHUNK = 32  # masks bounded at once
MAX_LINES = 96  # rows (or columns) evaluated exactly to find one edge of a box; beyond, the caller upscales


def _taps(n_out: int, n_in: int):
    """The two source samples and weights of each output sample of a bilinear resize (align_corners=False,
    edges clamped), as cv2 and torch compute them."""
    x = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    x0 = np.floor(x).astype(np.int64)
    f = x - x0
    f[x0 < 0], x0[x0 < 0] = 0.0, 0
    last = x0 >= n_in - 1
    f[last], x0[last] = 0.0, n_in - 1
    return x0, np.minimum(x0 + 1, n_in - 1), 1 - f, f


def _resize_then(n_out: int, n_in: int, before: np.ndarray) -> np.ndarray:
    """The n_out x n_low matrix of a bilinear resize n_in -> n_out applied after `before` (n_in x n_low)."""
    x0, x1, w0, w1 = _taps(n_out, n_in)
    return w0[:, None] * before[x0] + w1[:, None] * before[x1]


class _Axis:
    """One axis: output pixel -> the low-res samples it reads (dense weights, at most 3 contiguous ones
    from `lo`), and the pixels grouped by `lo` (the groups partition the axis, in order)."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights  # n_out x n_low
        n_low = weights.shape[1]
        nz = weights > 0
        lo = np.argmax(nz, axis=1)
        span = n_low - np.argmax(nz[:, ::-1], axis=1) - lo
        if span.max() > 3:
            raise ValueError("a full-size pixel reads more than 3 low-res samples")
        self.group = lo
        self.count = np.bincount(lo, minlength=n_low).astype(np.float32)
        pixels = np.arange(weights.shape[0])
        self.group_first = np.full(n_low, weights.shape[0])
        np.minimum.at(self.group_first, lo, pixels)
        self.group_last = np.full(n_low, -1)
        np.maximum.at(self.group_last, lo, pixels)
        self.sparse_idx = np.minimum(lo[:, None] + np.arange(3)[None], n_low - 1)
        self.sparse_w = np.take_along_axis(weights, self.sparse_idx, axis=1) * (np.arange(3)[None] < span[:, None])


def _window3(values: np.ndarray, axis: int, reduce) -> np.ndarray:
    """reduce over values[i : i + 3] along axis (fewer at the end), for each i."""
    n = values.shape[axis]
    cut = lambda a, b: (slice(None),) * axis + (slice(a, b),)  # noqa: E731
    out = values.copy()
    if n > 1:
        reduce(out[cut(0, n - 1)], values[cut(1, n)], out=out[cut(0, n - 1)])
    if n > 2:
        reduce(out[cut(0, n - 2)], values[cut(2, n)], out=out[cut(0, n - 2)])
    return out


class MaskBounds:
    """Bounds on full-size masks of one image (or crop) from their low-res logits."""

    def __init__(self, upscaler: MaskUpscaler, low_res_size: int = 256) -> None:
        h, w = upscaler.original_size
        if isinstance(upscaler, SquareUpscaler):
            self.block = (low_res_size, low_res_size)
            eye = np.eye(low_res_size)
            ry, rx = _resize_then(h, low_res_size, eye), _resize_then(w, low_res_size, eye)
        else:
            bh, bw = upscaler.block
            ih, iw = upscaler.input_size
            f = upscaler.factor
            self.block = (bh, bw)
            ry = _resize_then(h, ih, _resize_then(bh * f, bh, np.eye(bh))[:ih])
            rx = _resize_then(w, iw, _resize_then(bw * f, bw, np.eye(bw))[:iw])
        self.rows, self.cols = _Axis(ry), _Axis(rx)
        self.size = (h, w)

    def _envelopes(self, low: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(min, max) over each (row group, column group)'s low-res samples, for masks B x bh x bw."""
        lo = _window3(_window3(low, 2, np.minimum), 1, np.minimum)
        hi = _window3(_window3(low, 2, np.maximum), 1, np.maximum)
        return lo, hi

    def _count(self, above: np.ndarray) -> np.ndarray:
        return (above.astype(np.float32) @ self.cols.count).astype(np.float64) @ self.rows.count.astype(np.float64)

    def stability(self, low: np.ndarray, threshold: float, offset: float) -> Tuple[np.ndarray, np.ndarray]:
        """(lower, upper) bounds on the official stability score of each of B masks' full-size logits:
        count(> threshold + offset) / count(> threshold - offset). NaN bounds where the union may be 0."""
        bh, bw = self.block
        out_lo, out_hi = np.empty(len(low)), np.empty(len(low))
        for s in range(0, len(low), CHUNK):
            part = np.asarray(low[s:s + CHUNK, :bh, :bw], np.float32)
            eps = 1e-5 * max(1.0, float(np.abs(part).max()))
            mn, mx = self._envelopes(part)
            inter = self._count(mn > threshold + offset + eps), self._count(mx > threshold + offset - eps)
            union = self._count(mn > threshold - offset + eps), self._count(mx > threshold - offset - eps)
            with np.errstate(invalid="ignore", divide="ignore"):
                out_lo[s:s + CHUNK] = np.where(union[1] > 0, inter[0] / union[1], np.nan)
                out_hi[s:s + CHUNK] = np.where(union[0] > 0, inter[1] / union[0], np.nan)
        return out_lo, out_hi

    # -- exact boxes -----------------------------------------------------
    def _rows_exact(self, low: np.ndarray, ys: np.ndarray) -> np.ndarray:
        t = self.rows.weights[ys] @ low  # k x bw
        return np.einsum("kxj,xj->kx", t[:, self.cols.sparse_idx], self.cols.sparse_w)

    def _cols_exact(self, low: np.ndarray, xs: np.ndarray) -> np.ndarray:
        t = low @ self.cols.weights[xs].T  # bh x k
        return np.einsum("yjk,yj->yk", t[self.rows.sparse_idx], self.rows.sparse_w).T

    def box(self, low: np.ndarray, threshold: float) -> Optional[np.ndarray]:
        """[x0, y0, x1, y1] (inclusive) of the full-size mask logits > threshold; zeros if empty; None when
        an edge would need more than MAX_LINES full-size rows or columns evaluated (upscale instead)."""
        bh, bw = self.block
        low = np.asarray(low[:bh, :bw], np.float64)
        eps = 1e-5 * max(1.0, float(np.abs(low).max()))
        mn, mx = (e[0] for e in self._envelopes(low[None]))
        sure, maybe = mn > threshold + eps, mx > threshold - eps
        used = (self.rows.count[:, None] > 0) & (self.cols.count[None, :] > 0)
        sure, maybe = sure & used, maybe & used
        if not maybe.any():
            return np.zeros(4, np.int64)
        edges = []
        for axis, exact, other in ((self.rows, self._rows_exact, 1), (self.cols, self._cols_exact, 0)):
            maybe_g = np.flatnonzero(maybe.any(axis=other))
            sure_g = np.flatnonzero(sure.any(axis=other))
            first = self._edge(low, axis, exact, maybe_g, sure_g, threshold, forward=True)
            if first is None or first < 0:
                return None if first is None else np.zeros(4, np.int64)
            last = self._edge(low, axis, exact, maybe_g, sure_g, threshold, forward=False)
            if last is None:
                return None
            edges.append((first, last))
        (y0, y1), (x0, x1) = edges
        return np.array([x0, y0, x1, y1], np.int64)

    @staticmethod
    def _edge(low, axis, exact, maybe_g, sure_g, threshold, forward):
        """The first (or last) pixel along an axis whose line holds a logit > threshold; -1 if none,
        None if more than MAX_LINES lines would be evaluated."""
        if forward:
            start = axis.group_first[maybe_g].min()
            stop = axis.group_first[sure_g].min() if sure_g.size else axis.group_last[maybe_g].max()
            candidates = np.arange(start, stop + 1)
        else:
            start = axis.group_last[maybe_g].max()
            stop = axis.group_last[sure_g].max() if sure_g.size else axis.group_first[maybe_g].min()
            candidates = np.arange(start, stop - 1, -1)
        candidates = candidates[np.isin(axis.group[candidates], maybe_g)]
        if len(candidates) > MAX_LINES:
            return None
        for s in range(0, len(candidates), 8):  # the edge is most often among the first lines
            part = candidates[s:s + 8]
            hit = (exact(low, part) > threshold).any(axis=1)
            if hit.any():
                return int(part[np.argmax(hit)])
        return -1
