"""`MaskGenerator`: segment_anything's SamAutomaticMaskGenerator (sam2's SAM2AutomaticMaskGenerator for
SAM 2.1 folders) on an exported model, without PyTorch.

A grid of single-point prompts is decoded on the image's (cached) embedding; masks are filtered by
predicted IoU and stability score, boxes near inner crop edges dropped, duplicates removed by box
NMS, optionally small holes and islands cleaned up. The decoder runs the grid's prompts side by side
while the previous batch is scored: for SAM and EfficientViT-SAM folders on CPU the grid decoder
(edgemask.runtime.grid_decoder), which upscales only the masks of prompts with a predicted IoU above
the threshold; else the folder's decoder graph (edgemask.runtime.decoder_pool). Only the 256x256 logits of a
candidate are kept while it is filtered: its stability score is decided from them when the bounds of
edgemask.runtime.mask_bounds decide it (else its full-size logits are made once to score it, and
dropped), and full-size masks are built only for the masks that survive NMS.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional

import numpy as np

from edgemask.runtime import amg
from edgemask.runtime.mask_bounds import MaskBounds

MAX_POINTS_PER_SIDE = 128  # 16,384 decoder runs per crop
MAX_CROP_LAYERS = 3
OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")
# crops with fewer pixels are scored at full size straight away (cheaper than the low-res bounds)
BOUNDS_MIN_PIXELS = 16 * 256 * 256


class MaskGenerator:
    """Proposals for a whole image, with SamAutomaticMaskGenerator's parameters and defaults.

    predictor: an edgemask.runtime.Predictor of a SAM, EfficientViT-SAM or SAM 2.1 model folder.
    The other arguments are SamAutomaticMaskGenerator's (see its docstring); pred_iou_thresh defaults
    to 0.88, or to SAM2AutomaticMaskGenerator's 0.8 for SAM 2.1 (its use_m2m refinement is not
    offered). `generate(image)` returns the same records: segmentation, area, bbox (XYWH), predicted_iou, point_coords,
    stability_score, crop_box (XYWH). `progress(done, total)` is called after each batch of points.
    `workers`: decoder sessions run side by side on CPU (default: physical cores; results do not depend on it).
    """

    def __init__(self, predictor, points_per_side: Optional[int] = 32, points_per_batch: int = 64,
                 pred_iou_thresh: Optional[float] = None, stability_score_thresh: float = 0.95,
                 stability_score_offset: float = 1.0, box_nms_thresh: float = 0.7, crop_n_layers: int = 0,
                 crop_nms_thresh: float = 0.7, crop_overlap_ratio: float = 512 / 1500,
                 crop_n_points_downscale_factor: int = 1, point_grids: Optional[List[np.ndarray]] = None,
                 min_mask_region_area: int = 0, output_mode: str = "binary_mask",
                 workers: Optional[int] = None) -> None:
        if predictor is None:
            raise ValueError("no model: pre-labelling needs a model folder (edgemask export MODEL).")
        if pred_iou_thresh is None:  # SAM2AutomaticMaskGenerator's default is 0.8
            pred_iou_thresh = 0.8 if getattr(predictor.model, "family", None) == "sam2.1" else 0.88
        if (points_per_side is None) == (point_grids is None):
            raise ValueError("give exactly one of points_per_side or point_grids.")
        if not isinstance(crop_n_layers, int) or not 0 <= crop_n_layers <= MAX_CROP_LAYERS:
            raise ValueError(f"crop_n_layers must be a whole number from 0 to {MAX_CROP_LAYERS}, got {crop_n_layers!r}.")
        if points_per_side is not None:
            if not isinstance(points_per_side, (int, np.integer)) or isinstance(points_per_side, bool) \
                    or not 1 <= points_per_side <= MAX_POINTS_PER_SIDE:
                raise ValueError(f"points_per_side must be a whole number from 1 to {MAX_POINTS_PER_SIDE} "
                                 f"(at most {MAX_POINTS_PER_SIDE ** 2:,} points), got {points_per_side!r}.")
            if not isinstance(crop_n_points_downscale_factor, int) or crop_n_points_downscale_factor < 1:
                raise ValueError("crop_n_points_downscale_factor must be a whole number of at least 1.")
            self.point_grids = amg.build_all_layer_point_grids(int(points_per_side), crop_n_layers,
                                                               crop_n_points_downscale_factor)
            if any(len(g) == 0 for g in self.point_grids):
                raise ValueError("crop_n_points_downscale_factor leaves a crop layer with no points; lower it.")
        else:
            self.point_grids = [np.asarray(g, np.float64).reshape(-1, 2) for g in point_grids]
            if len(self.point_grids) != crop_n_layers + 1 or any(len(g) == 0 for g in self.point_grids):
                raise ValueError("point_grids must hold one non-empty grid per crop layer (crop_n_layers + 1).")
            if any(len(g) > MAX_POINTS_PER_SIDE ** 2 for g in self.point_grids):
                raise ValueError(f"a point grid may hold at most {MAX_POINTS_PER_SIDE ** 2:,} points.")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {', '.join(OUTPUT_MODES)}, not {output_mode!r}.")
        if not isinstance(points_per_batch, int) or points_per_batch < 1:
            raise ValueError(f"points_per_batch must be a whole number of at least 1, got {points_per_batch!r}.")
        if workers is not None and (not isinstance(workers, int) or not 1 <= workers <= 64):
            raise ValueError(f"workers must be a whole number from 1 to 64, got {workers!r}.")
        vars(self).update(predictor=predictor, points_per_batch=points_per_batch, pred_iou_thresh=pred_iou_thresh,
                          stability_score_thresh=stability_score_thresh,
                          stability_score_offset=stability_score_offset, box_nms_thresh=box_nms_thresh,
                          crop_n_layers=crop_n_layers, crop_nms_thresh=crop_nms_thresh,
                          crop_overlap_ratio=crop_overlap_ratio, min_mask_region_area=min_mask_region_area,
                          output_mode=output_mode, workers=workers)
        self._pool = None
        self.bounds_min_pixels = BOUNDS_MIN_PIXELS

    def generate(self, image: np.ndarray, progress=None) -> List[Dict[str, Any]]:
        """Mask records for an HxWx3 uint8 RGB image (SamAutomaticMaskGenerator.generate)."""
        from edgemask.runtime.transforms import check_image

        image = check_image(image)
        orig_size = image.shape[:2]
        crop_boxes, layer_idxs = amg.generate_crop_boxes(orig_size, self.crop_n_layers, self.crop_overlap_ratio)
        total = sum(len(self.point_grids[i]) for i in layer_idxs)
        state = {"done": 0, "total": total, "progress": progress}
        kept = []
        for crop_box, layer in zip(crop_boxes, layer_idxs):
            kept += self._process_crop(image, crop_box, layer, orig_size, state)
        if len(crop_boxes) > 1 and kept:
            scores = 1 / amg.box_area(np.array([k["crop_box"] for k in kept], np.float32))
            keep = amg.nms(np.array([k["box"] for k in kept]), scores, self.crop_nms_thresh)
            kept = [kept[i] for i in keep]
        if self.min_mask_region_area > 0 and kept:
            kept = self._small_regions(kept, max(self.box_nms_thresh, self.crop_nms_thresh))
        return [self._record(k) for k in kept]

    # -- per crop --------------------------------------------------------
    def _decoder(self):
        """decode(embedding, prompts) -> [(iou [4], low-res logits of the multimask outputs or None)]."""
        if self._pool is None:
            p = self.predictor
            model, engine = p.model, p.engine
            if model.grid_weights_path is not None and engine.decoder_device == "cpu":
                from edgemask.runtime import providers as prov
                from edgemask.runtime.grid_decoder import GridDecoder, load_weights

                grid = GridDecoder(load_weights(model.grid_weights_path), model.prompt_frame,
                                   self.workers or prov.physical_cores(), model.multimask_indices)
                idx, thresh = list(model.multimask_indices), self.pred_iou_thresh
                wanted = (lambda iou: bool((iou[idx] > thresh).any())) if thresh > 0.0 else None
                self._pool = _Decode(lambda emb, prompts: grid.decode(emb.host, prompts, wanted), grid.close)
            else:
                from edgemask.runtime.decoder_pool import DecoderPool

                pool, idx = DecoderPool(engine, self.workers), list(model.multimask_indices)
                self._pool = _Decode(lambda emb, prompts: [(iou, low[idx]) for iou, low in pool.decode(emb, prompts)],
                                     pool.close)
        return self._pool

    def _process_crop(self, image, crop_box, layer, orig_size, state) -> list:
        p = self.predictor
        x0, y0, x1, y1 = crop_box
        crop = image[y0:y1, x0:x1]
        p.set_image(crop)
        size = crop.shape[:2]
        embedding, upscaler = p.held_embedding()
        bounds = _CropBounds(lambda: MaskBounds(upscaler, p.model.low_res_size)) \
            if size[0] * size[1] >= self.bounds_min_pixels else None
        points = self.point_grids[layer] * np.array(size)[None, ::-1]
        batches = [points[s:s + self.points_per_batch] for s in range(0, len(points), self.points_per_batch)]
        pool = self._decoder()
        ones = np.ones(1, np.float32)

        def decode(batch):
            return pool.decode(embedding, [p.family.prompt(pt[None], ones, None, size) for pt in batch])

        cands = []
        with ThreadPoolExecutor(1) as ahead:  # the next batch decodes while this one is scored
            pending = ahead.submit(decode, batches[0])
            for i, batch in enumerate(batches):
                outputs = pending.result()
                if i + 1 < len(batches):
                    pending = ahead.submit(decode, batches[i + 1])
                cands += self._score_batch(batch, outputs, upscaler, bounds)
                state["done"] += len(batch)
                if state["progress"] is not None:
                    state["progress"](state["done"], state["total"])
        # boxes that touch an inner crop edge, then duplicates within the crop
        if cands:
            near = amg.is_box_near_crop_edge(np.array([c["box"] for c in cands]), crop_box,
                                             [0, 0, orig_size[1], orig_size[0]])
            cands = [c for c, n in zip(cands, near) if not n]
        if cands:
            keep = amg.nms(np.array([c["box"] for c in cands], np.float32),
                           np.array([c["iou"] for c in cands], np.float32), self.box_nms_thresh)
            cands = [cands[i] for i in keep]
        offset = np.array([x0, y0, x0, y0])
        threshold = p.model.mask_threshold
        for c in cands:
            logits = upscaler.logits(c.pop("low"))
            if c["stability"] is None:
                c["stability"] = self._stability(logits, threshold)
            full = np.zeros(orig_size, bool)
            full[y0:y1, x0:x1] = logits > threshold
            c["mask"] = full
            c["box"] = c["box"] + offset
            c["point"] = c["point"] + np.array([x0, y0])
            c["crop_box"] = list(crop_box)
        return cands

    def _score_batch(self, batch, outputs, upscaler, bounds) -> list:
        """The candidates of a batch of points that pass the predicted-IoU and stability filters."""
        p = self.predictor
        threshold = p.model.mask_threshold
        passed = []
        idx = list(p.model.multimask_indices)
        for point, (iou, low) in zip(batch, outputs):  # low: the multimask outputs' logits, or None (none passes)
            for m, score in enumerate(np.asarray(iou, np.float32)[idx]):
                if not self.pred_iou_thresh > 0.0 or score > self.pred_iou_thresh:
                    passed.append({"low": low[m], "iou": score, "point": point, "stability": None})
        if not passed:
            return []
        thresh = self.stability_score_thresh
        if bounds is not None and not bounds.useful():
            bounds = None
        if bounds is None:
            lo, hi = np.full(len(passed), -np.inf), np.full(len(passed), np.inf)
        elif thresh > 0.0:
            lows = np.stack([c["low"] for c in passed])
            lo, hi = bounds.get().stability(lows, threshold, self.stability_score_offset)
        else:
            lo = hi = np.full(len(passed), np.inf)
        out = []
        for c, s_lo, s_hi in zip(passed, lo, hi):
            if s_hi < thresh - 1e-6:  # rejected at low resolution
                bounds.count(True)
                continue
            box = bounds.get().box(c["low"], threshold) if bounds is not None and s_lo >= thresh + 1e-6 else None
            if bounds is not None:
                bounds.count(box is not None)
            if box is None:  # undecided at low resolution: the full-size logits decide, once
                logits = upscaler.logits(c["low"])
                c["stability"] = self._stability(logits, threshold)
                if thresh > 0.0 and not c["stability"] >= np.float32(thresh):
                    continue
                box = amg.mask_box(logits > threshold)
            c["box"] = box
            out.append(c)
        return out

    def _stability(self, logits, threshold) -> np.float32:
        """The official stability score of full-size logits (NaN when nothing is above the lower level)."""
        inter = np.count_nonzero(logits > threshold + self.stability_score_offset)
        union = np.count_nonzero(logits > threshold - self.stability_score_offset)
        return np.float32(inter) / np.float32(union) if union else np.float32(np.nan)

    # -- after all crops -------------------------------------------------
    def _small_regions(self, kept, nms_thresh) -> list:
        scores, masks = [], []
        for k in kept:
            mask, changed = amg.remove_small_regions(k["mask"], self.min_mask_region_area, "holes")
            unchanged = not changed
            mask, changed = amg.remove_small_regions(mask, self.min_mask_region_area, "islands")
            masks.append(mask)
            scores.append(float(unchanged and not changed))
        boxes = np.array([amg.mask_box(m) for m in masks])
        keep = amg.nms(boxes, np.array(scores, np.float32), nms_thresh)
        out = []
        for i in keep:
            if scores[i] == 0.0:
                kept[i]["mask"], kept[i]["box"] = masks[i], boxes[i]
            out.append(kept[i])
        return out

    def _record(self, k) -> Dict[str, Any]:
        rle = amg.mask_to_rle(k["mask"])
        if self.output_mode == "binary_mask":
            seg = k["mask"]
        elif self.output_mode == "uncompressed_rle":
            seg = rle
        else:
            from edgemask.runtime.shapes import mask_to_rle

            seg = mask_to_rle(k["mask"])
        return {"segmentation": seg, "area": amg.area_from_rle(rle), "bbox": amg.xyxy_to_xywh(k["box"]),
                "predicted_iou": float(k["iou"]), "point_coords": [k["point"].tolist()],
                "stability_score": float(k["stability"]), "crop_box": amg.xyxy_to_xywh(k["crop_box"])}


class _Decode:
    """The generator's decoder: decode(embedding, prompts) and close()."""

    def __init__(self, decode, close) -> None:
        self.decode, self.close = decode, close


class _CropBounds:
    """A crop's MaskBounds, made on first use, and given up for the rest of the crop when they decide
    fewer than 1 in 20 of its first 128 candidates (weak, noisy logits, as random-weight models give):
    either way the results are the same, only the time differs."""

    TRIAL, MIN_DECIDED = 128, 0.05

    def __init__(self, make) -> None:
        self._make, self._value = make, None
        self.tried = self.decided = 0

    def get(self) -> MaskBounds:
        if self._value is None:
            self._value = self._make()
        return self._value

    def count(self, decided: bool) -> None:
        self.tried += 1
        self.decided += bool(decided)

    def useful(self) -> bool:
        return self.tried < self.TRIAL or self.decided >= self.MIN_DECIDED * self.tried
