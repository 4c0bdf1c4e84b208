"""The page's "get a model" API: the chooser, only from this computer, one job at a time, offline advice."""

import time

import pytest

from edgemask.webui import create_app
from edgemask.webui.ai import model_get


@pytest.fixture
def no_model_client(images_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    app = create_app({"IMAGES_DIR": str(images_dir), "TESTING": True,
                      "CHECKPOINT_URLS": {"efficientvit-sam-l0": "http://127.0.0.1:9/efficientvit_sam_l0.pt"}})
    yield app.test_client()
    app.extensions["edgemask"].store.close()


def _wait_job(client, timeout=30):
    deadline = time.time() + timeout
    while True:
        job = client.get("/api/models/get").get_json()
        if job["state"] != "running":
            return job
        assert time.time() < deadline, job
        time.sleep(0.05)


def test_choices_start_with_l0_and_say_size_and_use(no_model_client):
    body = no_model_client.get("/api/models/choices").get_json()
    first = body["choices"][0]
    assert first["model"] == "efficientvit-sam-l0" and "CPU laptop" in first["suits"]
    assert 100e6 < first["download_bytes"] < 200e6  # its float32 weights
    suits = " ".join(c["suits"] for c in body["choices"])
    assert "GPU" in suits and "Jetson" in suits
    assert body["precision"] in ("int8", "fp16", "fp32") and body["job"]["state"] == "idle"


def test_choices_list_sam2_with_official_file_and_size(no_model_client):
    from edgemask.export.registry import get_spec

    body = no_model_client.get("/api/models/choices").get_json()
    sam2 = {c["model"]: c for c in body["choices"] if c["model"].startswith("sam2.1-")}
    assert list(sam2) == ["sam2.1-hiera-tiny", "sam2.1-hiera-small", "sam2.1-hiera-base-plus", "sam2.1-hiera-large"]
    for name, c in sam2.items():
        assert c["url"] == "https://dl.fbaipublicfiles.com/segment_anything_2/092824/" + get_spec(name).filename
        assert len(get_spec(name).sha256) == 64 and "SAM 2.1" in c["suits"]
    sizes = [sam2[n]["download_bytes"] for n in sam2]  # float32 weights: 39 M, 46 M, 81 M, 224 M parameters
    assert 140e6 < sizes[0] < 170e6 and sizes == sorted(sizes) and 850e6 < sizes[-1] < 950e6
    assert "CPU laptop" in sam2["sam2.1-hiera-tiny"]["suits"] and "GPU" in sam2["sam2.1-hiera-large"]["suits"]


def test_only_from_this_computer(no_model_client):
    resp = no_model_client.post("/api/models/get", json={"model": "efficientvit-sam-l0"},
                                environ_base={"REMOTE_ADDR": "192.168.1.20"})
    assert resp.status_code == 403 and "computer" in resp.get_json()["error"]
    assert no_model_client.get("/api/models/get").get_json()["state"] == "idle"
    resp = no_model_client.post("/api/models/get", json={"model": "sam-vit-z"})
    assert resp.status_code == 400


def test_never_two_at_once(no_model_client):
    assert model_get._LOCK.acquire(blocking=False)  # a job (of any app in this process) is running
    try:
        resp = no_model_client.post("/api/models/get", json={"model": "efficientvit-sam-l0"})
        assert resp.status_code == 409 and "already" in resp.get_json()["error"]
    finally:
        model_get._LOCK.release()


def test_offline_says_what_to_fetch_and_run(no_model_client):
    resp = no_model_client.post("/api/models/get", json={"model": "efficientvit-sam-l0"},
                                environ_base={"REMOTE_ADDR": "::1"})
    assert resp.status_code == 202
    job = _wait_job(no_model_client)
    assert job["state"] == "error" and "offline" in job["error"]
    assert "https://huggingface.co/mit-han-lab/efficientvit-sam/resolve/main/efficientvit_sam_l0.pt" in job["hint"]
    assert "edgemask export efficientvit-sam-l0 --checkpoint efficientvit_sam_l0.pt" in job["hint"]
    assert no_model_client.get("/api/model").get_json()["loaded"] is False


def test_the_chooser_refuses_a_file_that_is_not_the_official_one(images_dir, tmp_path, monkeypatch):
    import hashlib

    from edgemask.export.registry import get_spec
    from file_server import FileServer

    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    root = tmp_path / "www"
    root.mkdir()
    payload = b"not the official checkpoint" * 1000
    (root / "efficientvit_sam_l0.pt").write_bytes(payload)
    with FileServer(root) as files:
        app = create_app({"IMAGES_DIR": str(images_dir), "TESTING": True,
                          "CHECKPOINT_URLS": {"efficientvit-sam-l0": files.url("efficientvit_sam_l0.pt")}})
        client = app.test_client()
        assert client.post("/api/models/get", json={"model": "efficientvit-sam-l0"}).status_code == 202
        job = _wait_job(client)
        app.extensions["edgemask"].store.close()
    assert job["state"] == "error"
    assert get_spec("efficientvit-sam-l0").sha256 in job["error"] and hashlib.sha256(payload).hexdigest() in job["error"]
    assert not list((tmp_path / "home" / "checkpoints").iterdir())
