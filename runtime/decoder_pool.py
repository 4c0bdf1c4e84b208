"""The decoder on many prompts of one image at once (the automatic mask generator's point grid).

On CPU, `workers` single-threaded sessions of the decoder (its per-click part when the folder is
split) each take a share of the prompts, side by side: one click's operators are too small to keep
several intra-op threads busy, and on a loaded machine those threads mostly wait for each other
(measured: two 1-thread sessions ~3x the prompts per second of one 2-thread session, 2-core Xeon
under load). On CUDA / other devices the predictor's engine runs the prompts one after another.
Results come back in the order of the prompts, whatever the number of workers.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

import numpy as np

from edgemask.runtime.engine import DECODER_OUTPUTS

Prompt = Tuple[np.ndarray, np.ndarray]  # decoder coords [1,N,2], labels [1,N]


class DecoderPool:
    """decode(embedding, prompts) -> [(iou [4], low-res logits [4,256,256])], one per (coords, labels)."""

    def __init__(self, engine, workers: Optional[int] = None) -> None:
        from edgemask.runtime import providers as prov

        self.engine = engine
        model = engine.model
        workers = workers or prov.physical_cores()
        self.sessions = []
        if engine.decoder_device == "cpu" and not engine.io_binding and workers > 1:
            path = model.split_click_path if engine.split is not None else model.decoder_path
            self.sessions = [prov.create_session(path, ["cpu"], prov.DeviceSettings(), threads=1)[0]
                             for _ in range(workers)]
        self._executor = ThreadPoolExecutor(len(self.sessions)) if self.sessions else None
        size = model.low_res_size
        self._no_mask = {"mask_input": np.zeros((1, 1, size, size), np.float32),
                         "has_mask_input": np.zeros(1, np.float32)}

    def decode(self, embedding, prompts: Sequence[Prompt]) -> List[Tuple[np.ndarray, np.ndarray]]:
        if self._executor is None:
            return [self.engine.decode(embedding, c, l) for c, l in prompts]
        if self.engine.split is not None:
            self.engine.prepare(embedding)
            fixed = dict(embedding.per_image)
        else:
            fixed = dict(self._no_mask, image_embeddings=embedding.host)
        n = len(self.sessions)
        shares = [list(range(k, len(prompts), n)) for k in range(n)]

        def run(k):
            session = self.sessions[k]
            out = []
            for i in shares[k]:
                coords, labels = prompts[i]
                feeds = dict(fixed, point_coords=np.ascontiguousarray(coords, np.float32),
                             point_labels=np.ascontiguousarray(labels, np.float32))
                iou, low = session.run(list(DECODER_OUTPUTS), feeds)
                out.append((iou[0], low[0]))
            return out

        results: List[Tuple[np.ndarray, np.ndarray]] = [None] * len(prompts)  # type: ignore[list-item]
        for k, part in enumerate(self._executor.map(run, range(n))):
            for i, value in zip(shares[k], part):
                results[i] = value
        return results

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)
