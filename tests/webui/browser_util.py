"""Helpers for the browser tests: the real app served by waitress in a thread, headless
Chromium driven by Selenium, and mouse / keyboard actions at image coordinates."""

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser_missing_reason():
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """Serves a Flask app with waitress on 127.0.0.1 in a daemon thread."""

    def __init__(self, app):
        from waitress.server import create_server

        self.app = app
        self.port = free_port()
        self.server = create_server(app, host="127.0.0.1", port=self.port, threads=8)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}/"
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the test server did not start")

    def close(self):
        """Stops at once: the browser's idle keep-alive connections would otherwise hold the
        server's loop open until they time out (the loop closes every channel, then ends)."""
        from waitress import wasyncore

        server = self.server
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        self.thread.join(timeout=5)
        server.task_dispatcher.shutdown()


def serve(app):
    """Yields a LiveServer of `app`; afterwards stops it and closes the app's predictor and store.
    For a fixture: `yield from serve(app)`."""
    live = LiveServer(app)
    try:
        yield live
    finally:
        live.close()
        app.extensions["edgemask"].assistant.predictor.close()
        app.extensions["edgemask"].store.close()


def chromium(width=1400, height=900):
    """Yields a headless Chromium; afterwards leaves the page (its polling stops) and quits it.
    For a fixture: `yield from chromium()`."""
    drv = start_chromium(width, height)
    try:
        yield drv
    finally:
        drv.get("about:blank")
        quit_chromium(drv)


def start_chromium(width=1400, height=900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="edgemask-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--force-device-scale-factor=1", f"--window-size={width},{height}",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver._edgemask_profile = profile
    driver.download_dir = Path(profile) / "downloads"
    driver.download_dir.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(driver.download_dir)})
    driver.set_window_size(width, height)
    return driver


def quit_chromium(driver):
    profile = getattr(driver, "_edgemask_profile", None)
    driver.quit()
    if profile:
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """The annotator page in a driver, with actions at image pixel coordinates."""

    def __init__(self, driver, url):
        self.driver = driver
        self.url = url

    # -- loading and waiting ------------------------------------------------------------
    def open(self, fragment=""):
        self.driver.get_log("browser")  # drop what earlier pages logged
        self.driver.get(self.url + fragment)
        self.wait("window.edgemask && window.edgemask.ready && edgemask.state.image !== null",
                  what="the page to load an image")
        self.raise_js_errors()
        return self

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, condition, timeout=10.0, what=None):
        """Waits until the JS expression `condition` is truthy; returns its value."""
        deadline = time.time() + timeout
        while True:
            value = self.js(f"return ({condition});")
            if value:
                return value
            if time.time() > deadline:
                raise AssertionError(f"timed out waiting for {what or condition}")
            time.sleep(0.05)

    def wait_saved(self):
        self.wait("edgemask.state.save.status === 'saved' && !edgemask.autosave.hasUnsaved()",
                  what="autosave to finish")

    def raise_js_errors(self, expected=()):
        """Fails on errors the page logged (except messages containing an `expected` text)."""
        severe = [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"
                  and not any(text in e["message"] for text in expected)]
        if severe:
            raise AssertionError(f"browser errors: {severe}")

    # -- state -----------------------------------------------------------------------------
    def objects(self):
        """The page's objects as plain dicts (masks as PNG data URLs), by ascending z."""
        return self.js("""
            const s = edgemask.state;
            return [...s.objects].sort((a, b) => a.z - b.z).map((o) => ({
              id: o.id, label_id: o.label_id, kind: o.kind, z: o.z, hidden: !!o.hidden,
              polygon: o.polygon || null,
              mask: o.kind === 'mask' ? edgemask.maskToDataURL(o.canvas) : null}));""")

    def labels(self):
        return self.js("return edgemask.state.labels;")

    # -- input ----------------------------------------------------------------------------
    def client_xy(self, x, y):
        """Viewport coordinates of image point (x, y)."""
        cx, cy = self.js("""
            const r = edgemask.view.canvas.getBoundingClientRect(), v = edgemask.view;
            return [r.left + v.ox + arguments[0] * v.scale, r.top + v.oy + arguments[1] * v.scale];""", x, y)
        return round(cx), round(cy)

    def _chain(self):
        from selenium.webdriver.common.action_chains import ActionChains

        return ActionChains(self.driver, duration=0)

    def _move(self, chain, x, y):
        cx, cy = self.client_xy(x, y)
        chain.w3c_actions.pointer_action.move_to_location(cx, cy)
        chain.w3c_actions.key_action.pause()
        return chain

    def click(self, x, y, button="left", modifier=None):
        chain = self._move(self._chain(), x, y)
        if modifier:
            chain.key_down(modifier)
        if button == "right":
            chain.context_click()
        else:
            chain.click()
        if modifier:
            chain.key_up(modifier)
        chain.perform()

    def drag(self, points, steps=4):
        """Presses at points[0], moves through the others (with `steps` moves per segment), releases."""
        chain = self._move(self._chain(), *points[0])
        chain.click_and_hold()
        for (ax, ay), (bx, by) in zip(points, points[1:]):
            for k in range(1, steps + 1):
                self._move(chain, ax + (bx - ax) * k / steps, ay + (by - ay) * k / steps)
        chain.release()
        chain.perform()

    def hover(self, x, y):
        self._move(self._chain(), x, y).perform()

    def keys(self, *keys):
        chain = self._chain()
        for k in keys:
            chain.send_keys(k)
        chain.perform()

    def combo(self, modifiers, key):
        chain = self._chain()
        for m in modifiers:
            chain.key_down(m)
        chain.send_keys(key)
        for m in reversed(modifiers):
            chain.key_up(m)
        chain.perform()

    def wheel(self, x, y, delta_y):
        from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

        self.hover(x, y)
        cx, cy = self.client_xy(x, y)
        canvas = self.driver.find_element("id", "canvas")
        rect = canvas.rect
        origin = ScrollOrigin.from_element(canvas, int(cx - rect["x"] - rect["width"] / 2),
                                           int(cy - rect["y"] - rect["height"] / 2))
        self._chain().scroll_from_origin(origin, 0, delta_y).perform()

    def button(self, css):
        self.driver.find_element("css selector", css).click()

    def wait_download(self, suffix=".zip", timeout=10.0):
        """The path of a finished download ending in suffix (call clear_downloads() before)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            done = [p for p in self.driver.download_dir.iterdir() if p.name.endswith(suffix)]
            if done:
                return done[0]
            time.sleep(0.05)
        raise AssertionError(f"no {suffix} download within {timeout} s")

    def clear_downloads(self):
        for p in self.driver.download_dir.iterdir():
            p.unlink()

    def one_to_one(self):
        self.keys("0")
        self.wait("edgemask.view.scale === 1")


def _save_screenshot(driver, path):
    """A screenshot as a 256-colour PNG (a quarter of the size; fine for docs)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) \
        .save(path, optimize=True)


