"""The annotator page's layout in headless Chromium: it fits common laptop windows, the canvas
refits when its box changes, the side panels collapse, and the object list tells objects apart."""

import json
import urllib.request

import numpy as np
import pytest
from test_browser import ENTER, driver, pytestmark, serve, write_rgb  # noqa: F401  (fixtures)

from browser_util import Page

W, H = 640, 480  # wider than tall, so that fit zoom is set by the canvas box's height
SPECK_RGB = (230, 220, 40)

# the controls that must stay inside the window
KEY_CONTROLS = ["btn-help", "save-status", "btn-export", "export-format", "btn-undo", "btn-background",
                "btn-fit", "btn-next", "btn-done-next", "accept-as", "object-list"]

LAYOUT = """
const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth, innerHeight, boxes: {}};
for (const id of arguments[0]) out.boxes[id] = box(document.getElementById(id));
for (const id of ['canvas-box', 'left', 'right', 'topbar', 'stage-info']) out.boxes[id] = box(document.getElementById(id));
out.buttons = [...document.querySelectorAll('#topbar button, .nav button')].map((b) => [b.textContent, b.getBoundingClientRect().height]);
return out;"""


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    rgb = np.full((H, W, 3), (40, 140, 60), np.uint8)
    rgb[100:200, 300:420] = (220, 60, 30)
    write_rgb(root / "a_wide.png", rgb)
    write_rgb(root / "b_wide.png", rgb[:, ::-1].copy())
    specks = np.full((H, W, 3), (40, 140, 60), np.uint8)
    specks[20:80, 20:120] = SPECK_RGB          # the largest part
    for y in range(200, H - 3, 12):             # and many 3 x 3 specks of the same colour
        for x in range(100, W - 3, 12):
            specks[y:y + 3, x:x + 3] = SPECK_RGB
    write_rgb(root / "c_specks.png", specks)
    return root


def area(b):
    return max(0, b[2] - b[0]) * max(0, b[3] - b[1])


def resized(page, width, height):
    """The window at width x height once the canvas has followed its box."""
    page.driver.set_window_size(width, height)
    page.wait("(() => { const r = edgemask.view.canvas.getBoundingClientRect(); "
              "return Math.abs(edgemask.view._size[0] - r.width) < 0.5 && Math.abs(edgemask.view._size[1] - r.height) < 0.5 "
              "&& !edgemask.view._queued; })()", what="the canvas to follow the window")


def image_on_screen(page):
    """[left, top, right, bottom] of the image at the current view, in canvas CSS px, and the
    canvas's [width, height]."""
    return page.js("""const v = edgemask.view, s = edgemask.state;
        return [[v.ox, v.oy, v.ox + s.width * v.scale, v.oy + s.height * v.scale], [v.cssWidth, v.cssHeight]];""")


def assert_whole_image_visible(page):
    (x0, y0, x1, y1), (cw, ch) = image_on_screen(page)
    assert x0 >= -0.5 and y0 >= -0.5 and x1 <= cw + 0.5 and y1 <= ch + 0.5, ((x0, y0, x1, y1), (cw, ch))
    canvas = page.js("const r = edgemask.view.canvas.getBoundingClientRect(); return [r.bottom, innerHeight];")
    assert canvas[0] <= canvas[1] + 0.5  # the canvas itself ends inside the window


