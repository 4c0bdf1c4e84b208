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
            if spec.family == "sam2.1":  # the official file's layout: {"model": state_dict}
                from edgemask.export.checkpoint import official_model  # Meta's build_sam2, or EdgeTAM's

                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                torch.save({"model": official_model(spec).state_dict()}, tmp)
                tmp.replace(path)
                return path
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
    """Factory: (name, precision="fp32") -> model folder traced (`export --trace`, PyTorch) from the random
    checkpoint; the torch-free export is compared with it (tests/export/test_torchfree_export.py)."""

    # exports kept in EDGEMASK_TEST_CACHE are keyed by the exporter's source, so a changed exporter
    # (say, another int8 scheme) is never tested through an export the old code made
    from edgemask import export

    digest = hashlib.sha256(b"".join(f.read_bytes() for f in sorted(Path(export.__file__).parent.glob("*.py"))))

    def make(name: str, precision: str = "fp32") -> Path:
        out = test_cache / "models" / digest.hexdigest()[:12] / f"{name}-{precision}"
        if not (out / "model.json").exists():
            from edgemask.export.exporter import export_model

            export_model(name, random_checkpoint(name), out, precision=precision, progress=lambda *_: None,
                         method="trace")
        return out

    return make


@pytest.fixture(scope="session")
def sam2_video_model(exported_model):
    """The random-weight sam2.1-hiera-tiny export; every SAM 2.1 export carries the video graphs and what a
    mask prompt needs (model.json "video")."""
    folder = exported_model("sam2.1-hiera-tiny")
    import json

    assert "mask_downsample" in json.loads((folder / "model.json").read_text())["video"]
    return folder


@pytest.fixture(scope="session")
def official_predictor(random_checkpoint):
    """Factory: name -> the official PyTorch predictor loaded from the same random checkpoint."""
    cache = {}

    def make(name: str):
        if name not in cache:
            from edgemask.export.registry import get_spec

            spec = get_spec(name)
            ckpt = str(random_checkpoint(name))
            if spec.name == "edgetam":  # EdgeTAM's own sam2 package (edgemask.export.edgetam)
                from edgemask.export.edgetam import build_edgetam, image_predictor

                cache[name] = image_predictor(build_edgetam(spec.config, ckpt_path=ckpt, device="cpu"))
            elif spec.family == "sam2.1":
                from sam2.build_sam import build_sam2
                from sam2.sam2_image_predictor import SAM2ImagePredictor

                cache[name] = SAM2ImagePredictor(build_sam2(spec.config, ckpt_path=ckpt, device="cpu"))
            elif spec.family == "sam":
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


@pytest.fixture(scope="session")
def distinct_checkpoint(test_cache):
    """Factory: model name -> a torch.save'd state dict whose every tensor holds distinct random values
    (BatchNorm statistics too), the weights edgemask.export.make_weightless traces with."""

    def make(name: str) -> Path:
        path = test_cache / "checkpoints" / f"{name}-distinct.pth"
        if not path.exists():
            import torch

            from edgemask.export.make_weightless import distinct_state_dict

            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save({k: torch.from_numpy(v) for k, v in distinct_state_dict(name).items()}, tmp)
            tmp.replace(path)
        return path

    return make


@pytest.fixture(scope="session")
def traced_export(test_cache, distinct_checkpoint):
    """Factory: (name, precision="fp32") -> model folder that PyTorch tracing (`export --trace`) made from
    distinct_checkpoint(name); cached under the export sources' hash, so a changed exporter re-traces."""

    def make(name: str, precision: str = "fp32") -> Path:
        from edgemask import export

        tag = hashlib.sha256(b"".join(f.read_bytes() for f in sorted(Path(export.__file__).parent.glob("*.py"))))
        out = test_cache / "models" / tag.hexdigest()[:12] / f"{name}-{precision}-traced-distinct"
        if not (out / "model.json").exists():
            from edgemask.export.exporter import export_model

            export_model(name, distinct_checkpoint(name), out, precision=precision, method="trace",
                         progress=lambda *_: None)
        return out

    return make


@pytest.fixture(scope="session")
def torchless_venv(tmp_path_factory):
    """A fresh virtualenv with `pip install '.[cpu]'` of this checkout (not editable): no torch, no
    official model code. -> (bin folder, environment for subprocesses). Slow; needs PyPI or a pip cache."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    root = tmp_path_factory.mktemp("torchless")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", f"{repo}[cpu]"],
                         capture_output=True, text=True, env=env, timeout=1200, cwd=root)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for module in ("torch", "torchvision", "segment_anything", "efficientsam"):
        probe = subprocess.run([str(bin_dir / "python"), "-c", f"import {module}"], capture_output=True, cwd=root)
        assert probe.returncode != 0, f"{module} is importable in the torch-free venv"
    return bin_dir, env
