"""Reads and checks an exported model folder (docs/model-format.md)."""

import hashlib
import json
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

FORMAT = "edgemask-model/1"
log = logging.getLogger("edgemask.runtime")

# the geometry each family has (kept here: the runtime does not import edgemask.export); encoder sizes
# up to the largest are accepted (the small test models use 64), larger ones are refused
FAMILY_GEOMETRY = {
    "sam": {"input_sizes": (1024,), "embedding_shape": (1, 256, 64, 64)},
    "efficientvit-sam": {"input_sizes": (512, 1024), "embedding_shape": (1, 256, 64, 64)},
    "sam2.1": {"input_sizes": (1024,), "embedding_shape": (256 * 64 * 64 + 32 * 256 * 256 + 64 * 128 * 128,),
               "embedding_parts": ((1, 256, 64, 64), (1, 32, 256, 256), (1, 64, 128, 128))},
}
PROMPT_FRAME = 1024
LOW_RES_SIZE = 256


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
    # SAM's decoder weights for the pre-label grid decoder (model.json decoder.grid_weights); None when absent
    grid_weights_path: Optional[Path] = None


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
        _check_inside(folder, name, meta_path)
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

    verify_files(folder, files)
    if not any(isinstance(e, dict) and e.get("sha256") for e in files.values()):
        log.warning("%s records no sha256 for its files, so damaged files are not detected; re-export the "
                    "model with `edgemask export`.", meta_path)

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
    grid = config["decoder"].get("grid_weights")
    if grid is not None:
        if str(grid) not in files:
            raise ValueError(f"{meta_path} does not list {grid!r} in its files.")
        split_fields["grid_weights_path"] = folder / str(grid)
    model = ModelFolder(
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
    _check_values(model, meta_path)
    _check_geometry(model, meta_path)
    return model


def _check_inside(folder: Path, name, meta_path: Path) -> None:
    """Refuses a file name that is not a plain name inside the folder (absolute, `..`, a link out)."""
    plain = isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name
    if plain:
        target = (folder / name).resolve()
        plain = target.parent == folder.resolve()
    if not plain:
        raise ValueError(f"{meta_path} names the file {name!r}, which is not a plain file name inside the model "
                         "folder; re-export the model with `edgemask export`.")


def _check_geometry(model: ModelFolder, meta_path: Path) -> None:
    """Refuses geometry the model's family does not have (e.g. an encoder size of 100000), in one sentence."""
    known = FAMILY_GEOMETRY.get(model.family)
    if known is None:
        problem = f"family {model.family!r} is not one edgemask knows ({', '.join(FAMILY_GEOMETRY)})"
    elif model.encoder_size > max(known["input_sizes"]):
        sizes = " or ".join(str(v) for v in known["input_sizes"])
        problem = f"encoder.input_size {model.encoder_size} is not the {model.family} family's ({sizes})"
    elif model.embedding_shape != known["embedding_shape"]:
        problem = (f"encoder.embedding_shape {list(model.embedding_shape)} is not the {model.family} family's "
                   f"{list(known['embedding_shape'])}")
    elif "embedding_parts" in known and tuple(tuple(p.get("shape", ())) if isinstance(p, dict) else () for p in
                                            model.config["encoder"].get("embedding_parts") or ()) != known["embedding_parts"]:
        problem = f"encoder.embedding_parts are not the {model.family} family's"
    elif model.prompt_frame != PROMPT_FRAME:
        problem = f"decoder.prompt_frame {model.prompt_frame} is not {PROMPT_FRAME}"
    elif model.low_res_size != LOW_RES_SIZE:
        problem = f"decoder.low_res_size {model.low_res_size} is not {LOW_RES_SIZE}"
    else:
        return
    raise ValueError(f"{meta_path}: {problem}; re-export the model with `edgemask export`.")


def _check_values(model: ModelFolder, meta_path: Path) -> None:
    """Refuses model.json values the runtime cannot work with, in one sentence."""
    problems = []
    for field in ("encoder_size", "prompt_frame", "low_res_size"):
        if getattr(model, field) < 1:
            problems.append(f"{field} {getattr(model, field)} must be a positive number of pixels")
    if not all(math.isfinite(v) for v in model.pixel_mean + model.pixel_std):
        problems.append("pixel_mean and pixel_std must be finite numbers")
    elif any(v <= 0 for v in model.pixel_std):
        problems.append(f"pixel_std {list(model.pixel_std)} must be positive")
    if not model.embedding_shape or any(v < 1 for v in model.embedding_shape):
        problems.append(f"embedding_shape {list(model.embedding_shape)} must be positive sizes")
    if not math.isfinite(model.mask_threshold):
        problems.append("mask_threshold must be a finite number")
    indices = (model.single_mask_index,) + model.multimask_indices
    if any(not 0 <= i < 16 for i in indices) or len(model.multimask_indices) < 1:
        problems.append(f"mask indices {list(indices)} must be small non-negative integers")
    if model.interpolation not in ("nearest", "bilinear", "bicubic", "lanczos"):
        problems.append(f"interpolation {model.interpolation!r} is not nearest, bilinear, bicubic or lanczos")
    if problems:
        raise ValueError(f"{meta_path}: {problems[0]}; re-export the model with `edgemask export`.")


def verify_files(folder: Path, files: dict) -> None:
    """Checks each file against the sha256 model.json records for it. A file is hashed once per
    change: the result is kept by (path, size, mtime) in edgemask's cache (verified.json), so a
    model loads without re-reading gigabytes. ValueError on a file that does not match."""
    record, changed = None, False
    for name, entry in files.items():
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(expected, str) or not expected:
            continue
        file = (folder / name).resolve()
        stat = file.stat()
        key = str(file)
        stamp = [stat.st_size, stat.st_mtime_ns]
        digest = _MEMO.get((key, *stamp))
        if digest is None:
            if record is None:
                record = _read_record(_record_path())
            known = record.get(key)
            if isinstance(known, dict) and known.get("stamp") == stamp:
                digest = known.get("sha256")
            else:
                digest = _sha256(file)
                record[key] = {"stamp": stamp, "sha256": digest}
                changed = True
            _MEMO[(key, *stamp)] = digest
        if digest != expected.lower():
            raise ValueError(
                f"{name} in {str(folder)!r} does not match the sha256 in model.json: the file is damaged "
                "or belongs to another export (re-export or copy the folder again)."
            )
    if changed:
        _write_record(_record_path(), record)


def remember_digest(path, digest: str) -> None:
    """Records the sha256 of a file just written (by `edgemask export`), so that loading it
    does not read it again."""
    file = Path(path).resolve()
    stat = file.stat()
    stamp = [stat.st_size, stat.st_mtime_ns]
    _MEMO[(str(file), *stamp)] = digest
    record = _read_record(_record_path())
    record[str(file)] = {"stamp": stamp, "sha256": digest}
    _write_record(_record_path(), record)


def verify_in_background(folder, on_fail) -> threading.Thread:
    """Re-reads every file of a loaded model folder in a daemon thread and compares it with the sha256 in
    model.json, ignoring what was remembered by size and mtime (damage that keeps both). On a mismatch
    the remembered digest is forgotten (the next load hashes the file again and refuses it) and
    `on_fail(sentence)` is called. Returns the started thread."""
    folder = Path(folder).expanduser()

    def run() -> None:
        try:
            files = json.loads((folder / "model.json").read_bytes()).get("files") or {}
            for name, entry in files.items():
                expected = entry.get("sha256") if isinstance(entry, dict) else None
                if isinstance(expected, str) and expected and _sha256(folder / name) != expected.lower():
                    _forget(folder / name)
                    on_fail(f"{name} in {str(folder)!r} no longer matches the sha256 in model.json: the file is "
                            "damaged, so masks may be wrong (copy the folder again or re-export the model).")
                    return
        except (OSError, ValueError, AttributeError) as exc:
            on_fail(f"the model folder {str(folder)!r} could not be read again to verify it ({exc}).")

    thread = threading.Thread(target=run, name="edgemask-verify-model", daemon=True)
    thread.start()
    return thread


def _forget(path: Path) -> None:
    key = str(Path(path).resolve())
    for memo in [k for k in _MEMO if k[0] == key]:
        _MEMO.pop(memo, None)
    record = _read_record(_record_path())
    if record.pop(key, None) is not None:
        _write_record(_record_path(), record)


VERIFIED_FILE = "verified.json"
_MEMO: dict = {}  # (path, size, mtime_ns) -> sha256, for this process


def _record_path() -> Path:
    from edgemask import paths

    return paths.home() / VERIFIED_FILE


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_record(path: Path, record: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
    except OSError:  # a read-only cache only costs a re-hash next time
        pass
