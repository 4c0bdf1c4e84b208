"""Every endpoint of the JSON API (docs/webui-api.md) through Flask's test client, bad input included."""

import io
import zipfile

import numpy as np
import pytest
from webui_util import SQUARE, page_client

from edgemask.runtime.shapes import box_runs_to_mask, mask_to_png_data_url


def _mask(h=48, w=64, box=(5, 5, 20, 15)):
    m = np.zeros((h, w), bool)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = True
    return m


def _label_id(client, index=0):
    return client.get("/api/labels").get_json()["labels"][index]["id"]


def _save(client, name, version, objects):
    return client.put(f"/api/images/{name}/annotations", json={"version": version, "objects": objects})


def _error(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert isinstance(body["error"], str) and body["error"].endswith(".")
    return body["error"]


# -- images -----------------------------------------------------------------------------------
def test_list_images_is_recursive_and_skips_hidden_and_non_images(client):
    body = client.get("/api/images").get_json()
    assert [(i["name"], i["width"], i["height"], i["objects"]) for i in body["images"]] == [
        ("square.png", 64, 48, 0), ("sub/portrait.jpg", 40, 60, 0)]
    assert (body["total"], body["annotated"]) == (2, 0)


def test_list_counts_annotated_images(client):
    assert _save(client, "sub/portrait.jpg", 0, [
        {"id": "a", "label_id": _label_id(client), "kind": "polygon", "polygon": [[1, 1], [5, 1], [5, 5]]},
    ]).status_code == 200
    body = client.get("/api/images").get_json()
    assert [i["objects"] for i in body["images"]] == [0, 1]
    assert body["annotated"] == 1


def test_image_file_serves_bytes(client, images_dir):
    resp = client.get("/api/images/sub/portrait.jpg/file")
    assert resp.status_code == 200
    assert resp.data == (images_dir / "sub" / "portrait.jpg").read_bytes()


@pytest.mark.parametrize("name", [
    "nope.png", "../images/square.png", "sub/../square.png", "%2Fetc%2Fpasswd.png", ".hidden.png",
    "notes.txt", "sub", "sub/./portrait.jpg", "escape.png",
])
def test_names_outside_or_not_listed_are_404(client, images_dir, tmp_path, name):
    outside = tmp_path / "secret.png"
    outside.write_bytes((images_dir / "square.png").read_bytes())
    (images_dir / "escape.png").symlink_to(outside)  # a symlink leaving the folder
    for path in (f"/api/images/{name}/file", f"/api/images/{name}/annotations"):
        _error(client.get(path), 404)
    _error(_save(client, name, 0, []), 404)
    assert "escape.png" not in [i["name"] for i in client.get("/api/images").get_json()["images"]]


def test_symlink_inside_the_folder_is_listed(client, images_dir):
    (images_dir / "link.png").symlink_to(images_dir / "square.png")
    names = [i["name"] for i in client.get("/api/images").get_json()["images"]]
    assert "link.png" in names
    assert client.get("/api/images/link.png/file").status_code == 200


# -- labels -----------------------------------------------------------------------------------
def test_new_store_gets_suim_preset(client):
    body = client.get("/api/labels").get_json()
    assert body["preset"] == "suim"
    assert body["labels"][1] == {"id": body["labels"][1]["id"], "name": "human divers", "color": "#0000ff"}
    assert len(body["labels"]) == 8


def test_add_update_delete_label(client):
    resp = client.post("/api/labels", json={"name": "turtle", "color": "#A0B0C0"})
    assert resp.status_code == 201
    new = resp.get_json()
    assert new["name"] == "turtle" and new["color"] == "#a0b0c0"
    body = client.get("/api/labels").get_json()
    assert body["labels"][-1] == new and body["preset"] is None
    resp = client.put(f"/api/labels/{new['id']}", json={"name": "sea turtle", "position": 0})
    assert resp.get_json()["name"] == "sea turtle"
    assert client.get("/api/labels").get_json()["labels"][0]["id"] == new["id"]
    resp = client.delete(f"/api/labels/{new['id']}")
    assert resp.status_code == 200 and resp.get_json()["deleted"] == new["id"]
    assert client.get("/api/labels").get_json()["preset"] == "suim"


@pytest.mark.parametrize("body", [
    {"name": "", "color": "#000000"}, {"name": "x", "color": "red"}, {"name": "x", "color": 5},
    {"name": 5, "color": "#000000"}, {"name": "x" * 101, "color": "#000000"}, [],
])
def test_add_label_rejects_bad_bodies(client, body):
    before = client.get("/api/labels").get_json()
    _error(client.post("/api/labels", json=body), 400)
    assert client.get("/api/labels").get_json() == before


def test_label_conflicts_and_unknown_ids(client):
    _error(client.post("/api/labels", json={"name": "robots", "color": "#000000"}), 409)
    _error(client.put("/api/labels/9999", json={"name": "x"}), 404)
    _error(client.put(f"/api/labels/{_label_id(client)}", json={"color": "#12345"}), 400)
    _error(client.put(f"/api/labels/{_label_id(client)}", json={"name": "robots"}), 409)
    _error(client.delete("/api/labels/9999"), 404)
    _error(client.get("/api/labels/abc"), 404)


def test_label_in_use_cannot_be_deleted(client):
    lid = _label_id(client, 2)
    assert _save(client, "square.png", 0, [
        {"id": "a", "label_id": lid, "kind": "polygon", "polygon": [[1, 1], [5, 1], [5, 5]]}]).status_code == 200
    assert "used by 1 object" in _error(client.delete(f"/api/labels/{lid}"), 409)
    assert lid in [lb["id"] for lb in client.get("/api/labels").get_json()["labels"]]


# -- annotations ------------------------------------------------------------------------------
def test_annotations_round_trip(client):
    lid = _label_id(client, 3)
    empty = client.get("/api/images/square.png/annotations").get_json()
    assert empty == {"image": "square.png", "width": 64, "height": 48, "version": 0, "objects": []}
    mask = _mask()
    objects = [
        {"id": "m1", "label_id": lid, "kind": "mask", "z": 1, "hidden": True, "mask": mask_to_png_data_url(mask)},
        {"id": "p1", "label_id": lid, "kind": "polygon", "z": 0, "polygon": [[0, 0], [64, 0], [32.5, 48]]},
    ]
    resp = _save(client, "square.png", 0, objects)
    assert resp.status_code == 200 and resp.get_json() == {"version": 1}
    body = client.get("/api/images/square.png/annotations").get_json()
    assert body["version"] == 1
    p, m = body["objects"]
    assert p == {"id": "p1", "label_id": lid, "kind": "polygon", "z": 0, "hidden": False,
                 "polygon": [[0, 0], [64, 0], [32.5, 48]], "bbox": [0, 0, 64, 48],
                 "occluded": False, "group": 0, "attributes": {}}
    assert (m["id"], m["hidden"], m["z"], m["bbox"]) == ("m1", True, 1, [5, 5, 20, 15])
    np.testing.assert_array_equal(box_runs_to_mask(m["mask"], 48, 64), mask)


def test_occluded_group_and_attributes_are_kept(client):
    lid = _label_id(client, 3)
    extra = {"occluded": True, "group": 4, "attributes": {"species": "cod", "count": 3, "adult": False}}
    objects = [{"id": "p1", "label_id": lid, "kind": "polygon", "polygon": [[1, 1], [9, 1], [5, 9]], **extra}]
    assert _save(client, "square.png", 0, objects).status_code == 200
    (back,) = client.get("/api/images/square.png/annotations").get_json()["objects"]
    assert {k: back[k] for k in extra} == extra


@pytest.mark.parametrize("extra, message", [
    ({"occluded": "yes"}, "occluded must be true or false"),
    ({"group": -1}, "group must be an integer >= 0"),
    ({"group": 2 ** 40}, "group must be an integer >= 0"),
    ({"attributes": ["a"]}, "attributes must be a dict"),
    ({"attributes": {"a": {"b": 1}}}, "must be text"),
    ({"attributes": {"bad\nname": "x"}}, "printable"),
])
def test_bad_extras_are_refused(client, extra, message):
    lid = _label_id(client, 3)
    objects = [{"id": "p1", "label_id": lid, "kind": "polygon", "polygon": [[1, 1], [9, 1], [5, 9]], **extra}]
    assert message in _error(_save(client, "square.png", 0, objects), 400)


def test_rgba_mask_uses_alpha(client):
    import base64

    import cv2

    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[10:20, 30:40] = (255, 0, 0, 255)
    ok, png = cv2.imencode(".png", rgba)
    url = "data:image/png;base64," + base64.b64encode(png.tobytes()).decode()
    assert _save(client, "square.png", 0, [
        {"id": "m", "label_id": _label_id(client), "kind": "mask", "mask": url}]).status_code == 200
    obj = client.get("/api/images/square.png/annotations").get_json()["objects"][0]
    assert obj["bbox"] == [30, 10, 40, 20]


def test_stale_version_gets_409_and_nothing_is_overwritten(client):
    lid = _label_id(client)
    tri = [[1, 1], [5, 1], [5, 5]]
    # two tabs load version 0; the first saves
    assert _save(client, "square.png", 0, [{"id": "tab1", "label_id": lid, "kind": "polygon", "polygon": tri}]).status_code == 200
    resp = _save(client, "square.png", 0, [{"id": "tab2", "label_id": lid, "kind": "polygon", "polygon": tri}])
    assert "another tab or window" in _error(resp, 409)
    assert resp.get_json()["version"] == 1
    body = client.get("/api/images/square.png/annotations").get_json()
    assert [o["id"] for o in body["objects"]] == ["tab1"]
    # the first tab keeps autosaving with its fresh version
    assert _save(client, "square.png", 1, []).get_json() == {"version": 2}


GOOD_POLY = [[1, 1], [5, 1], [5, 5]]


@pytest.mark.parametrize("make, message", [
    (lambda lid: {"version": "0", "objects": []}, "version"),
    (lambda lid: {"version": 0}, "objects"),
    (lambda lid: {"version": 0, "objects": ["x"]}, "JSON object"),
    (lambda lid: {"version": 0, "objects": [{"label_id": lid, "kind": "polygon", "polygon": GOOD_POLY}]}, "id"),
    (lambda lid: {"version": 0, "objects": [{"id": "a", "label_id": 999, "kind": "polygon", "polygon": GOOD_POLY}]}, "does not exist"),
    (lambda lid: {"version": 0, "objects": [{"id": "a", "label_id": lid, "kind": "circle"}]}, "kind"),
    (lambda lid: {"version": 0, "objects": [{"id": "a", "label_id": lid, "kind": "polygon", "polygon": [[1, 1], [2, 2]]}]}, "at least 3"),
    (lambda lid: {"version": 0, "objects": [{"id": "a", "label_id": lid, "kind": "polygon", "polygon": [[1, 1], [70, 1], [5, 5]]}]}, "outside"),
    (lambda lid: {"version": 0, "objects": [{"id": "a", "label_id": lid, "kind": "polygon", "polygon": [[1, 1], ["x", 1], [5, 5]]}]}, "finite"),
    (lambda lid: {"version": 0, "objects": [{"id": "a", "label_id": lid, "kind": "polygon", "z": 1.5, "polygon": GOOD_POLY}]}, "z"),
    (lambda lid: {"version": 0, "objects": [{"id": "a", "label_id": lid, "kind": "polygon", "hidden": "no", "polygon": GOOD_POLY}]}, "hidden"),
    (lambda lid: {"version": 0, "objects": [{"id": "a", "label_id": lid, "kind": "mask", "mask": mask_to_png_data_url(_mask(10, 10, (1, 1, 5, 5)))}]}, "10x10"),
    (lambda lid: {"version": 0, "objects": [{"id": "a", "label_id": lid, "kind": "mask", "mask": "data:image/png;base64,AAAA"}]}, "PNG"),
    (lambda lid: {"version": 0, "objects": [{"id": "a", "label_id": lid, "kind": "mask", "mask": "http://x/y.png"}]}, "data:image/png"),
    (lambda lid: {"version": 0, "objects": [{"id": "a", "label_id": lid, "kind": "polygon", "polygon": GOOD_POLY}] * 2}, "same id"),
])
def test_bad_annotations_are_400_and_nothing_stored(client, make, message):
    lid = _label_id(client)
    assert _save(client, "square.png", 0, [{"id": "keep", "label_id": lid, "kind": "polygon", "polygon": GOOD_POLY}]).status_code == 200
    body = make(lid)
    if isinstance(body.get("version"), int):
        body["version"] = 1
    resp = client.put("/api/images/square.png/annotations", json=body)
    assert message in _error(resp, 400)
    stored = client.get("/api/images/square.png/annotations").get_json()
    assert stored["version"] == 1 and [o["id"] for o in stored["objects"]] == ["keep"]


def test_non_json_body_is_400(client):
    resp = client.put("/api/images/square.png/annotations", data="not json",
                      content_type="application/json")
    _error(resp, 400)


# -- model and AI wand ------------------------------------------------------------------------
def test_model_info_with_predictor(client):
    assert client.get("/api/model").get_json()["loaded"] is True


def test_no_model_says_how_to_get_one(images_dir):
    from edgemask.webui import create_app

    app = create_app({"IMAGES_DIR": str(images_dir)})
    try:
        client = page_client(app)
        body = client.get("/api/model").get_json()
        assert body["loaded"] is False and body["name"] is None
        assert "edgemask models get efficientvit-sam-l0" in body["message"]
        assert "click the AI wand" in body["message"]
        assert "edgemask models get" in _error(client.post("/api/images/square.png/embedding"), 409)
        _error(client.post("/api/images/square.png/predict", json={"points": [[1, 1, 1]]}), 409)
        # the classic tools still work
        assert client.post("/api/images/square.png/wand", json={"x": 12, "y": 10, "tolerance": 10}).status_code == 200
    finally:
        app.extensions["edgemask"].store.close()


def test_broken_model_folder_reports_why(images_dir, tmp_path):
    from edgemask.webui import create_app

    (tmp_path / "model").mkdir()
    app = create_app({"IMAGES_DIR": str(images_dir), "MODEL_DIR": str(tmp_path / "model")})
    try:
        body = page_client(app).get("/api/model").get_json()
        assert body["loaded"] is False and "Could not load the model" in body["message"]
    finally:
        app.extensions["edgemask"].store.close()


def test_embedding_sets_image_once(client, fake_predictor):
    first = client.post("/api/images/square.png/embedding").get_json()
    assert first["ready"] is True and first["cached"] is False and first["ms"] >= 0
    second = client.post("/api/images/square.png/embedding").get_json()
    assert second["cached"] is True
    assert fake_predictor.set_calls == 1
    assert fake_predictor.image.shape == (48, 64, 3)
    _error(client.post("/api/images/nope.png/embedding"), 404)


def test_single_click_takes_best_multimask_output(client, fake_predictor):
    resp = client.post("/api/images/square.png/predict",
                       json={"points": [[15, 12, 1]], "box": None, "refine": False, "session": "t1"})
    body = resp.get_json()
    assert resp.status_code == 200, body
    call = fake_predictor.predict_calls[-1]
    assert call["multimask_output"] is True and call["mask_input"] is None and call["box"] is None
    np.testing.assert_allclose(call["point_coords"], [[15, 12]])
    np.testing.assert_array_equal(call["point_labels"], [1])
    mask = box_runs_to_mask(body["mask"], 48, 64)
    x0, y0, x1, y1 = SQUARE
    assert body["bbox"] == [x0, y0, x1, y1]
    assert body["area"] == (x1 - x0) * (y1 - y0) == int(mask.sum())
    assert body["score"] == pytest.approx(0.9)
    assert body["ms"] >= 0


def test_refine_passes_previous_logits_of_same_session_and_image(client, fake_predictor):
    url = "/api/images/square.png/predict"
    client.post(url, json={"points": [[15, 12, 1]], "session": "t1"})
    client.post(url, json={"points": [[15, 12, 1], [40, 40, 0]], "refine": True, "session": "t1"})
    call = fake_predictor.predict_calls[-1]
    assert call["multimask_output"] is False
    # the best multimask output was index 1, whose fake logits are all 1.0
    assert call["mask_input"].shape == (1, 256, 256) and np.all(call["mask_input"] == 1.0)
    np.testing.assert_array_equal(call["point_labels"], [1, 0])
    # another session has no previous logits
    client.post(url, json={"points": [[15, 12, 1], [40, 40, 0]], "refine": True, "session": "t2"})
    assert fake_predictor.predict_calls[-1]["mask_input"] is None
    # nor has the same session on another image
    client.post("/api/images/sub/portrait.jpg/predict", json={"points": [[5, 5, 1]], "refine": True, "session": "t1"})
    assert fake_predictor.predict_calls[-1]["mask_input"] is None


def test_box_prompt_gives_single_mask(client, fake_predictor):
    body = client.post("/api/images/square.png/predict", json={"points": [], "box": [2, 3, 12, 9]}).get_json()
    call = fake_predictor.predict_calls[-1]
    assert call["multimask_output"] is False and call["point_coords"] is None
    np.testing.assert_allclose(call["box"], [2, 3, 12, 9])
    assert body["bbox"] == [2, 3, 12, 9] and body["area"] == 60


def _leb128(text):
    """The integers of a base64 LEB128 string (decoded here byte by byte, independently)."""
    import base64

    values, cur, shift = [], 0, 0
    for byte in base64.b64decode(text):
        cur |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            values.append(cur)
            cur, shift = 0, 0
    assert shift == 0
    return values


@pytest.mark.parametrize("name, point", [("sub/portrait.jpg", [20, 30, 1]), ("square.png", [15, 12, 1]),
                                         ("square.png", [60, 44, 1])])
def test_compact_predict_answer_is_the_same_mask(client, name, point):
    url = f"/api/images/{name}/predict"
    plain = client.post(url, json={"points": [point]}).get_json()
    compact = client.post(url, json={"points": [point], "mask_format": "leb128"}).get_json()
    assert compact["mask"]["box"] == plain["mask"]["box"] == compact["bbox"] == plain["bbox"]
    assert _leb128(compact["mask"]["runs_leb128"]) == plain["mask"]["runs"]
    assert compact["area"] == plain["area"] and compact["score"] == plain["score"]
    assert set(compact["mask"]) == {"box", "runs_leb128"}


def test_compact_predict_answer_of_an_empty_mask(client):
    body = {"points": [], "box": [2, 3, 2, 9], "mask_format": "leb128"}  # no area: no pixel
    answer = client.post("/api/images/square.png/predict", json=body).get_json()
    assert answer["mask"] == {"box": [0, 0, 0, 0], "runs_leb128": ""} and answer["area"] == 0


@pytest.mark.parametrize("seed", range(4))
def test_compact_mask_answer_is_the_mask_at_any_size(seed):
    """mask_answer's LEB128 runs equal the JSON list's: speckled and smooth masks, boxes narrower
    than the image, masks that start inside their box, sizes that shrink and grow (the kept buffer)."""
    from edgemask.webui.routes.payloads import mask_answer

    rng = np.random.default_rng(seed)
    for h, w in [(37, 53), (300, 411), (5, 3), (1, 1), (260, 130)]:
        mask = rng.random((h, w)) < (0.5 if seed % 2 else 0.97)
        mask[: rng.integers(0, h), : rng.integers(0, w)] = False
        compact, plain = mask_answer(mask, "leb128"), mask_answer(mask, "runs")
        assert compact["mask"]["box"] == plain["mask"]["box"] and compact["area"] == plain["area"] == mask.sum()
        assert _leb128(compact["mask"]["runs_leb128"]) == plain["mask"]["runs"]


def test_leb128_holds_large_runs():
    from edgemask.webui.routes.payloads import leb128_base64

    values = [0, 1, 127, 128, 300, 16383, 16384, 2 ** 21, 2 ** 28 + 5, 2 ** 32 - 1, 2 ** 34]
    assert _leb128(leb128_base64(values)) == values
    assert _leb128(leb128_base64([])) == []


@pytest.mark.parametrize("body, message", [
    ({"points": [[65, 10, 1]]}, "outside"),
    ({"points": [[10, -1, 1]]}, "outside"),
    ({"points": [[10, 10, 2]]}, "[x, y, 1]"),
    ({"points": [[10, 10]]}, "[x, y, 1]"),
    ({"points": [[10, "a", 1]]}, "finite"),
    ({"points": "x"}, "points"),
    ({"points": []}, "at least one point or a box"),
    ({"points": [], "box": [10, 10, 5, 20]}, "box"),
    ({"points": [], "box": [0, 0, 100, 20]}, "box"),
    ({"points": [], "box": [0, 0, 5]}, "box"),
    ({"points": [[1, 1, 1]], "refine": "yes"}, "refine"),
    ({"points": [[1, 1, 1]], "session": 5}, "session"),
    ({"points": [[1, 1, 1]], "mask_format": "png"}, "mask_format"),
])
def test_bad_predict_requests_are_400(client, fake_predictor, body, message):
    assert message in _error(client.post("/api/images/square.png/predict", json=body), 400)
    assert fake_predictor.predict_calls == []


def test_predict_unknown_image_is_404(client):
    _error(client.post("/api/images/../x.png/predict", json={"points": [[1, 1, 1]]}), 404)


# -- classic wand and polygonize --------------------------------------------------------------
def test_wand_fills_the_square(client):
    body = client.post("/api/images/square.png/wand", json={"x": 12, "y": 10, "tolerance": 10}).get_json()
    x0, y0, x1, y1 = SQUARE
    assert body["bbox"] == [x0, y0, x1, y1] and body["area"] == (x1 - x0) * (y1 - y0)
    mask = box_runs_to_mask(body["mask"], 48, 64)
    assert mask[y0:y1, x0:x1].all() and mask.sum() == body["area"]
    everything = client.post("/api/images/square.png/wand", json={"x": 0, "y": 0, "tolerance": 255}).get_json()
    assert everything["area"] == 64 * 48


@pytest.mark.parametrize("body", [
    {"x": 64, "y": 10, "tolerance": 10}, {"x": 1, "y": -1, "tolerance": 10},
    {"x": 1, "y": 1, "tolerance": 300}, {"x": "1", "y": 1, "tolerance": 3}, {"y": 1},
])
def test_bad_wand_requests_are_400(client, body):
    _error(client.post("/api/images/square.png/wand", json=body), 400)


def test_polygonize_gives_outer_rings(client):
    mask = _mask(box=(5, 5, 20, 15))
    mask[8:10, 8:10] = False  # a hole: not in the answer
    mask[30:40, 40:50] = True
    body = client.post("/api/polygonize", json={"mask": mask_to_png_data_url(mask), "tolerance": 0}).get_json()
    polys = sorted(body["polygons"], key=lambda p: min(x for x, _ in p))
    assert len(polys) == 2
    for poly, (x0, y0, x1, y1) in zip(polys, [(5, 5, 20, 15), (40, 30, 50, 40)]):
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        assert (min(xs), min(ys), max(xs), max(ys)) == pytest.approx((x0, y0, x1, y1), abs=0.5)


@pytest.mark.parametrize("body", [
    {"mask": "nope"}, {"mask": "data:image/png;base64,!!!!"}, {"mask": mask_to_png_data_url(_mask()), "tolerance": -1}, {},
])
def test_bad_polygonize_requests_are_400(client, body):
    _error(client.post("/api/polygonize", json=body), 400)


# -- misc -------------------------------------------------------------------------------------
def test_unknown_endpoint_and_method_are_json_errors(client):
    _error(client.get("/api/nothing"), 404)
    _error(client.delete("/api/images"), 405)


def test_index_page(client):
    resp = client.get("/")
    assert resp.status_code == 200 and b"<html" in resp.data.lower()


# -- export -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, member", [
    ("coco", "annotations/instances_default.json"), ("cvat-xml", "annotations.xml"),
    ("index-png", None), ("color-png", None), ("cvat-mask", None),
])
def test_export_zip_holds_saved_images_only(client, fmt, member):
    lid = _label_id(client, 1)
    assert _save(client, "sub/portrait.jpg", 0, [
        {"id": "a", "label_id": lid, "kind": "mask", "mask": mask_to_png_data_url(_mask(60, 40, (2, 3, 20, 30)))},
    ]).status_code == 200
    resp = client.get(f"/api/export/{fmt}")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert f"-{fmt}.zip" in resp.headers["Content-Disposition"]
    names = zipfile.ZipFile(io.BytesIO(resp.data)).namelist()
    assert not any(n.endswith((".jpg", ".jpeg")) for n in names)  # no image copies
    assert not any("square" in n for n in names)  # never saved: not exported
    if member:
        assert member in names
        text = zipfile.ZipFile(io.BytesIO(resp.data)).read(member).decode()
        assert "portrait.jpg" in text and "human divers" in text
    else:
        assert any("portrait" in n and n.endswith(".png") for n in names)


