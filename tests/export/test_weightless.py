"""The shipped weightless graphs, filled from a checkpoint without PyTorch, give the export that tracing
gives, and they are what tracing the official code makes today (so they never go stale)."""

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from export_compare import assert_same_outputs

from edgemask.export import weightless
from edgemask.export.exporter import export_model
from edgemask.export.make_weightless import traced_with
from edgemask.export.registry import MODELS

pytestmark = pytest.mark.slow
TRACED = ["efficientvit-sam-l0", "efficientvit-sam-xl0", "sam-vit-b", "sam2.1-hiera-tiny"]  # re-traced here; the others by hand


@pytest.mark.parametrize("name", TRACED)
def test_fill_gives_the_traced_export(name, tmp_path, distinct_checkpoint, traced_export):
    traced = traced_export(name)
    filled = export_model(name, distinct_checkpoint(name), tmp_path / name, method="fill", progress=lambda *_: None)
    meta_f, meta_t = (json.loads((d / "model.json").read_text()) for d in (filled, traced))
    video = list(meta_t.get("video", {}).get("graphs", {}).values())  # SAM 2.1's video graphs
    assert sorted(meta_f["files"]) == sorted(meta_t["files"])
    for part in ["encoder.onnx", "decoder.onnx"] + video:
        a, b = onnx.load(str(filled / part)), onnx.load(str(traced / part))
        assert [n.op_type for n in a.graph.node] == [n.op_type for n in b.graph.node]
        b_inits = {i.name: numpy_helper.to_array(i) for i in b.graph.initializer}
        for init in a.graph.initializer:
            value, ref = numpy_helper.to_array(init), b_inits[init.name]
            assert value.shape == ref.shape, init.name
            assert np.abs(value - ref).max() <= 1e-6 * max(np.abs(ref).max(), 1e-12), init.name
    assert_same_outputs(filled, traced, video=True)  # and SAM 2.1's video graphs' outputs
    assert meta_f["graphs"].startswith("shipped") and meta_t["graphs"] == "traced"
    for key in ("format", "model", "family", "precision", "opset", "encoder", "decoder", "checkpoint", "video"):
        assert meta_f.get(key) == meta_t.get(key), key


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_fill_gives_the_traced_export_converted(precision, tmp_path, distinct_checkpoint, traced_export):
    name = "efficientvit-sam-l0"
    traced = traced_export(name, precision)
    filled = export_model(name, distinct_checkpoint(name), tmp_path / name, precision=precision, method="fill",
                          progress=lambda *_: None)
    assert sorted(p.name for p in filled.iterdir()) == sorted(p.name for p in traced.iterdir())
    assert_same_outputs(filled, traced, rtol=2e-3, mask_agreement=0.999)


@pytest.mark.parametrize("name", TRACED)
def test_shipped_graphs_are_what_tracing_makes_today(name, distinct_checkpoint, traced_export):
    """Strips the weights of today's trace as the shipped recipes say and compares with the shipped graphs."""
    meta = weightless.shipped_meta(name)
    traced = traced_export(name)
    from edgemask.export.checkpoint import load_state_dict

    state_dict = load_state_dict(distinct_checkpoint(name))
    remake = f"they are stale: re-make them with `python -m edgemask.export.make_weightless {name}`"
    assert meta.get("video", {}).get("graphs") == json.loads((traced / "model.json").read_text()).get(
        "video", {}).get("graphs"), remake
    for part in weightless.parts(meta):
        model = onnx.load(str(traced / f"{part}.onnx"))
        recipes = meta["recipes"][part]
        for init in model.graph.initializer:
            if init.name in recipes:
                expected = weightless.compute(recipes[init.name], state_dict, tuple(init.dims), np.float32)
                value = numpy_helper.to_array(init)
                assert np.abs(value - expected).max() <= 1e-6 * np.abs(value).max(), f"{init.name}: {remake}"
                init.ClearField("raw_data")
        shipped = onnx.load(str(weightless.SHIPPED / f"{name}.{part}.onnx"))
        assert model.graph == shipped.graph, f"{name} {part} traced today differs from the shipped graph; {remake}"
        assert model.opset_import == shipped.opset_import, remake


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_ships_a_graph_traced_by_this_exporter(name):
    meta = weightless.shipped_meta(name)
    assert meta["model"] == name and meta["opset"] == 20
    assert meta["traced_with"] == traced_with(name), (
        f"{name}'s shipped graphs were traced by another exporter or library version: re-make them with "
        f"`python -m edgemask.export.make_weightless {name}`")
    if MODELS[name].builder == "sam2.build_sam:build_sam2":  # Meta's SAM 2.1: the video predictor's graphs too
        assert set(meta["video"]["graphs"]) == set(weightless.parts(meta)) - {"encoder", "decoder"}
    for part in weightless.parts(meta):
        model = onnx.load(str(weightless.SHIPPED / f"{name}.{part}.onnx"))
        names = {i.name for i in model.graph.initializer}
        assert set(meta["recipes"][part]) <= names
        for init in model.graph.initializer:  # emptied exactly where a recipe fills
            assert (init.name in meta["recipes"][part]) == (not init.raw_data), init.name
