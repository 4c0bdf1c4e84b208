"""Run two model folders on the same inputs and compare: what "the same export" means in the tests."""

import json

import numpy as np
import onnxruntime as ort


def run_folder(folder, seed=0, video=False):
    """Encoder embedding, then decoder (whole and split) logits for a fixed image and prompt; with
    `video`, the video graphs' outputs too where the folder has them (model.json "video")."""
    rng = np.random.default_rng(seed)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3

    def session(name):
        return ort.InferenceSession(str(folder / name), opts, providers=["CPUExecutionProvider"])

    enc = session("encoder.onnx")
    size = enc.get_inputs()[0].shape[0]
    embedding = enc.run(None, {"image": (rng.random((size, size, 3)) * 255).astype(np.float32)})[0]
    prompt = {"point_coords": np.array([[[100, 200], [300, 50], [0, 0]]], np.float32),
              "point_labels": np.array([[1, 0, -1]], np.float32)}
    feeds = dict(prompt, image_embeddings=embedding,
                 mask_input=rng.standard_normal((1, 1, 256, 256)).astype(np.float32),
                 has_mask_input=np.array([1], np.float32))
    iou, low = session("decoder.onnx").run(None, feeds)
    split = json.loads((folder / "model.json").read_text())["decoder"]["split"]
    per_image = session(split["image_file"]).run(split["tensors"], {"image_embeddings": embedding})
    iou_click, low_click = session(split["click_file"]).run(None, dict(prompt, **dict(zip(split["tensors"], per_image))))
    out = {"embedding": embedding, "iou": iou, "low": low, "iou_click": iou_click, "low_click": low_click}
    video = video and json.loads((folder / "model.json").read_text()).get("video")
    if video:  # SAM 2.1's video graphs: a memory of the decoder's mask, attended to, decoded with memory
        from edgemask.runtime.fuse_attention import fused_attention  # as the sequence predictor runs it

        graphs = {k: session(v) for k, v in video["graphs"].items() if k != "memory_attention"}
        graphs["memory_attention"] = ort.InferenceSession(fused_attention(folder / video["graphs"]["memory_attention"]),
                                                          opts, providers=["CPUExecutionProvider"])
        score = np.array([[1.5]], np.float32)
        memory = graphs["memory_encoder"].run(None, {"image_embeddings": embedding, "low_res_mask": low[:, :1],
                                                     "object_score_logits": score,
                                                     "is_mask_from_pts": np.array([1], np.float32)})[0]
        pix = graphs["memory_attention"].run(None, {
            "image_embeddings": embedding, "memory": memory, "memory_tpos": np.array([1]),
            "obj_ptrs": rng.standard_normal((2, 256)).astype(np.float32), "obj_ptr_tpos": np.array([0, 0.5], np.float32)})[0]
        iou_mem, low_mem, ptrs, score_mem = graphs["memory_decoder"].run(None, dict(feeds, pix_feat=pix))
        out.update(memory=memory, pix_feat=pix, iou_mem=iou_mem, low_mem=low_mem, obj_ptrs=ptrs, score=score_mem)
    return out


def assert_same_outputs(filled, traced, rtol=1e-5, mask_agreement=1.0, video=False):
    """fp32: logits within 1e-5 relative, same masks. Filled BatchNorm-folded weights can differ from
    torch's by one float32 ulp (torch's vectorised sqrt is not correctly rounded, numpy's is), which an
    fp16 or int8 rounding step can turn into one fp16 ulp / quantisation step: hence rtol for those."""
    ours, ref = run_folder(filled, video=video), run_folder(traced, video=video)
    assert ours.keys() == ref.keys(), "one folder has the video graphs, the other not"
    for key in ours:
        scale = np.abs(ref[key]).max()
        err = np.abs(ours[key] - ref[key]).max()
        assert err <= rtol * scale, f"{key}: max abs error {err:.3g} over {rtol:.0e} x {scale:.3g}"
    for key in ("low", "low_click"):
        agree = np.mean((ours[key] > 0) == (ref[key] > 0))
        assert agree >= mask_agreement, f"{key}: masks agree on {agree:.5f} of the pixels"
