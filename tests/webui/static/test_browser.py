"""End-to-end tests of the annotator page: the real app under waitress, headless Chromium
driven with real mouse and keyboard events (Selenium). Shapes are drawn at 1:1 zoom with whole
pixel vertices so the exported masks can be checked pixel for pixel."""

import base64
import hashlib
import io
import json
import os
import time
import urllib.request
import zipfile

import cv2
import numpy as np
import pytest

from browser_util import LiveServer, Page, browser_missing_reason, quit_chromium, start_chromium

_MISSING = browser_missing_reason()
if _MISSING and os.environ.get("EDGEMASK_REQUIRE_BROWSER"):  # CI installs the browser: missing is an error
    raise RuntimeError(f"EDGEMASK_REQUIRE_BROWSER is set but {_MISSING}")
pytestmark = [pytest.mark.browser] + ([pytest.mark.skip(reason=_MISSING)] if _MISSING else [])

W, H = 320, 240
BACKGROUND = (40, 140, 60)
BLOCK = (200, 40, 280, 120)  # x0, y0, x1, y1 (exclusive) of a flat red block
BLOCK_RGB = (220, 60, 30)


def scene(seed=0) -> np.ndarray:
    """Flat background, one flat block (for the wands), a little texture elsewhere."""
    rgb = np.empty((H, W, 3), np.uint8)
    rgb[:] = BACKGROUND
    rng = np.random.default_rng(seed)
    rgb[150:, 220:] = rng.integers(0, 255, (H - 150, W - 220, 3), dtype=np.uint8)
    x0, y0, x1, y1 = BLOCK
    rgb[y0:y1, x0:x1] = BLOCK_RGB
    return rgb


def write_rgb(path, rgb):
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def driver():
    drv = start_chromium()
    yield drv
    quit_chromium(drv)


def write_scenes(root):
    """A new folder `root` with the two scenes the page tests open: a_scene.png and b_scene.png."""
    root.mkdir()
    write_rgb(root / "a_scene.png", scene(0))
    write_rgb(root / "b_scene.png", scene(1)[:, ::-1].copy())
    return root


@pytest.fixture
def images(tmp_path):
    return write_scenes(tmp_path / "images")


@pytest.fixture
def serve(images, driver):
    """Factory: (predictor or None, **more config) -> LiveServer of create_app over the images."""
    from edgemask.webui import create_app

    started = []

    def start(predictor=None, **extra):
        config = {"IMAGES_DIR": str(images), **extra}
        if predictor is not None:
            config["PREDICTOR"] = predictor
        server = LiveServer(create_app(config))
        started.append(server)
        return server

    yield start
    driver.get("about:blank")  # no request in flight while the servers close
    for server in started:
        server.close()
        ctx = server.app.extensions["edgemask"]
        if hasattr(ctx.assistant.predictor, "close"):
            ctx.assistant.predictor.close()
        ctx.store.close()


@pytest.fixture
def page(driver, serve):
    return Page(driver, serve().url).open()


# -- helpers ---------------------------------------------------------------------------------
def get_json(url):
    with urllib.request.urlopen(url) as r:
        return json.loads(r.read())


def put_json(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def export_index_png(base_url, image="a_scene.png"):
    """(class map HxW uint8, label names in class order) from GET /api/export/index-png."""
    with urllib.request.urlopen(base_url + "api/export/index-png") as r:
        zf = zipfile.ZipFile(io.BytesIO(r.read()))
    names = zf.read("labels.txt").decode().split("\n")
    mask_file = "masks/" + image.rsplit(".", 1)[0] + ".png"
    classes = cv2.imdecode(np.frombuffer(zf.read(mask_file), np.uint8), cv2.IMREAD_UNCHANGED)
    return classes, [n.strip() for n in names if n.strip()]


def class_of(page, label_id):
    ids = [label["id"] for label in page.labels()]
    return ids.index(label_id) + 1


def data_url_mask(url) -> np.ndarray:
    png = base64.b64decode(url.split(",", 1)[1])
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    return (img > 0).any(axis=2) if img.ndim == 3 else img > 0


def png_levels(url) -> set:
    """The distinct channel values of a PNG data URL (a binary mask has only 0 and 255)."""
    png = base64.b64decode(url.split(",", 1)[1])
    return set(np.unique(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)).tolist())


