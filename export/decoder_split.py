"""Split decoder.onnx into a per-image and a per-click part (model.json decoder.split).

For clicks without a mask input, mask_input / has_mask_input are zero, so every node that does not
depend on the prompt points depends only on the image embedding or on constants: the layer-0
key/value projections and their transposes. They run once per image (decoder_image.onnx) and each
click runs only the rest (decoder_click.onnx). The runtime uses the split when it is there and the
whole decoder for clicks with a mask input.
"""

from pathlib import Path

import numpy as np

PROMPT_INPUTS = ("point_coords", "point_labels")


def split_per_image(model):
    """(image_model, click_model, frontier tensor names) of a no-mask-input decoder, exactly."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.utils import Extractor

    model = onnx.shape_inference.infer_shapes(model)
    fixed = {"mask_input": np.zeros((1, 1, 256, 256), np.float32), "has_mask_input": np.zeros(1, np.float32)}
    keep = [i for i in model.graph.input if i.name not in fixed]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    for name, value in fixed.items():
        model.graph.initializer.append(numpy_helper.from_array(value, name))
    # repeat_interleave(image_embeddings / image_pe, number of prompt batches) exports as a Tile whose
    # repeats come from the prompt tensor's shape; the contract's batch is 1, so it is an identity
    for i, node in enumerate(model.graph.node):
        if node.op_type == "Tile":
            model.graph.node[i].CopyFrom(helper.make_node("Identity", [node.input[0]], list(node.output),
                                                          name=node.name + "_identity"))
    tainted = set(PROMPT_INPUTS)
    image_dep = {"image_embeddings"}
    for node in model.graph.node:  # topologically sorted
        if any(i in tainted for i in node.input):
            tainted.update(node.output)
        elif any(i in image_dep for i in node.input):
            image_dep.update(node.output)
    frontier = []
    for node in model.graph.node:
        if any(i in tainted for i in node.input):
            frontier += [i for i in node.input if i in image_dep and i not in frontier]
    outputs = [o.name for o in model.graph.output]
    image_model = Extractor(model).extract_model(["image_embeddings"], frontier)
    click_model = Extractor(model).extract_model(frontier + list(PROMPT_INPUTS), outputs)
    return image_model, click_model, frontier


def write_split(folder: Path) -> dict:
    """Writes decoder_image.onnx and decoder_click.onnx beside folder/decoder.onnx; returns the
    model.json `decoder.split` entry."""
    import onnx

    folder = Path(folder)
    image_model, click_model, frontier = split_per_image(onnx.load(str(folder / "decoder.onnx")))
    onnx.save_model(image_model, str(folder / "decoder_image.onnx"))
    onnx.save_model(click_model, str(folder / "decoder_click.onnx"))
    return {"image_file": "decoder_image.onnx", "click_file": "decoder_click.onnx", "tensors": frontier}
