"""Web UI fixtures: a small folder of real images, a fake predictor, and Flask test clients."""

import time

import cv2
import numpy as np
import pytest

from synthetic import synthetic_image
from webui_util import SQUARE, page_client


def square_image() -> np.ndarray:
    rgb = np.full((48, 64, 3), (20, 90, 30), np.uint8)
    x0, y0, x1, y1 = SQUARE
    rgb[y0:y1, x0:x1] = (230, 20, 20)
    return rgb


@pytest.fixture
def images_dir(tmp_path):
    """square.png (64x48), sub/portrait.jpg (40x60), plus files that are not images to list."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    cv2.imwrite(str(root / "square.png"), cv2.cvtColor(square_image(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "sub" / "portrait.jpg"),
                cv2.cvtColor(synthetic_image(60, 40, seed=3), cv2.COLOR_RGB2BGR))
    (root / "notes.txt").write_text("not an image")
    cv2.imwrite(str(root / ".hidden.png"), square_image())
    return root


class FakePredictor:
    """Stands in for edgemask.runtime.Predictor: the predicted mask is every pixel whose colour is
    within 40 of the colour under the first include point (or the box area when there is no
    point). Multimask answers put that mask second, between an empty and a full mask, with the
    highest score; low-res logits are filled with the index of their mask. Calls are recorded."""

    def __init__(self):
        self.image = None
        self.set_calls = 0
        self.predict_calls = []
        self.active = 0  # calls running right now: the API must never let two overlap
        self.max_active = 0
        self.delay = 0.0

    def set_image(self, rgb):
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
        self.image = rgb
        self.set_calls += 1

    def predict(self, point_coords=None, point_labels=None, box=None, mask_input=None,
                multimask_output=True):
        assert self.image is not None, "set_image first"
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.delay)
            return self._predict(point_coords, point_labels, box, mask_input, multimask_output)
        finally:
            self.active -= 1

    def _predict(self, point_coords, point_labels, box, mask_input, multimask_output):
        self.predict_calls.append({"point_coords": point_coords, "point_labels": point_labels,
                                   "box": box, "mask_input": mask_input,
                                   "multimask_output": multimask_output})
        h, w = self.image.shape[:2]
        if point_coords is not None and (point_labels == 1).any():
            x, y = point_coords[int(np.argmax(point_labels == 1))]
            seed = self.image[min(int(y), h - 1), min(int(x), w - 1)].astype(int)
            mask = (np.abs(self.image.astype(int) - seed).max(axis=2) <= 40)
        else:
            mask = np.zeros((h, w), bool)
            if box is not None:
                x0, y0, x1, y1 = (int(v) for v in box)
                mask[y0:y1, x0:x1] = True
        if multimask_output:
            masks = np.stack([np.zeros_like(mask), mask, np.ones_like(mask)])
            scores = np.array([0.1, 0.9, 0.4], np.float32)
        else:
            masks, scores = mask[None], np.array([0.8], np.float32)
        low_res = np.stack([np.full((256, 256), i, np.float32) for i in range(len(masks))])
        return masks, scores, low_res


@pytest.fixture
def fake_predictor():
    return FakePredictor()


@pytest.fixture
def app(images_dir, fake_predictor):
    from edgemask.webui import create_app

    app = create_app({"IMAGES_DIR": str(images_dir), "PREDICTOR": fake_predictor, "TESTING": True})
    yield app
    app.extensions["edgemask"].store.close()


@pytest.fixture
def client(app):
    return page_client(app)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A model folder with tiny real ONNX graphs (tests/runtime/tiny_model.py): the real
    Predictor runs it in milliseconds; its masks mean nothing, only the plumbing is tested."""
    import importlib.util
    from pathlib import Path

    source = Path(__file__).parent.parent / "runtime" / "tiny_model.py"
    spec = importlib.util.spec_from_file_location("edgemask_tests_tiny_model", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


