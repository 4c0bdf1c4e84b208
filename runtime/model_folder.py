"""Reads and checks an exported model folder (docs/model-format.md)."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

FORMAT = "edgemask-model/1"


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    name: str
    family: str
    precision: str
    identity: str  # sha256 of model.json: names the model in embedding caches
    encoder_path: Path
    decoder_path: Path
    encoder_input: str
    encoder_output: str
    encoder_size: int
    interpolation: str
    pixel_mean: Tuple[float, float, float]
    pixel_std: Tuple[float, float, float]
    embedding_shape: Tuple[int, ...]
    prompt_frame: int
    low_res_size: int
    single_mask_index: int
    multimask_indices: Tuple[int, ...]
    mask_threshold: float
    config: dict
    # optional per-image / per-click split of the decoder for clicks without mask input
    # (model.json decoder.split = {"image_file", "click_file", "tensors"}); None when absent
    split_image_path: Optional[Path] = None
    split_click_path: Optional[Path] = None
    split_tensors: Tuple[str, ...] = ()


def _field(config: dict, path: str, kind):
    node = config
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise ValueError(f"model.json lacks the field {path!r}; re-export the model with `edgemask export`.")
        node = node[key]
    try:
        return kind(node)
    except (TypeError, ValueError):
        raise ValueError(f"model.json field {path!r} has an invalid value {node!r}.") from None


def load_model_folder(path) -> ModelFolder:
    """Reads `model.json` and checks that the ONNX files it lists are there with their recorded sizes.

    Raises FileNotFoundError for a missing folder or file and ValueError for a
    model.json that is not valid or files that do not belong to it.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {str(folder)!r} does not exist (export one with `edgemask export`).")
    meta_path = folder / "model.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{str(folder)!r} is not a model folder: it has no model.json.")
    raw = meta_path.read_bytes()
    try:
        config = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{meta_path} is not valid JSON ({exc}).") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        got = config.get("format") if isinstance(config, dict) else None
        raise ValueError(f"{meta_path} has format {got!r}, expected {FORMAT!r}.")

    files = config.get("files")
    if not isinstance(files, dict) or not files:
        raise ValueError(f"{meta_path} lists no files; re-export the model.")
    for name in (_field(config, "encoder.file", str), _field(config, "decoder.file", str)):
        if name not in files:
            raise ValueError(f"{meta_path} does not list {name!r} in its files.")
    for name, entry in files.items():
        file = folder / name
        if not file.is_file():
            raise FileNotFoundError(f"model folder {str(folder)!r} is missing {name}.")
        expected = entry.get("bytes") if isinstance(entry, dict) else None
        actual = file.stat().st_size
        if expected is not None and int(expected) != actual:
            raise ValueError(
                f"{name} in {str(folder)!r} has {actual} bytes but model.json says {expected}: "
                "the file does not belong to this model.json (re-export or copy the folder again)."
            )

    mean = tuple(float(v) for v in _field(config, "encoder.pixel_mean", list))
    std = tuple(float(v) for v in _field(config, "encoder.pixel_std", list))
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f"{meta_path}: pixel_mean and pixel_std must have 3 values.")
    split = config["decoder"].get("split")
    split_fields = {}
    if split:
        try:
            split_fields = dict(split_image_path=folder / str(split["image_file"]),
                                split_click_path=folder / str(split["click_file"]),
                                split_tensors=tuple(str(t) for t in split["tensors"]))
        except (KeyError, TypeError):
            raise ValueError(f"{meta_path}: decoder.split needs image_file, click_file and tensors.") from None
        for name in (split["image_file"], split["click_file"]):
            if name not in files:
                raise ValueError(f"{meta_path} does not list {name!r} in its files.")
    return ModelFolder(
        **split_fields,
        path=folder,
        name=_field(config, "model", str),
        family=_field(config, "family", str),
        precision=str(config.get("precision", "fp32")),
        identity=hashlib.sha256(raw).hexdigest(),
        encoder_path=folder / _field(config, "encoder.file", str),
        decoder_path=folder / _field(config, "decoder.file", str),
        encoder_input=str(config["encoder"].get("input", "image")),
        encoder_output=str(config["encoder"].get("output", "image_embeddings")),
        encoder_size=_field(config, "encoder.input_size", int),
        interpolation=str(config["encoder"].get("interpolation", "bilinear")),
        pixel_mean=mean,
        pixel_std=std,
        embedding_shape=tuple(int(v) for v in config["encoder"].get("embedding_shape", [1, 256, 64, 64])),
        prompt_frame=_field(config, "decoder.prompt_frame", int),
        low_res_size=int(config["decoder"].get("low_res_size", 256)),
        single_mask_index=int(config["decoder"].get("single_mask_index", 0)),
        multimask_indices=tuple(int(v) for v in config["decoder"].get("multimask_indices", [1, 2, 3])),
        mask_threshold=float(config.get("mask_threshold", 0.0)),
        config=config,
    )