def test_the_page_fits_1024_and_1366_windows_with_the_canvas_largest(driver, serve):
    page = Page(driver, serve().url).open()
    page.js("edgemask.app.flash('Exported 3 images; left out 5: ' + 'a_long_image_name.jpg (not annotated yet), '.repeat(5), 10000)")
    for width, height in ((1024, 700), (1366, 768)):
        resized(page, width, height)
        m = page.js(LAYOUT, KEY_CONTROLS)
        assert m["scrollWidth"] <= m["innerWidth"], (width, m["scrollWidth"])
        for name, (x0, y0, x1, y1) in m["boxes"].items():
            if name in KEY_CONTROLS:
                assert 0 <= x0 and x1 <= m["innerWidth"] and y0 >= 0, (width, name, x0, x1)
                if name != "object-list":
                    assert y1 <= m["innerHeight"], (width, name, y1)
        assert m["boxes"]["topbar"][3] - m["boxes"]["topbar"][1] <= 45, (width, "the top bar wrapped")
        wrapped = [text for text, h in m["buttons"] if h > 30]
        assert not wrapped, (width, "button text wrapped", wrapped)
        canvas, left, right = (m["boxes"][k] for k in ("canvas-box", "left", "right"))
        assert canvas[2] - canvas[0] >= 0.55 * m["innerWidth"], (width, canvas)
        assert area(canvas) > 1.5 * max(area(left), area(right)), (width, canvas, left, right)
        info = m["boxes"]["stage-info"]  # the message line is below the canvas, not over it
        assert info[1] >= canvas[3] - 0.5 and info[3] <= m["innerHeight"] + 0.5, (width, info, canvas)
        assert "left out 5" in page.js("return document.getElementById('stage-info').textContent")
        assert_whole_image_visible(page)

    # the side panels collapse to a strip, and stay so after a reload (preferences)
    resized(page, 1024, 700)
    before = page.js(LAYOUT, [])["boxes"]["canvas-box"]
    page.button("#left > .panel-toggle")
    page.button("#right > .panel-toggle")
    page.wait("document.getElementById('left').classList.contains('collapsed') "
              "&& document.getElementById('right').classList.contains('collapsed')")
    resized(page, 1024, 700)
    m = page.js(LAYOUT, [])
    canvas = m["boxes"]["canvas-box"]
    assert canvas[2] - canvas[0] >= m["innerWidth"] - 60 > before[2] - before[0]
    assert_whole_image_visible(page)
    page.open()
    assert page.js("return ['left', 'right'].map((s) => document.getElementById(s).classList.contains('collapsed'))") \
        == [True, True]
    assert sorted(page.js("return JSON.parse(localStorage.getItem('edgemask.prefs')).collapsed")) == ["left", "right"]
    page.button("#right > .panel-toggle")
    page.wait("!document.getElementById('right').classList.contains('collapsed')")
    assert page.js("return JSON.parse(localStorage.getItem('edgemask.prefs')).collapsed") == ["left"]
    assert page.driver.find_element("id", "tool-options").is_displayed()
    page.raise_js_errors()


def test_the_canvas_refits_after_a_resize_and_a_wrapping_label_bar(driver, serve):
    server = serve()
    page = Page(driver, server.url).open()
    resized(page, 1366, 768)
    page.keys("f")
    resized(page, 1024, 700)  # smaller: fit zoom again, the whole image in view
    assert_whole_image_visible(page)

    # a rectangle dragged to the lowest visible pixel ends at the image's last row
    page.keys("r")
    bottom = page.js("const r = edgemask.view.canvas.getBoundingClientRect(); return Math.min(r.bottom, innerHeight) - 1;")
    scale, oy, top = page.js("const v = edgemask.view; return [v.scale, v.oy, v.canvas.getBoundingClientRect().top];")
    low = (bottom - top - oy) / scale
    page.drag([(100, 100), (200, low)])
    page.wait_saved()
    ann = json.loads(urllib.request.urlopen(server.url + "api/images/a_wide.png/annotations").read())
    ys = [p[1] for p in ann["objects"][0]["polygon"]]
    assert max(ys) == pytest.approx(H, abs=0.5), max(ys)

    # adding labels until the label bar wraps shrinks the canvas box: the view follows
    bar = page.js("return document.getElementById('labelbar').getBoundingClientRect().height")
    for k in range(4):
        field = page.driver.find_element("id", "new-label-name")
        field.send_keys(f"a rather long label name {k}\n")
        page.wait(f"edgemask.state.labels.some((l) => l.name === 'a rather long label name {k}')")
    assert page.js("return document.getElementById('labelbar').getBoundingClientRect().height") > bar + 10
    resized(page, 1024, 700)
    assert_whole_image_visible(page)

    # zoomed in, a resize keeps the zoom and the image where it was on the screen
    page.one_to_one()
    corner = page.client_xy(0, 0)
    resized(page, 1366, 768)
    assert page.js("return edgemask.view.scale") == 1 and page.client_xy(0, 0) == corner
    page.raise_js_errors()