def take_screenshots(out_dir):
    """Writes screenshots of the page in use (demo images, classic tools, no model) to out_dir:
    `python tests/webui/browser_util.py docs/screenshots`."""
    from edgemask.webui import create_app
    from edgemask.webui.samples import ensure_samples

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = ensure_samples(Path(tempfile.mkdtemp(prefix="edgemask-demo-")))
    server = LiveServer(create_app({"IMAGES_DIR": str(images)}))
    driver = start_chromium(1500, 900)
    try:
        page = Page(driver, server.url).open("#reef-landscape.jpg")
        page.keys("w", "3")                      # classic wand, plants
        page.click(140, 220)
        page.wait("!!edgemask.state.preview")
        page.keys("\ue007")
        page.js("document.getElementById('accept-as').value = 'polygon';")
        page.keys("4")
        page.click(330, 140)
        page.wait("!!edgemask.state.preview")
        page.keys("\ue007")
        page.wait("edgemask.state.objects.length === 2")
        page.keys("p", "5")                      # polygon: the brown star
        star = [(398, 220), (442, 270), (506, 253), (472, 309), (498, 364), (443, 352),
                (401, 403), (394, 337), (333, 312), (394, 285)]
        for x, y in star:
            page.click(x, y)
        page.keys("\ue007")
        page.keys("b", "6")                      # brush on the blob
        page.js("document.getElementById('brush-size').value = 40;"
                "document.getElementById('brush-size').dispatchEvent(new Event('input'));")
        page.drag([(520, 330), (560, 380), (610, 440), (640, 400), (670, 310)], steps=6)
        page.keys("v")
        page.click(420, 310)                     # select the star
        page.wait_saved()
        page.hover(505, 255)
        time.sleep(0.3)
        _save_screenshot(driver, out_dir / "annotator.png")

        page.keys("b")
        page.wheel(600, 380, -400)
        page.hover(600, 380)
        time.sleep(0.3)
        _save_screenshot(driver, out_dir / "brush-zoomed.png")

        page.keys("?")
        time.sleep(0.2)
        _save_screenshot(driver, out_dir / "shortcuts.png")
    finally:
        quit_chromium(driver)
        server.close()


if __name__ == "__main__":
    import sys

    take_screenshots(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
