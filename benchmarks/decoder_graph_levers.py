"""Measures graph-level levers for the decoder and encoder (proposals for the exporter, not used at run time).

Rewrites a decoder.onnx so that each ConvTranspose with kernel 2, stride 2 (SAM's output upscaling)
becomes a 1x1 Conv to 4x the channels + DepthToSpace(CRD) + bias, checks that the outputs agree,
and times both graphs with the runtime's session options.

    python benchmarks/decoder_graph_levers.py MODEL_DIR [--runs 30] [--save OUT.onnx]
"""

import argparse
import time

import numpy as np


def convtranspose_to_depth_to_space(model):
    """In place: ConvTranspose(k=2, s=2, no pads, group 1) -> Conv1x1 + DepthToSpace + Add(bias)."""
    import onnx
    from onnx import helper, numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    new_nodes, replaced = [], 0
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        ok = (node.op_type == "ConvTranspose" and list(attrs.get("strides", [])) == [2, 2]
              and list(attrs.get("kernel_shape", [2, 2])) == [2, 2] and attrs.get("group", 1) == 1
              and not any(attrs.get("pads", [0]) ) and not attrs.get("output_padding")
              and node.input[1] in inits)
        if not ok:
            new_nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[1]])  # Cin, Cout, 2, 2
        cin, cout = w.shape[:2]
        if w.shape[2:] != (2, 2):
            new_nodes.append(node)
            continue
        w1 = w.transpose(1, 2, 3, 0).reshape(cout * 4, cin, 1, 1)  # (co, a, b) x ci
        name = node.name or node.output[0]
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w1), name + "_w1x1"))
        conv_out, d2s_out = name + "_conv1x1", name + "_d2s"
        conv_inputs = [node.input[0], name + "_w1x1"]
        if len(node.input) > 2 and node.input[2]:
            b = numpy_helper.to_array(inits[node.input[2]])
            model.graph.initializer.append(numpy_helper.from_array(np.repeat(b, 4).astype(b.dtype), name + "_b4"))
            conv_inputs.append(name + "_b4")
        new_nodes.append(helper.make_node("Conv", conv_inputs, [conv_out], kernel_shape=[1, 1], name=name + "_c"))
        new_nodes.append(helper.make_node("DepthToSpace", [conv_out], [node.output[0]], blocksize=2, mode="CRD",
                                          name=name + "_d"))
        replaced += 1
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    onnx.checker.check_model(model)
    return replaced


def feeds(n_points=1):
    rng = np.random.default_rng(0)
    return {"image_embeddings": rng.standard_normal((1, 256, 64, 64)).astype(np.float32),
            "point_coords": np.concatenate([rng.uniform(0, 1000, (1, n_points, 2)), np.zeros((1, 1, 2))],
                                           1).astype(np.float32),
            "point_labels": np.array([[1] * n_points + [-1]], np.float32),
            "mask_input": np.zeros((1, 1, 256, 256), np.float32), "has_mask_input": np.zeros(1, np.float32)}


def main():
    import onnx
    import onnxruntime as ort

    from edgemask.runtime.providers import session_options

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--save")
    ap.add_argument("--split", action="store_true", help="time the per-image / per-click split instead")
    ap.add_argument("--encoder", action="store_true",
                    help="time encoder rewrites (FastGelu fusion, bicubic Resize as MatMuls) instead")
    args = ap.parse_args()
    if args.encoder:
        time_encoder(args.model_dir, args.runs)
        return
        return
    if args.split:
        time_split(args.model_dir, args.runs)
        return
    model = onnx.load(f"{args.model_dir}/decoder.onnx")
    n = convtranspose_to_depth_to_space(model)
    data = model.SerializeToString()
    if args.save:
        onnx.save_model(model, args.save)
    sessions = {
        "exported": ort.InferenceSession(f"{args.model_dir}/decoder.onnx", session_options("cpu"),
                                         providers=["CPUExecutionProvider"]),
        f"ConvTranspose->Conv1x1+DepthToSpace ({n} nodes)": ort.InferenceSession(
            data, session_options("cpu"), providers=["CPUExecutionProvider"]),
    }
    f = feeds()
    outs = [s.run(["low_res_masks", "iou_predictions"], f) for s in sessions.values()]
    diff = np.abs(outs[0][0] - outs[1][0]).max()
    print(f"max |low_res diff| {diff:.3g} (logit scale {np.abs(outs[0][0]).max():.3g})")
    times = {k: [] for k in sessions}
    for s in sessions.values():
        for _ in range(3):
            s.run(None, f)
    for _ in range(args.runs):  # interleaved, so machine load hits both alike
        for k, s in sessions.items():
            t0 = time.perf_counter()
            s.run(None, f)
            times[k].append((time.perf_counter() - t0) * 1000)
    for k, t in times.items():
        print(f"{k:45s} median {np.median(t):6.1f} ms  min {np.min(t):6.1f} ms")