def test_accept_as_polygon_asks_before_a_speckled_mask_becomes_many_objects(driver, serve, fake_predictor):
    server = serve(fake_predictor)
    page = Page(driver, server.url).open("#c_specks.png")
    page.wait("edgemask.state.imageName === 'c_specks.png' && edgemask.state.embedding === 'ready'")
    page.js("document.getElementById('accept-as').value = 'polygon';")
    parts = 1 + len(range(200, H - 3, 12)) * len(range(100, W - 3, 12))
    for choice, expected in (("mask", ["mask"]), ("largest", ["polygon"] * 50)):
        page.keys("s")
        page.click(50, 50)  # the fake predictor: every pixel of the clicked colour, all the specks too
        page.wait("edgemask.state.preview !== null")
        page.keys(ENTER)
        page.wait("!document.getElementById('dialog').hidden", what="the question before many polygons")
        assert page.js("return document.getElementById('dialog-title').textContent") \
            == f"The mask is in {parts:,} separate parts"
        text = page.js("return document.getElementById('dialog-text').textContent")
        assert "The 50 largest parts hold" in text and f"other {parts - 50:,}" in text
        page.button(f"#dialog-buttons button[data-choice='{choice}']")
        page.wait(f"edgemask.state.objects.length === {len(expected)}")
        objects = page.objects()
        assert [o["kind"] for o in objects] == expected
        if choice == "mask":
            page.js("edgemask.state.objects = []; edgemask.app.commit();")
    boxes = [[min(p[0] for p in o["polygon"]), min(p[1] for p in o["polygon"]),
              max(p[0] for p in o["polygon"]), max(p[1] for p in o["polygon"])] for o in objects]
    assert [20, 20, 120, 80] in [[round(v) for v in b] for b in boxes]  # the block is among them
    page.wait_saved()
    page.raise_js_errors()


def _rows(page):
    """(number, area text, covered mark's title or None, data-id, covered) of each object-list row,
    top first, once the areas and covering are worked out for the objects as they are."""
    page.wait("document.getElementById('object-list').dataset.pixels === 'known'")
    return page.js("""return [...document.querySelectorAll('#object-list li')].map((li) => {
        const mark = li.querySelector('.covered-mark');
        return [li.querySelector('.number').textContent, li.querySelector('.area').textContent,
                mark ? mark.title : null, li.dataset.id, li.classList.contains('covered')];});""")