def rect_mask(x0, y0, x1, y1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def pick_label(page, number):
    page.keys(str(number))
    return page.wait(f"edgemask.state.currentLabelId === edgemask.state.labels[{number - 1}].id "
                     f"&& edgemask.state.currentLabelId")


def draw_polygon(page, vertices, close="click"):
    page.keys("p")
    for x, y in vertices:
        page.click(x, y)
    if close == "click":
        page.click(*vertices[0])
    else:
        page.keys("\ue007")  # Enter


ENTER, ESCAPE, DELETE = "\ue007", "\ue00c", "\ue017"


# -- tests -------------------------------------------------------------------------------------
def test_polygon_rectangle_and_vertex_editing_export_pixel_exact(page, serve):
    page.one_to_one()
    l_shape = [(20, 20), (100, 20), (100, 50), (50, 50), (50, 100), (20, 100)]
    divers = pick_label(page, 2)
    draw_polygon(page, l_shape, close="click")
    page.wait("edgemask.state.objects.length === 1")

    plants = pick_label(page, 3)
    page.keys("r")
    page.drag([(120, 140), (180, 200)])
    page.wait("edgemask.state.objects.length === 2")
    objs = page.objects()
    assert [o["kind"] for o in objs] == ["polygon", "polygon"]
    assert objs[0]["polygon"] == [list(p) for p in l_shape] and objs[0]["label_id"] == divers
    assert objs[1]["polygon"] == [[120, 140], [180, 140], [180, 200], [120, 200]]
    assert objs[1]["label_id"] == plants

    # edit the selected rectangle: drag both right vertices, insert a vertex on the top edge,
    # drag it up, then delete it again with a right click
    page.keys("v")
    page.drag([(180, 140), (200, 140)])
    page.drag([(180, 200), (200, 200)])
    page.drag([(160, 140), (160, 120)])
    rect = page.objects()[1]["polygon"]
    assert rect == [[120, 140], [160, 120], [200, 140], [200, 200], [120, 200]]
    page.click(160, 120, button="right")
    page.wait("edgemask.state.objects[1].polygon.length === 4")
    assert page.objects()[1]["polygon"] == [[120, 140], [200, 140], [200, 200], [120, 200]]

    # a triangle closed with Enter
    wrecks = pick_label(page, 4)
    draw_polygon(page, [(230, 20), (300, 60), (240, 100)], close="enter")
    page.wait("edgemask.state.objects.length === 3")
    page.wait_saved()

    classes, names = export_index_png(page.url)
    assert classes.shape == (H, W)
    expected = np.zeros((H, W), np.uint8)
    expected[rect_mask(20, 20, 100, 50) | rect_mask(20, 50, 50, 100)] = class_of(page, divers)
    expected[rect_mask(120, 140, 200, 200)] = class_of(page, plants)
    from edgemask.runtime.shapes import polygons_to_mask

    expected[polygons_to_mask([[[230, 20], [300, 60], [240, 100]]], H, W)] = class_of(page, wrecks)
    np.testing.assert_array_equal(classes, expected)
    assert names[class_of(page, divers)] == page.labels()[1]["name"]

    # the page's Export button downloads the same dataset
    page.clear_downloads()
    page.button("#btn-export")
    with zipfile.ZipFile(page.wait_download()) as zf:
        downloaded = cv2.imdecode(np.frombuffer(zf.read("masks/a_scene.png"), np.uint8),
                                  cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(downloaded, expected)
    page.raise_js_errors()


def test_brush_eraser_and_wand_masks_export_as_drawn(page):
    page.one_to_one()
    robots = pick_label(page, 5)
    page.keys("b")
    page.js("document.getElementById('brush-size').value = 10;"
            "document.getElementById('brush-size').dispatchEvent(new Event('input'));")
    page.keys("]", "]")  # 10 -> 12 -> 14
    assert page.js("return edgemask.state.brushSize") == 14
    page.hover(60, 180)
    assert page.js("return getComputedStyle(edgemask.view.canvas).cursor") == "none"
    page.drag([(40, 180), (120, 180)], steps=8)
    page.wait("edgemask.state.objects.length === 1")
    stroke = data_url_mask(page.objects()[0]["mask"])
    assert png_levels(page.objects()[0]["mask"]) == {0, 255}  # no soft stroke edges
    assert stroke[180, 40:121].all() and stroke[174:187, 80].all()
    assert not stroke[165, 80] and not stroke[180, 140]
    area = int(stroke.sum())
    assert 80 * 14 < area < 80 * 14 + 3.2 * 7 * 7 + 60

    # a second stroke with the same label extends the selected mask object
    page.drag([(40, 200), (60, 200)], steps=2)
    page.wait(f"edgemask.state.objects.length === 1 && edgemask.history.past.length === 3")
    extended = data_url_mask(page.objects()[0]["mask"])
    assert extended[200, 40:61].all() and (extended | stroke).sum() == extended.sum()

    # the eraser cuts across the first stroke
    page.keys("e")
    page.drag([(80, 160), (80, 195)], steps=4)
    page.wait("edgemask.history.past.length === 4")
    erased = data_url_mask(page.objects()[0]["mask"])
    assert png_levels(page.objects()[0]["mask"]) == {0, 255}
    assert not erased[180, 78:83].any() and erased[180, 40:70].all() and erased[180, 95:121].all()
    assert erased.sum() < extended.sum()

    # classic wand on the flat block, accepted with Enter
    reefs = pick_label(page, 6)
    page.keys("w")
    page.click(240, 80)
    page.wait("edgemask.state.preview && edgemask.state.preview.source === 'wand'")
    page.keys(ENTER)
    page.wait("edgemask.state.objects.length === 2 && !edgemask.state.preview")
    page.wait_saved()

    objs = page.objects()
    brushed = data_url_mask(objs[0]["mask"])
    np.testing.assert_array_equal(data_url_mask(objs[1]["mask"]), rect_mask(*BLOCK))
    classes, _ = export_index_png(page.url)
    expected = np.zeros((H, W), np.uint8)
    expected[brushed] = class_of(page, robots)
    expected[rect_mask(*BLOCK)] = class_of(page, reefs)
    np.testing.assert_array_equal(classes, expected)
    page.raise_js_errors()


def test_wand_drag_changes_tolerance_and_accept_as_polygon(page):
    page.one_to_one()
    page.keys("w")
    assert page.js("return document.getElementById('wand-tolerance').value") == "32"
    page.drag([(240, 80), (340, 80)], steps=5)  # +100 px -> tolerance 32 + 50
    page.wait("edgemask.state.preview && edgemask.state.preview.tolerance === 82")
    assert page.js("return document.getElementById('wand-tolerance').value") == "82"
    page.keys(ESCAPE)
    page.wait("edgemask.state.preview === null")
    assert page.objects() == []

    page.js("document.getElementById('accept-as').value = 'polygon';")
    page.click(240, 80)
    page.wait("edgemask.state.preview !== null")
    page.keys(ENTER)
    page.wait("edgemask.state.objects.length === 1")
    obj = page.objects()[0]
    assert obj["kind"] == "polygon"
    xs, ys = [p[0] for p in obj["polygon"]], [p[1] for p in obj["polygon"]]
    x0, y0, x1, y1 = BLOCK
    assert abs(min(xs) - x0) <= 1 and abs(max(xs) - x1) <= 1
    assert abs(min(ys) - y0) <= 1 and abs(max(ys) - y1) <= 1

    # convert to a mask and back from the object list
    page.button("#object-list li button[data-action='convert']")
    page.wait("edgemask.state.objects[0].kind === 'mask'")
    mask = data_url_mask(page.objects()[0]["mask"])
    assert abs(int(mask.sum()) - (x1 - x0) * (y1 - y0)) <= (x1 - x0 + y1 - y0) * 2
    page.button("#object-list li button[data-action='convert']")
    page.wait("edgemask.state.objects[0].kind === 'polygon'")
    page.wait_saved()
    page.raise_js_errors()


def test_ai_wand_points_box_accept_and_discard(driver, serve, fake_predictor):
    page = Page(driver, serve(fake_predictor).url).open()
    page.wait("edgemask.state.embedding === 'ready'", what="the embedding")
    assert "ready" in page.js("return document.getElementById('ai-state').textContent")
    assert page.js("return document.getElementById('model-message').hidden")
    page.one_to_one()
    page.keys("s")
    assert page.js("return edgemask.state.tool") == "aiwand"

    page.click(240, 80)
    page.wait("edgemask.state.preview && edgemask.state.preview.source === 'ai'")
    first = fake_predictor.predict_calls[-1]
    assert first["mask_input"] is None and first["point_labels"].tolist() == [1]
    np.testing.assert_array_equal(page.js("return [240, 80]"), first["point_coords"][0])

    n = len(fake_predictor.predict_calls)
    page.click(30, 30, modifier="\ue00a")  # Alt: negative point
    _wait_calls(fake_predictor, n + 1)
    refined = fake_predictor.predict_calls[-1]
    assert refined["point_labels"].tolist() == [1, 0] and refined["mask_input"] is not None
    page.click(35, 35, button="right")
    _wait_calls(fake_predictor, n + 2)
    assert fake_predictor.predict_calls[-1]["point_labels"].tolist() == [1, 0, 0]
    page.click(40, 40, modifier="\ue008")  # Shift: negative point
    _wait_calls(fake_predictor, n + 3)
    assert fake_predictor.predict_calls[-1]["point_labels"].tolist() == [1, 0, 0, 0]
    assert all(c["mask_input"] is not None for c in fake_predictor.predict_calls[n:])

    page.wait("edgemask.state.preview !== null")
    page.keys(ENTER)
    page.wait("edgemask.state.objects.length === 1")
    obj = page.objects()[0]
    assert obj["kind"] == "mask"
    # the fake predictor's mask: pixels within 40 of the colour under the first positive point
    expected = np.abs(scene(0).astype(int) - BLOCK_RGB).max(axis=2) <= 40
    np.testing.assert_array_equal(data_url_mask(obj["mask"]), expected)

    # a box, then Esc discards it
    page.drag([(20, 20), (60, 50)], steps=3)
    page.wait("edgemask.state.preview !== null")
    last = fake_predictor.predict_calls[-1]
    assert last["box"].tolist() == [20, 20, 60, 50] and last["mask_input"] is None
    page.keys(ESCAPE)
    page.wait("edgemask.state.preview === null")
    assert len(page.objects()) == 1
    page.wait_saved()
    saved = get_json(page.url + "api/images/a_scene.png/annotations")
    assert [o["kind"] for o in saved["objects"]] == ["mask"]
    page.raise_js_errors()


def test_ai_wand_with_an_exported_model(driver, serve, exported_model, tmp_path, monkeypatch):
    """The real edgemask.runtime Predictor on efficientvit-sam-l0 exported from a random-weight
    checkpoint of the official architecture: only the plumbing (embedding on open, predict, accept)
    is checked, not what the mask looks like (random weights segment nothing meaningful)."""
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    model_dir = exported_model("efficientvit-sam-l0")
    page = Page(driver, serve(MODEL_DIR=str(model_dir), DEVICE="cpu").url).open()
    page.wait("edgemask.state.embedding === 'ready'", what="the embedding")
    page.one_to_one()
    page.keys("s")
    page.click(240, 80)
    page.wait("edgemask.state.preview && edgemask.state.preview.source === 'ai'", what="a predicted mask")
    info = page.js("return document.getElementById('stage-info').textContent")
    assert info.startswith("score ")
    preview = data_url_mask(page.js("return edgemask.maskToDataURL(edgemask.state.preview.canvas)"))
    assert preview.shape == (H, W)
    page.keys(ENTER)
    page.wait("edgemask.state.objects.length === 1")
    obj = page.objects()[0]
    assert obj["kind"] == "mask"
    np.testing.assert_array_equal(data_url_mask(obj["mask"]), preview)
    page.wait_saved()
    page.raise_js_errors()


def _wait_calls(predictor, count, timeout=10):
    import time

    deadline = time.time() + timeout
    while len(predictor.predict_calls) < count:
        assert time.time() < deadline, f"expected {count} predict calls"
        time.sleep(0.05)


def test_without_model_the_page_shows_the_api_message(page):
    message = get_json(page.url + "api/model")["message"]
    banner = page.driver.find_element("id", "model-message")
    assert banner.is_displayed()
    assert page.driver.find_element("id", "model-message-text").text == message
    wand_button = page.driver.find_element("css selector", "#tools button[data-tool='aiwand']")
    assert wand_button.is_enabled() and "click to get one" in wand_button.get_attribute("title")
    page.keys("s")  # the AI wand offers to get a model instead of starting
    page.wait("document.getElementById('model-get') && !document.getElementById('model-get').hidden && "
              "document.querySelector('input[name=\"model-get\"]:checked')", what="the chooser")
    assert page.js("return edgemask.state.tool") == "select"
    assert page.js("return document.querySelector('input[name=\"model-get\"]:checked').value") == "efficientvit-sam-l0"
    page.button("#model-get-close")
    assert not page.driver.find_element("id", "model-get").is_displayed()
    page.button("#btn-model-message-close")
    assert not banner.is_displayed()


def test_get_a_model_from_the_page(driver, serve, random_checkpoint, tmp_path, monkeypatch):
    """No model: the AI wand offers the chooser; "Get" downloads a random-weight efficientvit-sam-l0
    checkpoint from a local HTTP server and converts it (torch-free path) while the classic tools work;
    the progress shows, and then the AI wand answers a click, without a restart."""
    from file_server import FileServer

    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    root = tmp_path / "www"
    root.mkdir()
    os.symlink(random_checkpoint("efficientvit-sam-l0"), root / "efficientvit_sam_l0.pt")
    with FileServer(root) as files:
        # the random checkpoint stands for a mirror's file: its own sha256 replaces the official one
        digest = hashlib.sha256(random_checkpoint("efficientvit-sam-l0").read_bytes()).hexdigest()
        server = serve(CHECKPOINT_URLS={"efficientvit-sam-l0": files.url("efficientvit_sam_l0.pt")},
                       CHECKPOINT_SHA256={"efficientvit-sam-l0": digest}, DEVICE="cpu")
        page = Page(driver, server.url).open()
        page.one_to_one()
        page.button("#tools button[data-tool='aiwand']")
        page.wait("!document.getElementById('model-get').hidden && "
                  "document.querySelector('input[name=\"model-get\"]:checked')", what="the chooser")
        assert "about 139 MB" in page.js("return document.getElementById('model-get-choices').textContent")
        page.button("#model-get-start")
        seen, classic_checked = [], False
        deadline = time.time() + 600
        while not page.js("return edgemask.state.model.loaded"):
            assert time.time() < deadline, f"the model never loaded; the page showed {seen[-3:]}"
            shown = page.js("const b = document.getElementById('model-get-progress');"
                            "return [b.value, document.getElementById('model-get-text').textContent,"
                            "document.getElementById('model-get-error').textContent];")
            assert not shown[2], shown[2]
            if shown[1] and (not seen or seen[-1] != shown[:2]):
                seen.append(shown[:2])
            if not classic_checked and shown[1] and get_json(server.url + "api/models/get")["state"] == "running":
                # the classic wand works while the model is being fetched and converted
                page.button("#model-get-close")
                page.keys("w")
                page.click(240, 80)
                page.wait("edgemask.state.preview && edgemask.state.preview.source === 'wand'", what="the classic wand")
                page.keys(ESCAPE)
                classic_checked = True
                page.button("#tools button[data-tool='aiwand']")  # back to the progress
            time.sleep(0.05)
        assert classic_checked
        assert any(0 < value < 1 for value, _ in seen), seen
        from edgemask.export.get import preferred_precision  # what the page asks for on this machine

        precision = preferred_precision()
        assert any(f"efficientvit-sam-l0 ({precision})" in text for _, text in seen), seen
        assert any("quantising" in text or "filling" in text for _, text in seen), seen
        assert files.requests == ["/efficientvit_sam_l0.pt"]
        page.wait("edgemask.state.embedding === 'ready'", timeout=60, what="the embedding")
        assert page.driver.find_element("id", "model-get").is_displayed() is False
        page.keys("s")
        page.click(240, 80)
        page.wait("edgemask.state.preview && edgemask.state.preview.source === 'ai'", timeout=30,
                  what="an AI-wand mask")
        preview = data_url_mask(page.js("return edgemask.maskToDataURL(edgemask.state.preview.canvas)"))
        assert preview.shape == (H, W)
        assert (tmp_path / "home" / "models" / f"efficientvit-sam-l0-{precision}" / "model.json").is_file()
        page.raise_js_errors()


def test_z_order_undo_redo_and_reload(page):
    page.one_to_one()
    first = pick_label(page, 2)
    page.keys("r")
    page.drag([(20, 20), (80, 80)])
    second = pick_label(page, 3)
    page.drag([(50, 50), (110, 110)])
    page.wait("edgemask.state.objects.length === 2")
    ids = [o["id"] for o in page.objects()]  # ascending z: first, second

    def z_order():
        return [o["id"] for o in page.objects()]

    # the second (selected) rectangle down with "-", up with "+", then via the object list
    page.keys("-")
    page.wait(f"edgemask.state.objects.find(o => o.id === '{ids[1]}').z === 0")
    assert z_order() == [ids[1], ids[0]]
    page.keys("+")
    page.wait(f"edgemask.state.objects.find(o => o.id === '{ids[1]}').z === 1")
    page.button(f"#object-list li[data-id='{ids[0]}'] button[data-action='front']")
    page.wait(f"edgemask.state.objects.find(o => o.id === '{ids[0]}').z === 1")
    assert z_order() == [ids[1], ids[0]]

    # hide, then undo / redo through every step
    page.button(f"#object-list li[data-id='{ids[1]}'] button[data-action='hide']")
    page.wait(f"edgemask.state.objects.find(o => o.id === '{ids[1]}').hidden")
    from selenium.webdriver.common.keys import Keys

    page.combo([Keys.CONTROL], "z")
    page.wait(f"!edgemask.state.objects.find(o => o.id === '{ids[1]}').hidden")
    page.combo([Keys.CONTROL], "z")
    page.wait(f"edgemask.state.objects.find(o => o.id === '{ids[1]}').z === 1")
    page.combo([Keys.CONTROL, Keys.SHIFT], "z")
    page.wait(f"edgemask.state.objects.find(o => o.id === '{ids[0]}').z === 1")
    page.combo([Keys.CONTROL], "y")
    page.wait(f"edgemask.state.objects.find(o => o.id === '{ids[1]}').hidden")
    for _ in range(7):  # six steps, one more than there is to undo
        page.combo([Keys.CONTROL], "z")
    page.wait("edgemask.state.objects.length === 0")
    for _ in range(6):
        page.combo([Keys.CONTROL], "y")
    page.wait(f"edgemask.state.objects.length === 2 && "
              f"edgemask.state.objects.find(o => o.id === '{ids[1]}').hidden")
    before = page.objects()
    page.wait_saved()

    page.open()
    after = page.objects()
    assert after == before
    assert page.js("return edgemask.state.imageName") == "a_scene.png"
    rows = page.driver.find_elements("css selector", "#object-list li")
    assert [r.get_attribute("data-id") for r in rows] == [ids[0], ids[1]]  # top first

    classes, _ = export_index_png(page.url)
    expected = np.zeros((H, W), np.uint8)
    expected[rect_mask(50, 50, 110, 110)] = class_of(page, second)
    expected[rect_mask(20, 20, 80, 80)] = class_of(page, first)  # on top, hidden still exported
    np.testing.assert_array_equal(classes, expected)
    page.raise_js_errors()


def test_conflict_overlays_the_canvas_and_offers_keep_mine_or_take_theirs(page):
    page.one_to_one()
    page.keys("r")
    page.drag([(20, 20), (60, 60)])
    page.wait_saved()
    url = page.url + "api/images/a_scene.png/annotations"
    stored = get_json(url)
    assert len(stored["objects"]) == 1
    put_json(url, {"version": stored["version"], "objects": []})  # "another tab" clears it
    canvas_rect = page.js("return JSON.stringify(edgemask.view.canvas.getBoundingClientRect())")

    page.drag([(100, 100), (140, 140)])
    page.wait("edgemask.state.save.status === 'conflict'")
    banner = page.driver.find_element("id", "conflict")
    assert banner.is_displayed()
    assert "changed in another tab" in banner.text
    assert get_json(url)["objects"] == []  # nothing overwritten
    # the banner lies over the stage: the canvas did not move or shrink
    assert page.js("return JSON.stringify(edgemask.view.canvas.getBoundingClientRect())") == canvas_rect

    def counts_agree(n):
        page.wait(f"edgemask.state.objects.length === {n} && edgemask.state.save.status === 'saved'")
        listed = page.driver.find_element("css selector", "#image-list li.current .count").text
        panel = page.driver.find_element("id", "object-count").text
        assert (listed, panel) == (str(n), f"({n})")

    page.button("#btn-conflict-mine")  # keep mine: both of my rectangles are saved over theirs
    counts_agree(2)
    assert len(get_json(url)["objects"]) == 2 and not banner.is_displayed()

    stored = get_json(url)
    put_json(url, {"version": stored["version"], "objects": stored["objects"][:1]})
    page.drag([(150, 150), (170, 170)])
    page.wait("edgemask.state.save.status === 'conflict'")
    page.button("#btn-conflict-theirs")  # take theirs: their one object, my edit dropped
    counts_agree(1)
    assert not banner.is_displayed()
    page.drag([(100, 100), (140, 140)])
    page.wait_saved()
    counts_agree(2)
    assert len(get_json(url)["objects"]) == 2
    page.raise_js_errors(expected=["409 (CONFLICT)"])


def test_navigation_labels_progress_zoom_and_help(page):
    progress = page.driver.find_element("id", "progress-text")
    assert progress.text == "0 / 2 annotated"
    page.keys("d")
    page.wait("edgemask.state.imageName === 'b_scene.png'")
    page.keys("\ue012")  # Left arrow
    page.wait("edgemask.state.imageName === 'a_scene.png'")
    page.keys("\ue014")  # Right arrow
    page.wait("edgemask.state.imageName === 'b_scene.png'")
    page.keys("a")
    page.wait("edgemask.state.imageName === 'a_scene.png'")

    # add a label in the page; it becomes current and digit keys still pick labels
    count = len(page.labels())
    page.driver.find_element("id", "new-label-name").send_keys("kelp")
    page.button("#add-label button[type=submit]")
    page.wait(f"edgemask.state.labels.length === {count + 1}")
    assert [lb["name"] for lb in get_json(page.url + "api/labels")["labels"]][-1] == "kelp"
    assert page.js("return edgemask.state.currentLabelId") == page.labels()[-1]["id"]
    page.button("#canvas")
    pick_label(page, 1)

    page.keys("r")
    page.one_to_one()
    page.drag([(10, 10), (30, 30)])
    page.wait_saved()
    page.wait("document.getElementById('progress-text').textContent === '1 / 2 annotated'")

    # zoom: wheel in and out around the cursor, fit, 1:1
    page.wheel(100, 100, -300)
    page.wait("edgemask.view.scale > 1.2")
    x, y = page.js("return edgemask.view.toImage({clientX: arguments[0], clientY: arguments[1]})",
                   *page.client_xy(100, 100))
    assert abs(x - 100) < 1.5 and abs(y - 100) < 1.5
    page.keys("f")
    fit = page.wait("edgemask.view.scale !== 1 && edgemask.view.scale")
    assert abs(fit * W - page.js("return edgemask.view.cssWidth") + 20) < 1 or \
        abs(fit * H - page.js("return edgemask.view.cssHeight") + 20) < 1
    page.button("#btn-one")
    page.wait("edgemask.view.scale === 1")

    page.keys("?")
    assert page.driver.find_element("id", "help").is_displayed()
    page.keys(ESCAPE)
    assert not page.driver.find_element("id", "help").is_displayed()
    page.raise_js_errors()


def test_vertex_delete_label_change_erasing_a_polygon_and_whole_image(page):
    from selenium.webdriver.support.select import Select

    page.one_to_one()
    pick_label(page, 2)
    page.keys("r")
    page.drag([(20, 20), (100, 100)])
    page.wait("edgemask.state.objects.length === 1")
    page.keys("v")
    page.hover(100, 20)
    page.wait("edgemask.tools.select && true")
    page.keys(DELETE)  # the hovered vertex, not the object
    page.wait("edgemask.state.objects[0].polygon.length === 3")
    assert page.objects()[0]["polygon"] == [[20, 20], [100, 100], [20, 100]]

    third = page.labels()[2]
    obj_id = page.objects()[0]["id"]
    Select(page.driver.find_element("css selector", f"#object-list li[data-id='{obj_id}'] select")) \
        .select_by_value(str(third["id"]))
    page.wait(f"edgemask.state.objects[0].label_id === {third['id']}")

    # the eraser turns the selected polygon into a mask and cuts it
    page.keys("e")
    page.drag([(25, 60), (95, 60)], steps=6)
    page.wait("edgemask.state.objects[0].kind === 'mask'")
    mask = data_url_mask(page.objects()[0]["mask"])
    from edgemask.runtime.shapes import polygons_to_mask

    triangle = polygons_to_mask([[[20, 20], [100, 100], [20, 100]]], H, W)
    assert not mask[60, 30:95].any() and mask[90, 22:80].all()
    assert not (mask & ~triangle).any()
    # away from the cut, the conversion follows the server's pixel-centre rule exactly
    np.testing.assert_array_equal(mask[72:], triangle[72:])

    # the whole image as background goes under everything
    pick_label(page, 1)
    page.button("#btn-background")
    page.wait("edgemask.state.objects.length === 2")
    bg = page.objects()[0]
    assert bg["kind"] == "polygon" and bg["polygon"] == [[0, 0], [W, 0], [W, H], [0, H]]
    assert bg["label_id"] == page.labels()[0]["id"]

    # select the mask in the list and delete it with the Delete key
    page.button(f"#object-list li[data-id='{obj_id}']")
    page.wait(f"edgemask.state.selectedId === '{obj_id}'")
    page.button("#canvas")  # focus back on the canvas (clicks the background: selects it)
    page.button(f"#object-list li[data-id='{obj_id}']")
    page.keys(DELETE)
    page.wait("edgemask.state.objects.length === 1")
    page.wait_saved()
    classes, _ = export_index_png(page.url)
    assert (classes == 1).all()
    page.raise_js_errors()


def test_mask_helpers_in_the_browser_match_the_server(page):
    """mask/canvas.js: polygon -> mask uses the server's pixel-centre rule (random float polygons),
    and the tinted copy that is only redone where strokes touched equals a full redo."""
    from edgemask.runtime.shapes import polygons_to_mask

    rng = np.random.default_rng(7)
    polygons = [(rng.random((int(rng.integers(3, 9)), 2)) * [W + 20, H + 20] - 10).round(2).tolist()
                for _ in range(6)]
    polygons.append([[10, 10], [60.5, 10], [60.5, 40.5], [10, 40.5]])  # centres on the edges
    page.driver.set_script_timeout(30)
    masks = page.driver.execute_async_script("""
        const [polys, w, h, done] = arguments;
        Promise.all([import('/static/mask/canvas.js'), import('/static/mask/boxruns.js')])
          .then((ms) => Object.assign({}, ...ms)).then((o) => done(polys.map((p) => {
          const c = o.polygonToMask(p, w, h);   // a canvas of the polygon's box, placed at its corner
          const runs = o.maskToBoxRuns(c);
          const back = o.maskFromBoxRuns(runs, '#123456');
          return [o.maskToDataURL(c, w, h), runs, o.maskToDataURL(back, w, h), [back._x, back._y]];
        })));
        """, polygons, W, H)
    from edgemask.runtime.shapes import mask_to_box_runs

    for poly, (url, runs, back, corner) in zip(polygons, masks):
        expected = polygons_to_mask([poly], H, W)
        np.testing.assert_array_equal(data_url_mask(url), expected, err_msg=f"polygon {poly}")
        assert runs == mask_to_box_runs(expected), f"polygon {poly}"  # the same box-runs as the server's
        np.testing.assert_array_equal(data_url_mask(back), expected, err_msg=f"polygon {poly}")
        assert corner == runs["box"][:2] or runs["box"] == [0, 0, 0, 0]

    same = page.driver.execute_async_script("""
        const [w, h, done] = arguments;
        import('/static/mask/canvas.js').then((o) => {
          const c = o.makeCanvas(w, h, 30, 20);   // a mask canvas whose corner is at image (30, 20)
          const g = c.getContext('2d', { willReadFrequently: true });
          o.tinted(c, '#ff8000');
          let seed = 3;
          const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
          for (let i = 0; i < 40; i++) {
            const x = rand() * w, y = rand() * h, r = 2 + rand() * 15;
            g.globalCompositeOperation = i % 3 === 2 ? 'destination-out' : 'source-over';
            g.fillStyle = '#fff'; g.beginPath(); g.arc(x, y, r, 0, 7); g.fill();
            o.touch(c, [30 + x - r - 1, 20 + y - r - 1, 30 + x + r + 1, 20 + y + r + 1]);
            if (i % 5 === 0) o.tinted(c, '#ff8000');
          }
          const part = o.tinted(c, '#ff8000');
          const full = o.tinted(o.cloneCanvas(c), '#ff8000');
          const a = part.getContext('2d').getImageData(0, 0, w, h).data;
          const b = full.getContext('2d').getImageData(0, 0, w, h).data;
          let diff = 0;
          for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff++;
          done(diff);
        });""", W, H)
    assert same == 0


def test_zoomed_out_photo_is_drawn_from_a_screen_sized_copy(page):
    """screenphoto.js: zoomed out, the view draws a copy of the photo resized to a power-of-two level at
    or above the device pixels it covers (not the 12 MP photo every frame): the photo itself until the
    copy is ready, then the copy, which looks as the photo resampled by drawImage does; at 1:1 and
    above no copy is made, and a new photo or level makes a new one."""
    out = page.driver.execute_async_script("""
        const done = arguments[0];
        import('/static/screenphoto.js').then(async ({ ScreenPhoto, photoLevel }) => {
          const W = 2400, H = 1800, photo = document.createElement('canvas');
          photo.width = W; photo.height = H;
          const g = photo.getContext('2d');
          const grad = g.createLinearGradient(0, 0, W, H);
          grad.addColorStop(0, '#103060'); grad.addColorStop(0.5, '#40a080'); grad.addColorStop(1, '#e0c040');
          g.fillStyle = grad; g.fillRect(0, 0, W, H);
          for (let i = 0; i < 12; i++) {   // soft discs: what both resamplings agree on
            g.fillStyle = `hsl(${i * 30}, 60%, 50%)`;
            g.beginPath(); g.arc(200 + (i % 4) * 600, 300 + Math.floor(i / 4) * 600, 150, 0, 7); g.fill();
          }
          const levels = [0.2, 0.25, 0.3, 0.5, 0.6, 1, 3, 0.01, 0, -1, NaN].map(photoLevel);
          const screen = (s) => {
            const c = document.createElement('canvas'); c.width = Math.ceil(W * s); c.height = Math.ceil(H * s);
            const x = c.getContext('2d', { willReadFrequently: true });
            x.setTransform(s, 0, 0, s, 0, 0); x.imageSmoothingEnabled = s < 1;
            return x;
          };
          let ready = 0;
          const sp = new ScreenPhoto(() => { ready++; });
          const a = screen(0.2); sp.draw(a, photo, W, H, 0.2);
          const before = sp.copy;
          const direct = screen(0.2); direct.drawImage(photo, 0, 0);
          const same = (x, y) => {
            const p = x.getImageData(0, 0, x.canvas.width, x.canvas.height).data;
            const q = y.getImageData(0, 0, y.canvas.width, y.canvas.height).data;
            let worst = 0, sum = 0;
            for (let i = 0; i < p.length; i++) { const d = Math.abs(p[i] - q[i]); sum += d; worst = Math.max(worst, d); }
            return { mean: sum / p.length, worst };
          };
          const first = same(a, direct);
          const t0 = performance.now();
          while (!ready && performance.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 20));
          const copy = sp.copy && [sp.copy.width, sp.copy.height];
          const b = screen(0.2); sp.draw(b, photo, W, H, 0.2);
          const after = same(b, direct);
          const one = screen(1); sp.draw(one, photo, W, H, 1);   // 1:1: the photo itself
          const atOne = same(one, (() => { const d = screen(1); d.drawImage(photo, 0, 0); return d; })()).worst;
          sp.draw(screen(0.1), photo, W, H, 0.1);   // another level: a new copy is asked for
          done({ levels, before, first, ready, copy, after, atOne, newLevel: sp.level, newCopy: sp.copy });
        });""")
    assert out["levels"] == [0.25, 0.25, 0.5, 0.5, 0, 0, 0, 2 ** -6, 0, 0, 0]
    assert out["before"] is None and out["first"]["worst"] == 0  # until the copy lands: the photo itself
    assert out["ready"] == 1 and out["copy"] == [600, 450]
    assert out["after"]["mean"] < 2.0 and out["after"]["worst"] < 96, out["after"]  # the same picture
    assert out["after"]["worst"] > 0  # and drawn from the copy, not the photo
    assert out["atOne"] == 0
    assert out["newLevel"] == 0.125 and out["newCopy"] is None


def test_mask_preview_is_drawn_at_screen_resolution_as_the_mask(page):
    """mask/screenpreview.js: a speckled box-runs mask drawn for views zoomed out, at 1:1 and in,
    panned past the canvas's edges, at device pixel ratios 1 and 2: each device pixel shows the
    mask pixel under its centre, in one of the two stripe colours, and nothing outside it."""
    from edgemask.runtime.shapes import mask_to_box_runs

    rng = np.random.default_rng(3)
    mask = np.zeros((H, W), bool)
    mask[17:203, 9:301] = cv2.resize((rng.random((24, 36)) < 0.5).astype(np.uint8), (292, 186),
                                     interpolation=cv2.INTER_NEAREST) > 0
    mask[17:203, 9:301] ^= rng.random((186, 292)) < 0.05  # single pixels too
    runs = mask_to_box_runs(mask)
    views = [(0.2347, 13.37, 9.61, 1), (0.5031, -20.3, 4.77, 2), (1, 3, 2, 1), (3.713, -131.3, -77.9, 1),
             (1.377, 40.1, -30.6, 2)]
    size = [400, 300]  # device px of the canvas
    out = page.driver.execute_async_script("""
        const [m, views, size, done] = arguments;
        import('/static/mask/screenpreview.js').then(({ ScreenPreview }) => {
          const sp = new ScreenPreview(['#ff8c1a', '#1a1a1a']);
          done(views.map(([scale, ox, oy, dpr]) => {
            sp._raster(m, scale * dpr, ox * dpr, oy * dpr, size[0], size[1]);
            if (!sp.at) return null;
            const d = sp.layer.getContext('2d').getImageData(0, 0, sp.layer.width, sp.layer.height).data;
            const px = [];
            for (let i = 0; i < d.length; i += 4) px.push(d[i + 3] ? (d[i] === 0xff ? 1 : 2) : 0);
            return { at: sp.at, w: sp.layer.width, px };
          }));
        });""", runs, views, size)
    for (scale, ox, oy, dpr), got in zip(views, out):
        cols, rows = np.arange(size[0]), np.arange(size[1])
        ix = np.floor((cols + 0.5 - ox * dpr) / (scale * dpr)).astype(int)
        iy = np.floor((rows + 0.5 - oy * dpr) / (scale * dpr)).astype(int)
        inside_x, inside_y = (ix >= 0) & (ix < W), (iy >= 0) & (iy < H)
        expected = np.zeros((size[1], size[0]), bool)
        expected[np.ix_(inside_y, inside_x)] = mask[np.ix_(iy[inside_y], ix[inside_x])]
        drawn = np.zeros_like(expected)
        stripe = np.zeros(expected.shape, int)
        if got is not None:
            (x, y), w = got["at"], got["w"]
            layer = np.array(got["px"]).reshape(-1, w)
            drawn[y:y + layer.shape[0], x:x + w] = layer > 0
            stripe[y:y + layer.shape[0], x:x + w] = layer
        np.testing.assert_array_equal(drawn, expected, err_msg=f"view {scale, ox, oy, dpr}")
        yy, xx = np.nonzero(drawn)
        assert (stripe[yy, xx] == np.where((xx + yy) % 12 < 6, 1, 2)).all()  # stripes fixed on the screen
    assert expected.sum() > 1000


def test_lan_link_sets_the_cookie_and_the_page_works(driver, serve):
    """LAN mode in the browser: the ?token= link opens the page, the token leaves the address
    bar, the HttpOnly cookie carries the page's own requests (saves included)."""
    token = "browser-lan-token-0123456789"
    server = serve(ACCESS_TOKEN=token)
    driver.get(server.url)
    assert "access token" in driver.find_element("tag name", "body").text  # 401 without it
    page = Page(driver, server.url).open(f"?token={token}")
    assert "token" not in driver.current_url
    assert "browser-lan-token" not in page.js("return document.cookie")  # HttpOnly
    page.one_to_one()
    page.keys("r")
    page.drag([(20, 20), (60, 60)])
    page.wait_saved()
    req = urllib.request.Request(server.url + "api/images/a_scene.png/annotations",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as r:
        assert len(json.loads(r.read())["objects"]) == 1
    page.raise_js_errors()


def test_a_lost_save_answer_is_not_a_conflict_with_itself(page):
    """After a crash the page still holds the version before its last save: its next save
    goes through (the stored version is its own), another tab's save still conflicts."""
    page.one_to_one()
    page.keys("r")
    page.drag([(20, 20), (60, 60)])
    page.wait_saved()
    url = page.url + "api/images/a_scene.png/annotations"
    assert get_json(url)["version"] == 1
    page.js("edgemask.state.version = 0;")  # the answer to that save never arrived
    page.drag([(100, 100), (140, 140)])
    page.wait_saved()
    stored = get_json(url)
    assert stored["version"] == 2 and len(stored["objects"]) == 2
    put_json(url, {"version": 2, "objects": []})  # another tab
    page.drag([(150, 20), (180, 50)])
    page.wait("edgemask.state.save.status === 'conflict'")
    assert get_json(url)["objects"] == []
    page.raise_js_errors(expected=["409 (CONFLICT)"])


def test_unreadable_images_are_listed_with_the_reason(driver, serve, images):
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 10)
    page = Page(driver, serve().url).open()
    row = page.driver.find_element("css selector", "#image-list li.unreadable")
    assert row.get_attribute("data-name") == "broken.png"
    assert "not an image this program can read" in row.get_attribute("title")
    row.click()  # opens its place: the reason over the canvas, nothing to draw on
    page.wait("edgemask.state.imageName === 'broken.png' && edgemask.state.image === null")
    assert "not an image this program can read" in page.js("return document.getElementById('unreadable-reason').textContent")


def test_imported_occluded_group_and_attributes_survive_editing(driver, serve):
    """What CVAT / COCO record about an object (stored by an import) is saved back by the page
    after edits, also when a mask becomes polygons."""
    server = serve()
    url = server.url + "api/images/a_scene.png/annotations"
    label = get_json(server.url + "api/labels")["labels"][0]["id"]
    extra = {"occluded": True, "group": 5, "attributes": {"species": "cod", "count": 2}}
    put_json(url, {"version": 0, "objects": [
        {"id": "p", "label_id": label, "kind": "polygon", "z": 0,
         "polygon": [[10, 10], [60, 10], [60, 50]], **extra},
        {"id": "m", "label_id": label, "kind": "mask", "z": 1, "group": 6,
         "mask": "data:image/png;base64," + base64.b64encode(
             cv2.imencode(".png", rect_mask(80, 80, 120, 120).astype(np.uint8) * 255)[1]).decode()}]})
    page = Page(driver, server.url).open()
    page.button("#object-list li[data-id='p'] button[data-action='hide']")
    page.wait("edgemask.state.objects.find(o => o.id === 'p').hidden")
    page.button("#object-list li[data-id='m'] button[data-action='convert']")
    page.wait("edgemask.state.objects.find(o => o.id === 'm').kind === 'polygon'")
    page.wait_saved()
    stored = {o["id"]: o for o in get_json(url)["objects"]}
    assert stored["p"]["hidden"] is True
    assert {k: stored["p"][k] for k in extra} == extra
    assert stored["m"]["kind"] == "polygon" and stored["m"]["group"] == 6
    page.raise_js_errors()