def test_export_unknown_format_is_404(client):
    assert "index-png" in _error(client.get("/api/export/yolo"), 404)


# -- the real runtime Predictor behind the API --------------------------------------------------
@pytest.fixture
def runtime_client(images_dir, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))  # the embedding cache goes here
    from edgemask.webui import create_app

    app = create_app({"IMAGES_DIR": str(images_dir), "MODEL_DIR": str(tiny_model_dir), "DEVICE": "cpu"})
    yield page_client(app), app.extensions["edgemask"].assistant.predictor
    app.extensions["edgemask"].assistant.predictor.close()
    app.extensions["edgemask"].store.close()


def test_runtime_predictor_embedding_prefetch_predict_refine(runtime_client):
    client, predictor = runtime_client
    info = client.get("/api/model").get_json()
    assert info["loaded"] is True and info["name"] == "tiny-test-model (fp32)"
    first = client.post("/api/images/square.png/embedding").get_json()
    assert first["ready"] is True and first["cached"] is False
    assert predictor.wait_prefetch(timeout=30)
    runs = predictor.encoder_runs
    assert runs == 2  # square.png, then sub/portrait.jpg prefetched
    # the prefetched next image needs no encoder run
    assert client.post("/api/images/sub/portrait.jpg/embedding").get_json()["cached"] is True
    assert predictor.encoder_runs == runs

    body = client.post("/api/images/sub/portrait.jpg/predict",
                       json={"points": [[10, 20, 1]], "session": "s"}).get_json()
    mask = box_runs_to_mask(body["mask"], 60, 40)  # original image size, portrait
    assert body["area"] == int(mask.sum())
    assert isinstance(body["score"], float) and body["ms"] > 0
    refined = client.post("/api/images/sub/portrait.jpg/predict",
                          json={"points": [[10, 20, 1], [30, 50, 0]], "refine": True, "session": "s"})
    assert refined.status_code == 200
    box_runs_to_mask(refined.get_json()["mask"], 60, 40)
    box = client.post("/api/images/square.png/predict", json={"points": [], "box": [1, 2, 30, 40]})
    assert box.status_code == 200
    assert predictor.encoder_runs == runs  # square.png came from the cache