def test_object_rows_have_a_number_an_area_and_show_when_covered(driver, serve):
    page = Page(driver, serve().url).open()
    resized(page, 1400, 900)
    page.one_to_one()
    page.keys("r")
    page.drag([(20, 20), (120, 100)])                    # 1: a rectangle, 100 x 80
    page.wait("edgemask.state.objects.length === 1")
    page.keys("w")
    page.click(350, 150)                                 # 2: the block as a mask, 120 x 100
    page.wait("edgemask.state.preview !== null")
    page.keys(ENTER)
    page.wait("edgemask.state.objects.length === 2")
    page.button("#btn-background")                       # 3: the whole image, at the back
    page.wait("edgemask.state.objects.length === 3")
    rows = _rows(page)
    assert [r[:3] for r in rows] == [["2", "12,000 px", None], ["1", "8,000 px", None], ["3", "307,200 px", None]]
    mask_id, rect_id, _ = (r[3] for r in rows)
    # each row's thumbnail: the image under the object's box, the object in its label's colour
    label = page.js("const s = edgemask.state; return s.labels.find((l) => l.id === s.currentLabelId).color")
    colour = np.array([int(label[i:i + 2], 16) for i in (1, 3, 5)])
    centres = page.js("""return [...document.querySelectorAll('#object-list li .thumb canvas')].map((c) =>
        Array.from(c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data.slice(0, 3)));""")
    under = [(220, 60, 30), (40, 140, 60), (40, 140, 60)]  # the block, the green, the green
    for centre, image in zip(centres, under):
        assert np.abs(np.array(centre) - (0.65 * colour + 0.35 * np.array(image))).max() <= 4, (centre, image)
    assert len(centres) == 3

    def action(object_id, name):
        page.button(f"#object-list li[data-id='{object_id}'] button[data-action={name}]")

    action(rect_id, "back")                              # behind the whole-image polygon: no pixel shows
    page.wait(f"document.querySelector(\"#object-list li[data-id='{rect_id}']\").classList.contains('covered')")
    rows = {r[3]: r for r in _rows(page)}
    assert "Fully covered by the objects above it" in rows[rect_id][2] and rows[mask_id][2] is None
    assert page.driver.find_element("css selector", f"#object-list li[data-id='{rect_id}'] .covered-mark").is_displayed()
    action(mask_id, "back")
    page.wait(f"document.querySelector(\"#object-list li[data-id='{mask_id}']\").classList.contains('covered')")
    action(rect_id, "front")
    page.wait(f"!document.querySelector(\"#object-list li[data-id='{rect_id}']\").classList.contains('covered')")
    assert [r[4] for r in _rows(page)] == [False, False, True]  # the rectangle, the background, the mask

    # the rectangle over the block but one row taller, at the back (under the whole image) ...
    action(mask_id, "front")
    page.js(f"const o = edgemask.state.objects.find((x) => x.id === '{rect_id}'); "
            "o.polygon = [[300, 100], [420, 100], [420, 201], [300, 201]]; o.z = -5; edgemask.app.commit();")
    page.wait(f"document.querySelector(\"#object-list li[data-id='{rect_id}']\") !== null")
    assert [r[4] for r in _rows(page)] == [False, False, True]
    # ... then just under the mask: its last row shows, so it is not covered
    page.js(f"const o = edgemask.state.objects.find((x) => x.id === '{rect_id}'); o.z = 99; "
            "edgemask.state.objects.find((x) => x.kind === 'mask').z = 100; edgemask.app.commit();")
    page.wait(f"!document.querySelector(\"#object-list li[data-id='{rect_id}']\").classList.contains('covered')")
    assert [r[4] for r in _rows(page)] == [False, False, False]
    page.wait_saved()
    page.raise_js_errors()


def test_long_image_names_keep_their_ends_apart_at_1024(driver, serve, images):
    small = np.full((48, 64, 3), (40, 140, 60), np.uint8)
    long_names = [f"dive_site_north_reef_transect_hd_{k:02d}.jpg" for k in (1, 2)]
    for name in long_names:
        write_rgb(images / name, small)
    page = Page(driver, serve().url).open()
    resized(page, 1024, 700)
    rows = page.js("""return [...document.querySelectorAll('#image-list li')].map((li) => {
        const cell = li.querySelector('.name').getBoundingClientRect();
        const tail = li.querySelector('.name .tail');
        const t = tail.getBoundingClientRect();
        return [li.dataset.name, tail.textContent, t.left >= cell.left - 0.5 && t.right <= cell.right + 0.5,
                li.querySelector('.name').textContent];
    });""")
    shown = {name: (tail, inside, text) for name, tail, inside, text in rows}
    for name in long_names:
        tail, inside, text = shown[name]
        assert text == name and inside, (name, shown[name])  # the whole name is there, its end on screen
    assert shown[long_names[0]][0] != shown[long_names[1]][0]  # the visible ends tell them apart
    cell_width = page.js("return document.querySelector('#image-list li .name').getBoundingClientRect().width")
    head_cut = page.js("""const h = [...document.querySelectorAll('#image-list li')]
        .find((li) => li.dataset.name === arguments[0]).querySelector('.name .head');
        return h.scrollWidth > h.clientWidth;""", long_names[0])
    assert head_cut, cell_width  # the name is too long for the panel, so its middle is what gets cut
