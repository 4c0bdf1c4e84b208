"""A mask as the prompt of edgemask.runtime.sequence_predictor (add_new_mask) against the official
SAM2VideoPredictor.add_new_mask on the random-weight sam2.1-hiera-tiny export (its video graphs; tests/conftest.py): one object
given as a mask on frame 0 of 2 small frames, propagated forward (the second frame attends to the
mask's memory and pointer); every frame's mask must agree. The
page's Propagate prompts this way (its objects are masks and polygons)."""

import cv2
import numpy as np
import pytest

from synthetic import synthetic_image
from test_parity import iou

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

NAME = "sam2.1-hiera-tiny"
FRAMES, H, W, STEP = 2, 72, 96, 3
MIN_IOU = 0.98


def sequence():
    scene = synthetic_image(H + FRAMES * STEP, W + FRAMES * STEP, seed=5)
    return [np.ascontiguousarray(scene[i * STEP:i * STEP + H, i * STEP:i * STEP + W]) for i in range(FRAMES)]


def object_mask():
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, (int(0.4 * W), int(0.5 * H)), (int(0.22 * W), int(0.18 * H)), 15, 0, 360, 1, -1)
    return mask.astype(bool)


def test_aa_bilinear_is_torchs_antialiased_resize():
    from edgemask.runtime.sequence_predictor import aa_bilinear

    x = np.random.default_rng(1).normal(0, 5, (37, 50)).astype(np.float32)
    for out in ((256, 256), (9, 13), (37, 50), (100, 64)):
        ref = torch.nn.functional.interpolate(torch.from_numpy(x)[None, None], size=out, mode="bilinear",
                                              align_corners=False, antialias=True)[0, 0].numpy()
        np.testing.assert_allclose(aa_bilinear(x, *out), ref, rtol=1e-5, atol=1e-4)  # torch sums in float32


@pytest.mark.slow
def test_mask_prompt_matches_official_video_predictor(sam2_video_model, random_checkpoint, tmp_path):
    from sam2.build_sam import build_sam2_video_predictor

    from edgemask.export.registry import SAM_MEAN, SAM_STD, get_spec
    from edgemask.runtime.sequence_predictor import SequencePredictor
    from edgemask.runtime.transforms import square_encoder_input

    frames, mask = sequence(), object_mask()
    predictor = build_sam2_video_predictor(get_spec(NAME).config, ckpt_path=str(random_checkpoint(NAME)), device="cpu")
    predictor.fill_hole_area = 0  # its CUDA kernel is not built on CPU, where it is skipped anyway
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i:05d}.jpg"), frame[:, :, ::-1])
    mean, std = torch.tensor(SAM_MEAN).view(3, 1, 1), torch.tensor(SAM_STD).view(3, 1, 1)
    predictor._get_image_feature = lambda *args, **kw: None  # init_state's warm-up encode, not compared
    ref_state = predictor.init_state(str(tmp_path))
    del predictor._get_image_feature
    # the frames resized as ours are (the image predictor's resize), not load_video_frames' JPEG + PIL path
    ref_state["images"] = torch.stack([(torch.from_numpy(square_encoder_input(f, 1024)).permute(2, 0, 1) - mean) / std
                                       for f in frames])
    ref_state["cached_features"] = {}

    ours = SequencePredictor(sam2_video_model, cached_frames=FRAMES)
    state = ours.init_state(frames)
    with torch.inference_mode():
        _, ids, ref = predictor.add_new_mask(ref_state, frame_idx=0, obj_id=7, mask=mask)
        _, our_ids, got = ours.add_new_mask(state, 0, 7, mask)
        assert our_ids == ids == [7]
        runs = [(0, ref.numpy(), got)]
        ref_run = list(predictor.propagate_in_video(ref_state))
        run = list(ours.propagate_in_video(state))
    assert [f for f, _, _ in run] == [f for f, _, _ in ref_run] == list(range(FRAMES))
    runs += [(f, r.numpy(), g) for (f, _, r), (_, _, g) in zip(ref_run, run)]
    for f, ref, got in runs:
        assert got.shape == ref.shape == (1, 1, H, W)
        assert (ref[0, 0] > 0).sum() > 0, f"frame {f}: the official mask is empty, nothing is compared"
        assert iou(ref[0, 0] > 0, got[0, 0] > 0) >= MIN_IOU, f"frame {f}: masks differ"
    assert iou(runs[0][2][0, 0] > 0, mask) > 0.9  # the prompt frame's output is the mask itself


def test_mask_prompt_refuses_bad_masks_in_one_sentence(sam2_video_model):
    from edgemask.runtime.sequence_predictor import SequencePredictor

    ours = SequencePredictor(sam2_video_model)
    state = ours.init_state([np.zeros((H, W, 3), np.uint8)])
    with pytest.raises(ValueError, match="empty mask"):
        ours.add_new_mask(state, 0, 1, np.zeros((H, W), bool))
    with pytest.raises(ValueError, match="frame's size"):
        ours.add_new_mask(state, 0, 1, np.ones((H + 1, W), bool))
    with pytest.raises(ValueError, match="not in the sequence"):
        ours.add_new_mask(state, 3, 1, object_mask())
