"""Parity of edgemask.runtime.sequence_predictor with the official SAM2VideoPredictor, on the random-weight
sam2.1-hiera-tiny checkpoint (tests/conftest.py) and its export plus the video graphs
(the exporter's video graphs, tests/video_model.py): a held-out synthetic sequence of 8 small frames (a scene panning a
few pixels a frame), 2 objects prompted on frame 0 (a click, a box), propagated forward; then a
correction click on the last frame and two frames propagated backward from the one before it (their
memory holds the correction). Every frame's masks must agree. Each frame is encoded once, by the
official encoder (ours is checked against it on frame 0; both predictors then take its features), the
official's frames go in as tensors (no JPEG round trip); what is left is the memory attention (4096
queries over up to 7 x 4096 memory tokens per object and frame forward, on both sides) (slow)."""

import numpy as np
import pytest

from synthetic import synthetic_image
from test_parity import iou

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

NAME = "sam2.1-hiera-tiny"
FRAMES, H, W, STEP = 8, 96, 128, 3  # 8 (the least): the last frame attends to frame 0 and the 6 before it, a full bank
REL, MIN_IOU = 1e-4, 0.98


def sequence():
    scene = synthetic_image(H + FRAMES * STEP, W + FRAMES * STEP, seed=21)
    return [np.ascontiguousarray(scene[i * STEP:i * STEP + H, i * STEP // 2:i * STEP // 2 + W]) for i in range(FRAMES)]


@pytest.fixture(scope="module")
def official(random_checkpoint):
    """SAM2VideoPredictor on the same checkpoint, its state over the same frames resized as ours are
    (the image predictor's resize; load_video_frames' own JPEG decoding and PIL resize are not the thing
    compared, so the frames go in as tensors). Each frame's backbone is computed once."""
    import sam2.sam2_video_predictor as video_predictor
    from sam2.build_sam import build_sam2_video_predictor

    from edgemask.export.registry import SAM_MEAN, SAM_STD, get_spec
    from edgemask.runtime.transforms import square_encoder_input

    predictor = build_sam2_video_predictor(get_spec(NAME).config, ckpt_path=str(random_checkpoint(NAME)),
                                           device="cpu")
    predictor.fill_hole_area = 0  # its CUDA kernel is not built on CPU, where it is skipped anyway
    frames = sequence()
    mean = torch.tensor(SAM_MEAN).view(3, 1, 1)
    std = torch.tensor(SAM_STD).view(3, 1, 1)
    images = torch.stack([(torch.from_numpy(square_encoder_input(f, 1024)).permute(2, 0, 1) - mean) / std
                          for f in frames])

    # the official keeps only the latest frame's backbone: the same values, computed once (and given
    # to ours packed as our encoder packs them, so each frame is encoded once in all)
    backbones, get_feature = {}, predictor._get_image_feature

    def cached_feature(state, frame_idx, batch_size):
        if frame_idx in backbones:
            state["cached_features"] = {frame_idx: backbones[frame_idx]}
        features = get_feature(state, frame_idx, batch_size)
        backbones[frame_idx] = state["cached_features"][frame_idx]
        return features

    predictor._get_image_feature = cached_feature

    def new_state():
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(video_predictor, "load_video_frames", lambda **_: (images, H, W))
            return predictor.init_state("frames")  # its warm-up encodes frame 0, into `backbones`

    def packed(frame_idx):
        fpn = backbones[frame_idx][1]["backbone_fpn"]  # high_res_feats_0, _1 (through conv_s0 / s1), image_embed
        image_embed = fpn[2] + predictor.no_mem_embed.reshape(1, -1, 1, 1)
        return torch.cat([image_embed.flatten(), fpn[0].flatten(), fpn[1].flatten()]).numpy()

    return predictor, new_state, frames, packed


def prompts():
    return [dict(frame_idx=0, obj_id=1, points=np.array([[0.3 * W, 0.55 * H]], np.float32), labels=np.array([1])),
            dict(frame_idx=0, obj_id=2, box=np.array([0.5 * W, 0.15 * H, 0.9 * W, 0.7 * H], np.float32))]


def correction():  # on the last frame: propagating back from the frame before attends to its memory
    return dict(frame_idx=FRAMES - 1, obj_id=1, points=np.array([[0.35 * W, 0.5 * H], [0.1 * W, 0.1 * H]], np.float32),
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
def test_propagation_matches_official_video_predictor(sam2_video_model, official):
    from edgemask.runtime.sequence_predictor import SequencePredictor

    predictor, new_state, frames, packed = official
    ours = SequencePredictor(sam2_video_model, cached_frames=FRAMES)
    with torch.inference_mode():
        ref_state = new_state()
        # our encoder gives the official's features (the image predictor's parity holds here too), so
        # ours takes the official's for every frame: the video parts are what is compared
        ref = packed(0)
        assert np.abs(ours.model.encode(frames[0]) - ref).max() <= REL * np.abs(ref).max()
        state = ours.init_state(frames, embed=packed)
        for kw in prompts():
            _, ids, ref = predictor.add_new_points_or_box(ref_state, **kw)
            _, our_ids, got = ours.add_new_points_or_box(state, **kw)
            assert our_ids == ids
            compare(ref, got, f"prompt on object {kw['obj_id']}")
        ref_run = list(predictor.propagate_in_video(ref_state))
        run = list(ours.propagate_in_video(state))
        assert [f for f, _, _ in run] == [f for f, _, _ in ref_run] == list(range(FRAMES))
        seen, forward = 0, {f: got for f, _, got in run}
        for (f, _, ref), (_, _, got) in zip(ref_run, run):
            compare(ref, got, f"frame {f}")
            seen += int((ref.numpy() > 0).any(axis=(1, 2, 3)).sum())
        assert seen > 0, "every mask is empty: the comparison would not test the memory"

        _, _, ref = predictor.add_new_points_or_box(ref_state, **correction())
        _, _, got = ours.add_new_points_or_box(state, **correction())
        compare(ref, got, f"correction on frame {FRAMES - 1}")
        # backward from the frame before it: two frames, whose memories now hold the correction's
        kw = dict(start_frame_idx=FRAMES - 2, max_frame_num_to_track=1, reverse=True)
        pairs = list(zip(predictor.propagate_in_video(ref_state, **kw), ours.propagate_in_video(state, **kw)))
        assert [ref[0] for ref, _ in pairs] == [got[0] for _, got in pairs] == [FRAMES - 2, FRAMES - 3]
        for (f, _, ref), (_, _, got) in pairs:
            compare(ref, got, f"frame {f} after the correction, backward")
            assert np.abs(got - forward[f]).max() > 0, f"frame {f}: backward gave the forward pass's logits"
    assert ours.memory_bytes(state) > 0


def test_frames_of_different_sizes_are_refused_in_one_sentence(sam2_video_model):
    from edgemask.runtime.sequence_predictor import SequencePredictor

    ours = SequencePredictor(sam2_video_model)
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