def test_predictor_calls_are_serialized(client, fake_predictor):
    """Waitress runs requests in threads; the predictor must see one call at a time."""
    import threading

    fake_predictor.delay = 0.02
    app = client.application
    statuses = []

    def worker(i):
        c = page_client(app)
        name = "square.png" if i % 2 else "sub/portrait.jpg"
        statuses.append(c.post(f"/api/images/{name}/predict", json={"points": [[5, 5, 1]], "session": str(i)}).status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 8
    assert len(fake_predictor.predict_calls) == 8 and fake_predictor.max_active == 1


def test_exif_rotated_image_has_displayed_size(client, images_dir):
    from PIL import Image

    im = Image.new("RGB", (30, 20), (200, 10, 10))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90: shown 20 wide, 30 high
    im.save(images_dir / "rotated.jpg", exif=exif)
    entry = next(i for i in client.get("/api/images").get_json()["images"] if i["name"] == "rotated.jpg")
    assert (entry["width"], entry["height"]) == (20, 30)
    body = client.post("/api/images/rotated.jpg/wand", json={"x": 1, "y": 1, "tolerance": 40}).get_json()
    assert box_runs_to_mask(body["mask"], 30, 20).all()
    mask = _mask(30, 20, (0, 0, 5, 5))
    assert _save(client, "rotated.jpg", 0, [{"id": "a", "label_id": _label_id(client), "kind": "mask",
                                             "mask": mask_to_png_data_url(mask)}]).status_code == 200


def test_empty_mask_is_kept_with_empty_bbox(client):
    lid = _label_id(client)
    empty = mask_to_png_data_url(np.zeros((48, 64), bool))
    assert _save(client, "square.png", 0, [{"id": "e", "label_id": lid, "kind": "mask", "mask": empty}]).status_code == 200
    obj = client.get("/api/images/square.png/annotations").get_json()["objects"][0]
    assert obj["bbox"] == [0, 0, 0, 0] and not box_runs_to_mask(obj["mask"], 48, 64).any()


def test_flat_box_is_accepted_and_runtime_prompt_errors_are_400(client, fake_predictor, monkeypatch):
    assert client.post("/api/images/square.png/predict", json={"points": [], "box": [2, 3, 12, 3]}).status_code == 200

    def refuse(**_):
        raise ValueError("point_labels must be 1 (foreground) or 0 (background)")

    monkeypatch.setattr(fake_predictor, "predict", refuse)
    message = _error(client.post("/api/images/square.png/predict", json={"points": [[1, 1, 1]]}), 400)
    assert "cannot use this prompt" in message


def test_local_only_refuses_other_host_names(images_dir):
    from edgemask.webui import create_app

    app = create_app({"IMAGES_DIR": str(images_dir), "LOCAL_ONLY": True})
    try:
        client = page_client(app)
        assert client.get("/api/images", base_url="http://127.0.0.1:8765").status_code == 200
        assert client.get("/api/images", base_url="http://localhost:8765").status_code == 200
        assert client.get("/api/images", base_url="http://[::1]:8765").status_code == 200
        _error(client.get("/api/images", base_url="http://evil.example:8765"), 403)
    finally:
        app.extensions["edgemask"].store.close()


def test_unexpected_server_error_is_json_500(client, fake_predictor, monkeypatch):
    def crash(**_):
        raise RuntimeError("session lost")

    monkeypatch.setattr(fake_predictor, "predict", crash)
    resp = client.post("/api/images/square.png/predict", json={"points": [[1, 1, 1]]})
    assert resp.status_code == 500 and "session lost" in resp.get_json()["error"]


def test_labels_file_seeds_a_new_store_and_is_kept_on_restart(images_dir, tmp_path):
    from edgemask.webui import create_app

    labels = tmp_path / "labels.txt"
    labels.write_text("background\ncat #ff0000\ndog\n")
    db = tmp_path / "labels.sqlite"
    for config in ({"LABELS": str(labels)}, {}, {"LABELS": "suim"}):
        app = create_app({"IMAGES_DIR": str(images_dir), "DB_PATH": str(db), **config})
        body = page_client(app).get("/api/labels").get_json()
        app.extensions["edgemask"].store.close()
        names = [lb["name"] for lb in body["labels"]]
        if "LABELS" in config and config["LABELS"] == "suim":
            assert names[:2] == ["cat", "dog"] and len(names) == 10  # SUIM names added after
        else:
            assert names == ["cat", "dog"] and body["labels"][0]["color"] == "#ff0000"
            assert body["preset"] is None


# -- masks as box-runs and partial saves ----------------------------------------------------------
def _patch(client, name, version, **changes):
    return client.patch(f"/api/images/{name}/annotations", json={"version": version, **changes})


def _runs_of(mask):
    from edgemask.runtime.shapes import mask_to_box_runs

    return mask_to_box_runs(mask)


def test_masks_travel_as_their_box_and_runs(client):
    lid = _label_id(client)
    mask = _mask(box=(5, 5, 20, 15))
    mask[8:10, 8:10] = False  # a hole
    loose = {"box": [0, 0, 64, 48], "runs": _full_runs(mask)}  # a box larger than the mask is fine
    assert _save(client, "square.png", 0, [{"id": "m", "label_id": lid, "kind": "mask", "mask": loose}]).status_code == 200
    obj = client.get("/api/images/square.png/annotations").get_json()["objects"][0]
    # answered with the tight box: 15 x 10 pixels, row by row
    assert obj["mask"]["box"] == obj["bbox"] == [5, 5, 20, 15]
    assert sum(obj["mask"]["runs"]) == 150
    # rows 5-7 and 3 pixels of row 8 inside, the hole's 2, the rest of row 8 and 3 of row 9
    assert obj["mask"]["runs"][:4] == [0, 48, 2, 13]
    np.testing.assert_array_equal(box_runs_to_mask(obj["mask"], 48, 64), mask)


def _full_runs(mask):
    flat = mask.ravel()
    runs, cur, n = [], False, 0
    for v in flat:
        if bool(v) != cur:
            runs.append(n)
            cur, n = bool(v), 0
        n += 1
    return runs + [n]


def test_patch_saves_only_the_named_changes(client):
    lid, other = _label_id(client), _label_id(client, 1)
    tri = [[1, 1], [30, 1], [15, 20]]
    first = [{"id": "a", "label_id": lid, "kind": "polygon", "polygon": tri, "z": 0},
             {"id": "b", "label_id": lid, "kind": "mask", "mask": _runs_of(_mask(box=(40, 30, 50, 40))), "z": 1},
             {"id": "c", "label_id": lid, "kind": "polygon", "polygon": tri, "z": 2}]
    resp = _patch(client, "square.png", 0, upsert=first)
    assert resp.status_code == 200 and resp.get_json() == {"version": 1}
    grown = _mask(box=(40, 30, 60, 45))
    resp = _patch(client, "square.png", 1, upsert=[{"id": "b", "label_id": lid, "kind": "mask", "z": 1,
                                                      "mask": _runs_of(grown)}],
                  update=[{"id": "a", "label_id": other, "hidden": True, "z": 3}], delete=["c"])
    assert resp.get_json() == {"version": 2}
    body = client.get("/api/images/square.png/annotations").get_json()
    assert [o["id"] for o in body["objects"]] == ["b", "a"]
    b, a = body["objects"]
    np.testing.assert_array_equal(box_runs_to_mask(b["mask"], 48, 64), grown)
    assert b["bbox"] == [40, 30, 60, 45]
    assert (a["label_id"], a["hidden"], a["z"], a["polygon"]) == (other, True, 3, tri)
    # an empty change list still saves (an image saved with no change is "looked at")
    assert _patch(client, "sub/portrait.jpg", 0).get_json() == {"version": 1}
    assert client.get("/api/images/sub/portrait.jpg/annotations").get_json()["version"] == 1
    # a stale version is a conflict and changes nothing
    resp = _patch(client, "square.png", 1, delete=["a"])
    assert resp.status_code == 409 and resp.get_json()["version"] == 2
    assert len(client.get("/api/images/square.png/annotations").get_json()["objects"]) == 2


@pytest.mark.parametrize("mask, message", [
    ({"box": [60, 40, 70, 44], "runs": [40]}, "not inside the 64x48 image"),
    ({"box": [-1, 0, 3, 3], "runs": [12]}, "not inside"),
    ({"box": [0, 0, 2, 2], "runs": [1, 2, 2]}, "cover 5 pixels but its 2x2 box has 4"),
    ({"box": [0, 0, 2, 2], "runs": [1, 2]}, "cover 3 pixels"),
    ({"box": [0, 0, 2, 2], "runs": [-1, 5]}, "non-negative integers"),
    ({"box": [0, 0, 2, 2], "runs": [1.5, 2.5]}, "non-negative integers"),
    ({"box": [0, 0, 2, 2], "runs": "4"}, "non-negative integers"),
    ({"box": [0, 0, 2], "runs": [4]}, "4 integers"),
    ({"runs": [4]}, "box"),
])
def test_bad_box_runs_masks_are_400_and_nothing_stored(client, mask, message):
    lid = _label_id(client)
    assert _patch(client, "square.png", 0, upsert=[{"id": "keep", "label_id": lid, "kind": "polygon",
                                                    "polygon": GOOD_POLY}]).status_code == 200
    bad = {"id": "bad", "label_id": lid, "kind": "mask", "mask": mask}
    assert message in _error(_patch(client, "square.png", 1, upsert=[bad], delete=["keep"]), 400)
    assert message in _error(_save(client, "square.png", 1, [bad]), 400)
    stored = client.get("/api/images/square.png/annotations").get_json()
    assert stored["version"] == 1 and [o["id"] for o in stored["objects"]] == ["keep"]


@pytest.mark.parametrize("changes, message", [
    ({"delete": ["nope"]}, "not stored"),
    ({"update": [{"id": "nope", "z": 2}]}, "not stored"),
    ({"update": [{"id": "keep", "kind": "mask"}]}, "may change only"),
    ({"update": [{"id": "keep", "label_id": 999}]}, "label id"),
    ({"update": [{"id": "keep", "hidden": "yes"}]}, "hidden"),
    ({"upsert": [{"id": "keep", "label_id": 1, "kind": "polygon", "polygon": GOOD_POLY}], "delete": ["keep"]}, "twice"),
    ({"delete": "keep"}, "must be a list"),
    ({"delete": [3]}, "object ids"),
])
def test_bad_patches_are_400_and_nothing_stored(client, changes, message):
    lid = _label_id(client)
    assert _patch(client, "square.png", 0, upsert=[{"id": "keep", "label_id": lid, "kind": "polygon",
                                                    "polygon": GOOD_POLY}]).status_code == 200
    assert message in _error(_patch(client, "square.png", 1, **changes), 400)
    stored = client.get("/api/images/square.png/annotations").get_json()
    assert stored["version"] == 1 and stored["objects"][0]["polygon"] == GOOD_POLY


def test_polygonize_takes_box_runs(client):
    mask = np.zeros((48, 64), bool)
    mask[30:40, 40:50] = True
    body = client.post("/api/polygonize", json={"mask": _runs_of(mask), "tolerance": 0}).get_json()
    from edgemask.runtime.shapes import polygons_to_mask

    np.testing.assert_array_equal(polygons_to_mask(body["polygons"], 48, 64), mask)
    assert "cover" in _error(client.post("/api/polygonize", json={"mask": {"box": [0, 0, 2, 2], "runs": [5]}}), 400)
    huge = {"box": [0, 0, 100000, 100000], "runs": [10 ** 10]}  # refused before any memory is taken
    assert "within" in _error(client.post("/api/polygonize", json={"mask": huge}), 400)


def test_model_damage_found_after_start_shows_as_a_warning(images_dir, tiny_model_dir, tmp_path):
    """Damage that keeps a file's size and mtime is trusted at load; the re-check after start finds it
    and /api/model and the embedding answer carry one sentence for the page's AI-wand line."""
    import os
    import shutil
    import time

    from edgemask.runtime.model_folder import load_model_folder
    from edgemask.webui import create_app

    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    load_model_folder(folder)  # verified once: remembered by size and mtime
    path = folder / "decoder.onnx"
    st = path.stat()
    data = bytearray(path.read_bytes())
    # one flipped bit inside the largest weight: the graph still loads, its numbers are wrong
    import onnx

    floats = [t for t in onnx.load(str(path)).graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
    weight = max(floats, key=lambda t: len(t.raw_data)).raw_data
    data[bytes(data).find(weight) + len(weight) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    app = create_app({"IMAGES_DIR": str(images_dir), "MODEL_DIR": str(folder), "DEVICE": "cpu",
                      "DB_PATH": str(tmp_path / "db.sqlite"), "CACHE_DIR": str(tmp_path / "cache")})
    client = app.test_client()
    assert client.get("/api/model").get_json()["loaded"], client.get("/api/model").get_json()["message"]
    deadline = time.time() + 30
    while client.get("/api/model").get_json()["warning"] is None:
        assert time.time() < deadline, "the background check never reported the damaged decoder"
        time.sleep(0.05)
    info = client.get("/api/model").get_json()
    assert info["loaded"] and "decoder.onnx" in info["warning"] and "\n" not in info["warning"]
    name = client.get("/api/images").get_json()["images"][0]["name"]
    answer = client.post(f"/api/images/{name}/embedding", json={}).get_json()
    assert answer["model_warning"] == info["warning"]
    app.extensions["edgemask"].assistant.predictor.close()
    app.extensions["edgemask"].store.close()