def time_split(model_dir: str, runs: int):
    import onnx
    import onnxruntime as ort

    from edgemask.runtime.providers import session_options

    from edgemask.export.decoder_split import split_per_image

    image_model, click_model, frontier = split_per_image(onnx.load(f"{model_dir}/decoder.onnx"))
    so = session_options("cpu")
    full = ort.InferenceSession(f"{model_dir}/decoder.onnx", so, providers=["CPUExecutionProvider"])
    per_image = ort.InferenceSession(image_model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    per_click = ort.InferenceSession(click_model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    f = feeds()
    cached = dict(zip(frontier, per_image.run(frontier, {"image_embeddings": f["image_embeddings"]})))
    click_feeds = dict(cached, point_coords=f["point_coords"], point_labels=f["point_labels"])
    ref = full.run(["low_res_masks"], f)[0]
    got = per_click.run(["low_res_masks"], click_feeds)[0]
    print(f"split: {len(frontier)} per-image tensors "
          f"({sum(v.nbytes for v in cached.values()) / 2**20:.1f} MB), max |diff| {np.abs(ref - got).max():.3g}")
    times = {"full decoder": [], "per-click part": [], "per-image part": []}
    for _ in range(3):
        full.run(None, f)
        per_click.run(None, click_feeds)
    for _ in range(runs):
        for k, fn in (("full decoder", lambda: full.run(None, f)),
                      ("per-click part", lambda: per_click.run(None, click_feeds)),
                      ("per-image part", lambda: per_image.run(frontier, {"image_embeddings": f["image_embeddings"]}))):
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) * 1000)
    for k, t in times.items():
        print(f"{k:45s} median {np.median(t):6.1f} ms  min {np.min(t):6.1f} ms")



def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of torch's bicubic (align_corners=False) 1-D resize, from one-hot inputs."""
    import torch
    import torch.nn.functional as F

    eye = torch.eye(n_in).reshape(n_in, 1, 1, n_in)
    return F.interpolate(eye, size=(1, n_out), mode="bicubic", align_corners=False).reshape(n_in, n_out).T.numpy()


def encoder_rewrites(model, resize_inputs: dict):
    """In place: FastGelu fusion of the tanh-GELU pattern, and cubic Resize nodes with a static input
    (resize_inputs: tensor name -> shape) -> two MatMuls with fixed interpolation matrices."""
    import onnx
    from onnx import helper, numpy_helper
    from onnxruntime.transformers.fusion_fastgelu import FusionFastGelu
    from onnxruntime.transformers.onnx_model import OnnxModel

    om = OnnxModel(model)
    FusionFastGelu(om).apply()
    om.prune_graph()
    om.topological_sort()
    model = om.model
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    out_size = {}
    for node in model.graph.node:
        if node.op_type == "Resize" and node.input[0] in resize_inputs:
            out_size[node.name] = None
    nodes, replaced = [], 0
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != "Resize" or node.input[0] not in resize_inputs or attrs.get("mode") != b"cubic":
            nodes.append(node)
            continue
        _, _, h, w = resize_inputs[node.input[0]]
        oh, ow = 64, 64  # SamNeck upsamples every input to the 64x64 embedding grid
        name = node.name
        a_w = resize_matrix(w, ow).T.astype(np.float32)  # w x ow
        a_h = resize_matrix(h, oh).astype(np.float32)  # oh x h
        model.graph.initializer.extend([numpy_helper.from_array(a_w, name + "_aw"),
                                        numpy_helper.from_array(a_h, name + "_ah")])
        nodes.append(helper.make_node("MatMul", [node.input[0], name + "_aw"], [name + "_rows"], name=name + "_mw"))
        nodes.append(helper.make_node("MatMul", [name + "_ah", name + "_rows"], [node.output[0]], name=name + "_mh"))
        replaced += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model, replaced


def time_encoder(model_dir: str, runs: int):
    import onnx
    import onnxruntime as ort

    from edgemask.runtime.providers import session_options

    path = f"{model_dir}/encoder.onnx"
    model = onnx.load(path)
    resize_in = [n.input[0] for n in model.graph.node if n.op_type == "Resize"]
    probe = onnx.load(path)
    for name in resize_in:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    so = session_options("cpu", spinning=False, mem_pattern=False)
    s = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(0, 255, s.get_inputs()[0].shape).astype(np.float32)
    shapes = {n: v.shape for n, v in zip(resize_in, s.run(resize_in, {"image": x}))}
    del s, probe
    new, n = encoder_rewrites(model, shapes)
    sessions = {"exported": ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]),
                f"FastGelu + Resize->MatMul ({n})": ort.InferenceSession(new.SerializeToString(), so,
                                                                         providers=["CPUExecutionProvider"])}
    outs = [sess.run(None, {"image": x})[0] for sess in sessions.values()]
    print(f"max |embedding diff| {np.abs(outs[0] - outs[1]).max():.3g} (scale {np.abs(outs[0]).max():.3g})")
    times = {k: [] for k in sessions}
    for _ in range(runs):
        for k, sess in sessions.items():
            t0 = time.perf_counter()
            sess.run(None, {"image": x})
            times[k].append((time.perf_counter() - t0) * 1000)
    for k, t in times.items():
        print(f"{k:45s} median {np.median(t):7.1f} ms  min {np.min(t):7.1f} ms")


if __name__ == "__main__":
    main()
