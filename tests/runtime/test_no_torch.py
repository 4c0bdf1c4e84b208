"""The runtime works where PyTorch is not installed: a fresh venv with `pip install '.[cpu]'`
(conftest.torchless_venv) segments an image from an exported model folder. Slow (creates a venv and
installs packages); needs PyPI or a pip cache/wheelhouse."""

import json
import os
import subprocess
import textwrap

import numpy as np
import pytest

from synthetic import synthetic_image

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import importlib.util, json, sys
    import numpy as np
    from edgemask.runtime import Predictor
    model_dir, image_path, cache_dir = sys.argv[1:4]
    image = np.load(image_path)
    p = Predictor(model_dir, device="auto", cache_dir=cache_dir)
    p.set_image(image)
    masks, scores, low = p.predict(point_coords=np.array([[200.0, 150.0]]), point_labels=np.array([1]))
    mask, score, _ = p.predict_mask(point_coords=np.array([[200.0, 150.0]]), point_labels=np.array([1]))
    np.save(image_path + ".low.npy", low)
    print(json.dumps({
        "torch_imported": "torch" in sys.modules,
        "torch_installed": importlib.util.find_spec("torch") is not None,
        "device": p.device, "masks": list(masks.shape), "mask_dtype": str(masks.dtype),
        "scores": scores.tolist(), "best_area": int(mask.sum()),
        "edgemask_file": sys.modules["edgemask"].__file__,
    }))
""")


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def test_predict_in_a_fresh_venv_without_torch(tmp_path, exported_model, torchless_venv):
    model_dir = exported_model("efficientvit-sam-l0")
    bin_dir, env = torchless_venv
    venv = bin_dir.parent
    py = bin_dir / ("python.exe" if os.name == "nt" else "python")

    image = synthetic_image(300, 400, seed=5)
    np.save(tmp_path / "image.npy", image)
    (tmp_path / "check.py").write_text(SCRIPT)
    result = json.loads(run([str(py), "check.py", str(model_dir), str(tmp_path / "image.npy"),
                             str(tmp_path / "cache")], env=env, cwd=tmp_path).strip().splitlines()[-1])
    assert not result["torch_installed"] and not result["torch_imported"]
    assert str(venv) in result["edgemask_file"]  # the installed package, not this checkout
    assert result["device"] == "cpu"
    assert result["masks"] == [3, 300, 400] and result["mask_dtype"] == "bool"

    # the same numbers as in this (torch-carrying) environment
    from edgemask.runtime import Predictor

    here = Predictor(model_dir, device="cpu", cache=False)
    here.set_image(image)
    _, scores, low = here.predict(point_coords=np.array([[200.0, 150.0]]), point_labels=np.array([1]))
    np.testing.assert_allclose(np.load(tmp_path / "image.npy.low.npy"), low, atol=1e-4 * np.abs(low).max())
    np.testing.assert_allclose(result["scores"], scores, atol=1e-4)

    # and the command line, too
    from PIL import Image

    Image.fromarray(image).save(tmp_path / "image.png")
    cli = bin_dir / ("edgemask.exe" if os.name == "nt" else "edgemask")
    out = run([str(cli), "segment", "image.png", "--model", str(model_dir), "--point", "200,150",
               "--out", "mask.png", "--polygons", "mask.json"], env=env, cwd=tmp_path)
    assert "wrote mask.png" in out
    assert Image.open(tmp_path / "mask.png").size == (400, 300)
    assert json.loads((tmp_path / "mask.json").read_text())["width"] == 400
