"""LAN mode: `edgemask serve --host 0.0.0.0` needs the access token; loopback stays open.

The server binds 0.0.0.0 but the tests connect only to 127.0.0.1: the token requirement
follows the address the server listens on, not the peer's (which is loopback here).
"""

import http.client
import json
import os
import re
import subprocess
import sys
import threading

import pytest

from webui_util import page_client, start_serve

TOKEN = "lan-test-token-0123456789abcdef"


def _serve(images_dir, tmp_path, host, env_token=None):
    """Starts `edgemask serve` on host:0; returns (process, port, printed output)."""
    args = [images_dir, "--host", host, "--no-model", "--db", tmp_path / "lan.sqlite"]
    return start_serve(args, tmp_path, lan=host not in ("127.0.0.1", "localhost"), env_token=env_token)


def _request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json"} if body is not None else {}
        all_headers.update(headers or {})
        conn.request(method, path, body=data, headers=all_headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.fixture
def lan_server(images_dir, tmp_path):
    proc, port, text = _serve(images_dir, tmp_path, "0.0.0.0")
    try:
        yield port, text
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_lan_mode_requires_the_printed_token(lan_server):
    port, text = lan_server
    tokens = set(re.findall(r"\?token=([A-Za-z0-9_-]+)", text))
    assert len(tokens) == 1, text  # the same token in the local and the network link
    token = tokens.pop()
    assert len(token) >= 24
    # without it: 401, for the page, the API and the static files
    for path in ("/", "/api/images", "/static/app.js"):
        status, _, body = _request(port, "GET", path)
        assert status == 401, (path, body)
    status, _, body = _request(port, "GET", "/api/images")
    assert "token" in json.loads(body)["error"]
    assert _request(port, "GET", "/api/images", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert _request(port, "GET", "/?token=" + token[:-1] + "x")[0] == 401
    # as a bearer token
    status, _, body = _request(port, "GET", "/api/images", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body)["total"] == 2
    # the link sets an HttpOnly, SameSite=Strict cookie, which then suffices
    status, headers, body = _request(port, "GET", f"/?token={token}")
    assert status == 200 and b"<script" in body
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"edgemask_token={token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, _, _ = _request(port, "GET", "/api/labels", headers={"Cookie": f"edgemask_token={token}"})
    assert status == 200
    # any Host name works with the token (LAN names vary), none without it
    assert _request(port, "GET", "/api/model", headers={"Host": "jetson.local:8765",
                                                         "Authorization": f"Bearer {token}"})[0] == 200
    assert _request(port, "GET", "/api/model", headers={"Host": "jetson.local:8765"})[0] == 401


def test_lan_token_from_the_environment(images_dir, tmp_path):
    proc, port, text = _serve(images_dir, tmp_path, "0.0.0.0", env_token=TOKEN)
    try:
        assert f"?token={TOKEN}" in text
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert _request(port, "GET", "/api/images", headers=auth)[0] == 200
        assert _request(port, "GET", "/api/images")[0] == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_loopback_needs_no_token_but_guards_the_host(images_dir, tmp_path):
    proc, port, text = _serve(images_dir, tmp_path, "127.0.0.1")
    try:
        assert "token=" not in text
        assert _request(port, "GET", "/api/images")[0] == 200
        status, _, body = _request(port, "GET", "/api/images", headers={"Host": "attacker.example:80"})
        assert status == 403 and b"this computer" in body
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_short_environment_token_is_refused(images_dir, tmp_path):
    env = {**os.environ, "EDGEMASK_HOME": str(tmp_path / "home"), "EDGEMASK_TOKEN": "short"}
    result = subprocess.run([sys.executable, "-m", "edgemask", "serve", str(images_dir), "--host", "0.0.0.0",
                             "--port", "0", "--no-browser", "--no-model"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "EDGEMASK_TOKEN" in result.stderr


def test_two_annotators_side_by_side(images_dir, tmp_path):
    """Two annotators with the token: on two images both saves land; on one image the second
    writer gets the conflict (409) and nothing of the first is overwritten."""
    from edgemask.webui import create_app

    app = create_app({"IMAGES_DIR": str(images_dir), "ACCESS_TOKEN": TOKEN, "TESTING": True})
    try:
        alice, bob = page_client(app), page_client(app)
        for c in (alice, bob):
            c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
        assert app.test_client().get("/api/labels").status_code == 401
        label = alice.get("/api/labels").get_json()["labels"][0]["id"]

        def square(oid, x):
            return {"id": oid, "label_id": label, "kind": "polygon", "polygon": [[x, 1], [x + 5, 1], [x + 5, 6]]}

        results = {}

        def save(who, client, image, oid):
            results[who] = client.put(f"/api/images/{image}/annotations",
                                      json={"version": 0, "objects": [square(oid, 2)], "client": who})

        threads = [threading.Thread(target=save, args=("alice", alice, "square.png", "a1")),
                   threading.Thread(target=save, args=("bob", bob, "sub/portrait.jpg", "b1"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results["alice"].status_code == 200 and results["bob"].status_code == 200
        # both on square.png: Bob still holds version 0 of it
        resp = bob.put("/api/images/square.png/annotations",
                       json={"version": 0, "objects": [square("b2", 20)], "client": "bob"})
        assert resp.status_code == 409 and resp.get_json()["version"] == 1
        stored = alice.get("/api/images/square.png/annotations").get_json()
        assert [o["id"] for o in stored["objects"]] == ["a1"]
    finally:
        app.extensions["edgemask"].store.close()


def test_is_trusted_follows_the_mode(images_dir):
    from edgemask.webui import create_app
    from edgemask.webui.access import is_trusted

    lan = create_app({"IMAGES_DIR": str(images_dir), "ACCESS_TOKEN": TOKEN})
    local = create_app({"IMAGES_DIR": str(images_dir), "LOCAL_ONLY": True})
    try:
        with lan.test_request_context("/api/model", headers={"Authorization": f"Bearer {TOKEN}"}):
            assert is_trusted()
        with lan.test_request_context("/api/model"):  # a loopback peer without the token
            assert not is_trusted()
        with local.test_request_context("/api/model", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
            assert is_trusted()
        with local.test_request_context("/api/model", environ_base={"REMOTE_ADDR": "192.0.2.7"}):
            assert not is_trusted()
    finally:
        lan.extensions["edgemask"].store.close()
        local.extensions["edgemask"].store.close()
