"""Parity of edgemask.runtime.sequence_predictor with the official SAM2VideoPredictor, on the random-weight
sam2.1-hiera-tiny checkpoint (tests/conftest.py) and its export plus the video graphs
(edgemask.export.sam2_video_graphs): a held-out synthetic sequence of 8 small frames (a scene panning a
few pixels a frame), 2 objects prompted on frame 0 (a click, a box), propagated forward; then a
correction click on a later frame and two frames on from it each way. Every frame's masks must agree.
Each frame is encoded once on both sides; the test takes ~2 minutes on 2 loaded cores (slow)."""

import os

import cv2
import numpy as np
import pytest

from synthetic import synthetic_image
from test_parity import iou

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

NAME = "sam2.1-hiera-tiny"
FRAMES, H, W, STEP = 8, 96, 128, 3
REL, MIN_IOU = 1e-4, 0.98


def sequence():
    scene = synthetic_image(H + FRAMES * STEP, W + FRAMES * STEP, seed=21)
    return [np.ascontiguousarray(scene[i * STEP:i * STEP + H, i * STEP // 2:i * STEP // 2 + W]) for i in range(FRAMES)]


@pytest.fixture(scope="module")
def video_model(exported_model, random_checkpoint):
    """The traced tiny export with the video graphs added, in a folder of its own (hard links)."""
    from edgemask.export.sam2_video_graphs import add_video_parts

    image_dir = exported_model(NAME)
    out = image_dir.parent / f"{image_dir.name}-video"
    if not (out / "memory_attention.onnx").exists():
        tmp = out.with_name(out.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for f in image_dir.iterdir():
            if not (tmp / f.name).exists():
                os.link(f, tmp / f.name) if f.name != "model.json" else (tmp / f.name).write_bytes(f.read_bytes())
        add_video_parts(tmp, random_checkpoint(NAME))
        tmp.replace(out)
    return out


@pytest.fixture(scope="module")
def official(random_checkpoint, tmp_path_factory):
    """SAM2VideoPredictor on the same checkpoint, its state over the same frames resized as ours are
    (the image predictor's resize; load_video_frames' own PIL resize is not the thing compared)."""
    from sam2.build_sam import build_sam2_video_predictor

    from edgemask.export.registry import SAM_MEAN, SAM_STD, get_spec
    from edgemask.runtime.transforms import square_encoder_input

    predictor = build_sam2_video_predictor(get_spec(NAME).config, ckpt_path=str(random_checkpoint(NAME)),
                                           device="cpu")
    predictor.fill_hole_area = 0  # its CUDA kernel is not built on CPU, where it is skipped anyway
    folder = tmp_path_factory.mktemp("frames")
    frames = sequence()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), frame[:, :, ::-1])
    mean = torch.tensor(SAM_MEAN).view(3, 1, 1)
    std = torch.tensor(SAM_STD).view(3, 1, 1)

    # a frame's backbone is computed once (the official keeps only the latest frame's): same values
    backbones, get_feature = {}, predictor._get_image_feature

    def cached_feature(state, frame_idx, batch_size):
        if frame_idx in backbones:
            state["cached_features"] = {frame_idx: backbones[frame_idx]}
        features = get_feature(state, frame_idx, batch_size)
        backbones[frame_idx] = state["cached_features"][frame_idx]
        return features

    predictor._get_image_feature = cached_feature

    def new_state():
        state = predictor.init_state(str(folder))
        state["images"] = torch.stack([(torch.from_numpy(square_encoder_input(f, 1024)).permute(2, 0, 1) - mean) / std
                                       for f in frames])
        state["cached_features"] = {}
        backbones.clear()  # init_state encoded frame 0 as load_video_frames resized it
        return state

    return predictor, new_state, frames


def prompts():
    return [dict(frame_idx=0, obj_id=1, points=np.array([[0.3 * W, 0.55 * H]], np.float32), labels=np.array([1])),
            dict(frame_idx=0, obj_id=2, box=np.array([0.5 * W, 0.15 * H, 0.9 * W, 0.7 * H], np.float32))]


def correction():
    return dict(frame_idx=5, obj_id=1, points=np.array([[0.35 * W, 0.5 * H], [0.1 * W, 0.1 * H]], np.float32),
                labels=np.array([1, 0]))


def compare(ref, got, label):
    ref = ref.numpy() if hasattr(ref, "numpy") else ref
    assert got.shape == ref.shape, label
    for obj in range(ref.shape[0]):
        scale = max(1.0, float(np.abs(ref[obj]).max()))
        diff = float(np.abs(got[obj] - ref[obj]).max())
        assert diff <= REL * scale, f"{label} object {obj}: logits differ by {diff} (scale {scale})"
        assert iou(ref[obj, 0] > 0, got[obj, 0] > 0) >= MIN_IOU, f"{label} object {obj}: masks differ"


@pytest.mark.slow
def test_propagation_matches_official_video_predictor(video_model, official):
    from edgemask.runtime.sequence_predictor import SequencePredictor

    predictor, new_state, frames = official
    ours = SequencePredictor(video_model, cached_frames=FRAMES)
    ref_state, state = new_state(), ours.init_state(frames)
    with torch.inference_mode():
        for kw in prompts():
            _, ids, ref = predictor.add_new_points_or_box(ref_state, **kw)
            _, our_ids, got = ours.add_new_points_or_box(state, **kw)
            assert our_ids == ids
            compare(ref, got, f"prompt on object {kw['obj_id']}")
        ref_run = list(predictor.propagate_in_video(ref_state))
        run = list(ours.propagate_in_video(state))
        assert [f for f, _, _ in run] == [f for f, _, _ in ref_run] == list(range(FRAMES))
        seen = 0
        for (f, _, ref), (_, _, got) in zip(ref_run, run):
            compare(ref, got, f"frame {f}")
            seen += int((ref.numpy() > 0).any(axis=(1, 2, 3)).sum())
        assert seen > 0, "every mask is empty: the comparison would not test the memory"

        _, _, ref = predictor.add_new_points_or_box(ref_state, **correction())
        _, _, got = ours.add_new_points_or_box(state, **correction())
        compare(ref, got, "correction on frame 5")
        for reverse in (False, True):  # two frames on from the correction, each way
            kw = dict(start_frame_idx=5, max_frame_num_to_track=2, reverse=reverse)
            pairs = list(zip(predictor.propagate_in_video(ref_state, **kw), ours.propagate_in_video(state, **kw)))
            assert [ref[0] for ref, _ in pairs] == [got[0] for _, got in pairs] == ([5, 4, 3] if reverse else [5, 6, 7])
            for (f, _, ref), (_, _, got) in pairs:
                compare(ref, got, f"frame {f} after the correction, reverse={reverse}")
    assert ours.memory_bytes(state) > 0


def test_frames_of_different_sizes_are_refused_in_one_sentence(video_model):
    from edgemask.runtime.sequence_predictor import SequencePredictor

    ours = SequencePredictor(video_model)
    with pytest.raises(ValueError, match="same size") as err:
        ours.init_state([np.zeros((32, 48, 3), np.uint8), np.zeros((48, 32, 3), np.uint8)])
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="no object"):
        list(ours.propagate_in_video(ours.init_state([np.zeros((32, 48, 3), np.uint8)])))


def test_bfloat16_storage_rounds_as_torch():
    from edgemask.runtime.sequence_predictor import from_bfloat16, to_bfloat16

    x = np.random.default_rng(0).normal(0, 10, 10000).astype(np.float32)
    x[:4] = [0.0, -0.0, 1e-38, 3.0e38]
    ref = torch.from_numpy(x).to(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(from_bfloat16(to_bfloat16(x)), ref)
