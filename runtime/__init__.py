"""Torch-free runtime: onnxruntime + numpy + opencv + Pillow.

`Predictor` is a drop-in for segment_anything.SamPredictor that runs an exported
model folder (see docs/model-format.md). Imported lazily so that `import
edgemask.runtime.cli` does not load onnxruntime.
"""

__all__ = ["Predictor", "load_model_folder", "ModelFolder", "EmbeddingCache"]


def __getattr__(name):
    if name == "Predictor":
        from edgemask.runtime.predictor import Predictor

        return Predictor
    if name in ("load_model_folder", "ModelFolder"):
        from edgemask.runtime import model_folder

        return getattr(model_folder, name)
    if name == "EmbeddingCache":
        from edgemask.runtime.cache import EmbeddingCache

        return EmbeddingCache
    raise AttributeError(f"module 'edgemask.runtime' has no attribute {name!r}")
