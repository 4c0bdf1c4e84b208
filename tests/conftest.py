"""Session-wide fixtures: random-weight checkpoints of the official architectures, their exports,
and the official PyTorch predictors loaded from the same files.

Exports are slow on 2 cores, so each (model, precision) is exported once per test session. Set
EDGEMASK_TEST_CACHE=DIR to keep checkpoints and exports between local runs.
"""

import hashlib
import os
import zlib
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def test_cache(tmp_path_factory) -> Path:
    if os.environ.get("EDGEMASK_TEST_CACHE"):
        path = Path(os.environ["EDGEMASK_TEST_CACHE"])
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("edgemask-cache")


@pytest.fixture(scope="session")
def random_checkpoint(test_cache):
    """Factory: model name -> path of a torch.save'd state dict of a seeded, randomly initialised
    official model (the same builders a real checkpoint goes through)."""

    def make(name: str) -> Path:
        path = test_cache / "checkpoints" / f"{name}-random.pth"
        if not path.exists():
            import torch

            from edgemask.export.registry import get_spec

            spec = get_spec(name)
            torch.manual_seed(zlib.crc32(name.encode()))
            if spec.family == "sam":
                from segment_anything import sam_model_registry

                model = sam_model_registry[name.removeprefix("sam-").replace("-", "_")](checkpoint=None)
            else:
                from efficientsam.sam_model_zoo import create_efficientvit_sam_model

                model = create_efficientvit_sam_model(name, pretrained=False)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(model.state_dict(), tmp)
            tmp.replace(path)
        return path

    return make


@pytest.fixture(scope="session")
def exported_model(test_cache, random_checkpoint):
    """Factory: (name, precision="fp32") -> model folder exported from the random checkpoint."""

    # exports kept in EDGEMASK_TEST_CACHE are keyed by the exporter's source, so a changed exporter
    # (say, another int8 scheme) is never tested through an export the old code made
    from edgemask import export

    digest = hashlib.sha256(b"".join(f.read_bytes() for f in sorted(Path(export.__file__).parent.glob("*.py"))))

    def make(name: str, precision: str = "fp32") -> Path:
        out = test_cache / "models" / digest.hexdigest()[:12] / f"{name}-{precision}"
        if not (out / "model.json").exists():
            from edgemask.export.exporter import export_model

            export_model(name, random_checkpoint(name), out, precision=precision, progress=lambda *_: None)
        return out

    return make


@pytest.fixture(scope="session")
def official_predictor(random_checkpoint):
    """Factory: name -> the official PyTorch predictor loaded from the same random checkpoint."""
    cache = {}

    def make(name: str):
        if name not in cache:
            from edgemask.export.registry import get_spec

            spec = get_spec(name)
            ckpt = str(random_checkpoint(name))
            if spec.family == "sam":
                from segment_anything import SamPredictor, sam_model_registry

                model = sam_model_registry[name.removeprefix("sam-").replace("-", "_")](checkpoint=ckpt)
                cache[name] = SamPredictor(model.eval())
            else:
                from efficientsam.models.efficientvit.sam import EfficientViTSamPredictor
                from efficientsam.sam_model_zoo import create_efficientvit_sam_model

                model = create_efficientvit_sam_model(name, pretrained=True, weight_url=ckpt)
                cache[name] = EfficientViTSamPredictor(model.eval())
        return cache[name]

    return make
