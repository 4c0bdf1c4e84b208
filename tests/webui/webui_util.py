"""Helpers the webui tests import (the fixtures are conftest.py's)."""

import time

import pytest


# the red square in "square.png" (64 wide, 48 high): columns 10..29, rows 8..23
SQUARE = (10, 8, 30, 24)  # x0, y0, x1, y1 (exclusive ends)


def page_client(app):
    """A test client that marks its requests as the page does (the X-Edgemask header, which the
    server requires on state-changing requests that are not JSON)."""
    client = app.test_client()
    client.environ_base["HTTP_X_EDGEMASK"] = "1"
    return client


def app_clients(config: dict, default_model=None):
    """Yields make(model folder, or None for no model) -> a page client of a new app made with `config`;
    closes the apps' stores afterwards. For a fixture: `yield from app_clients(...)`."""
    from edgemask.webui import create_app

    apps = []

    def make(model=default_model):
        app = create_app(dict(config, **({} if model is None else {"MODEL_DIR": str(model)})))
        apps.append(app)
        return page_client(app)

    try:
        yield make
    finally:
        for app in apps:
            app.extensions["edgemask"].store.close()


def one_sentence_error(resp, status) -> str:
    """The error message of an answer that must have `status`, checked to be one sentence."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    message = resp.get_json()["error"]
    assert isinstance(message, str) and message.endswith(".") and "\n" not in message
    return message


def finished_job(client, start_url: str, status_url: str, body: dict, timeout: float) -> dict:
    """Starts a background job (POST `body` to `start_url`, 202) and polls `status_url` until it is not
    running; its last status. Fails when it still runs after `timeout` seconds."""
    resp = client.post(start_url, json=body)
    assert resp.status_code == 202, resp.get_data(as_text=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(status_url).get_json()
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError(f"{start_url}: the job still runs after {timeout:.0f} s: {job}")


def start_serve(args, tmp_path, lan: bool = False, env_token=None):
    """Runs the real `edgemask serve ARGS --port 0 --no-browser` in a subprocess until it has printed
    its URL (and, with `lan`, the network link after it); returns (process, port, printed text)."""
    import re
    import subprocess
    import sys

    env = {"EDGEMASK_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    if env_token:
        env["EDGEMASK_TOKEN"] = env_token
    proc = subprocess.Popen([sys.executable, "-m", "edgemask", "serve", *map(str, args), "--port", "0",
                             "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Ctrl+C" in line:
            if lan:
                lines.append(proc.stdout.readline())  # the link for the network
            break
    text = "".join(lines)
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", text)
    if found is None:
        proc.terminate()
        proc.wait(timeout=30)
        pytest.fail(f"serve did not print its URL:\n{text}")
    return proc, int(found.group(1)), text
