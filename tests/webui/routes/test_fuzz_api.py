"""Fuzzing the API with hypothesis: whatever the body, the answer is a JSON 2xx/4xx, never 5xx.

Bodies are random JSON (deep nesting, lone surrogates, integers beyond 64 bits, NaN, control
characters), random bytes, and objects with the keys the routes read holding random values.
The number of examples is bounded so that the whole file runs in well under a minute.
"""

import json

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from webui_util import page_client  # noqa: E402

ANY_CHAR = st.characters(exclude_categories=())  # surrogates and control characters included
# strings that broke something once: lone surrogates, control characters, a colour with a newline
NASTY = st.sampled_from(["\ud800", "a\udfff", "\x00", "x\x01y", "#aabbcc\n", "#AABBCC", "\u2028", "\ufffe",
                         "", " ", "fish", "../x.png", "%s%n", "\u202e"])
TEXT = NASTY | st.text(ANY_CHAR, max_size=12)
NUMBER = (st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=True, allow_infinity=True)
          | st.sampled_from([0, 1, 5, 2**63 - 1, 2**63, -(2**63) - 1, 1e308]))
SCALAR = st.none() | st.booleans() | NUMBER | TEXT
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)
KEYS = ["version", "objects", "points", "box", "refine", "session", "x", "y", "tolerance", "name",
        "color", "position", "mask", "client", "id", "label_id", "kind", "polygon", "z", "hidden"]
OBJECT = st.fixed_dictionaries({}, optional={k: JSON for k in ["id", "label_id", "kind", "polygon", "z",
                                                                "hidden", "mask"]})
SHAPED = st.dictionaries(st.sampled_from(KEYS), JSON | st.lists(OBJECT, max_size=3), max_size=6)
MASKISH = st.sampled_from(["data:image/png;base64,", "data:image/png;base64,iVBORw0KGgo=",
                           "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABc3UWCgAAAABJRU5ErkJggg==",
                           "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAdTAAAHUwCAAAAAA6fptV"])

ROUTES = [
    ("PUT", "/api/images/square.png/annotations"),
    ("POST", "/api/labels"),
    ("PUT", "/api/labels/1"),
    ("DELETE", "/api/labels/{n}"),
    ("PUT", "/api/labels/{n}"),
    ("POST", "/api/images/square.png/predict"),
    ("POST", "/api/images/sub/portrait.jpg/wand"),
    ("POST", "/api/images/square.png/embedding"),
    ("POST", "/api/polygonize"),
    ("GET", "/api/images/{name}/annotations"),
    ("POST", "/api/images/{name}/predict"),
    ("PUT", "/api/images/square.png/status"),
    ("POST", "/api/labels/import"),
    ("DELETE", "/api/labels/{n}?objects=relabel&to={n}"),
    ("GET", "/api/images/{name}/thumbnail?size={n}"),
    ("GET", "/api/labels/{n}/usage"),
]
BODY = (JSON.map(lambda v: json.dumps(v).encode())
        | SHAPED.map(lambda v: json.dumps(v).encode())
        | st.builds(lambda m, t: json.dumps({"mask": m, "tolerance": t}).encode(), MASKISH, NUMBER)
        | st.builds(lambda d: ("[" * d + "]" * d).encode(), st.integers(1, 5000))
        | st.binary(max_size=40))


def _check(resp):
    assert resp.status_code < 500, (resp.status_code, resp.get_data(as_text=True)[:500])
    if resp.status_code >= 400:
        body = resp.get_json(silent=True)
        assert isinstance(body, dict) and isinstance(body.get("error"), str), resp.get_data(as_text=True)[:200]


def test_fuzzed_requests_never_give_5xx(app):
    client = page_client(app)

    @settings(max_examples=400, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(ROUTES), body=BODY, n=st.integers(-(2**70), 2**70),
           name=st.text(ANY_CHAR, min_size=1, max_size=10))
    def run(route, body, n, name):
        method, url = route
        url = url.replace("{n}", str(n)).replace("{name}", name.replace("/", "%2F").replace("?", "%3F"))
        try:
            url.encode("utf-8")
        except UnicodeEncodeError:
            url = url.encode("utf-8", "surrogatepass").decode("latin-1")
        resp = client.open(url, method=method, data=body, content_type="application/json")
        _check(resp)

    run()


PNG_1X1 = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABc3UWCgAAAABJRU5ErkJggg==")
VALID = {
    ("PUT", "/api/images/square.png/annotations"): {
        "version": None, "client": "page", "objects": [
            {"id": "a", "label_id": 1, "kind": "polygon", "polygon": [[1, 1], [9, 1], [9, 9]], "z": 0}]},
    ("POST", "/api/labels"): {"name": "new label", "color": "#112233"},
    ("PUT", "/api/labels/1"): {"name": "renamed", "color": "#112233", "position": 0},
    ("POST", "/api/images/square.png/predict"): {"points": [[5, 5, 1]], "box": [1, 1, 9, 9],
                                                 "refine": False, "session": "s"},
    ("POST", "/api/images/square.png/wand"): {"x": 3, "y": 3, "tolerance": 10},
    ("POST", "/api/polygonize"): {"mask": PNG_1X1, "tolerance": 1},
    ("PUT", "/api/images/square.png/status"): {"status": "done"},
    ("POST", "/api/labels/import"): {"text": "background\nseal #102030\n"},
}


def test_valid_bodies_with_one_field_fuzzed_never_give_5xx(app):
    """Near-valid bodies reach deeper than random ones: one field (top level or of the object)
    is replaced by random JSON or removed."""
    client = page_client(app)
    routes = sorted(VALID)

    @settings(max_examples=400, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(routes), pick=st.integers(0, 100), value=TEXT | JSON | st.just(KeyError),
           nested=st.booleans())
    def run(route, pick, value, nested):
        body = json.loads(json.dumps(VALID[route]))
        if "version" in body:
            body["version"] = client.get(route[1]).get_json()["version"]
        target = body["objects"][0] if nested and "objects" in body else body
        path = sorted(target)[pick % len(target)]
        if value is KeyError:
            target.pop(path, None)
        else:
            target[path] = value
        resp = client.open(route[1], method=route[0], data=json.dumps(body), content_type="application/json")
        _check(resp)

    run()


def test_fuzzed_saves_keep_the_store_consistent(app):
    """Random object lists: either the whole save is stored (200) or nothing is (4xx)."""
    client = page_client(app)
    url = "/api/images/square.png/annotations"

    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(objects=st.lists(OBJECT | st.fixed_dictionaries({
        "id": TEXT, "label_id": st.sampled_from([1, 2, 2**64]), "kind": st.just("polygon"),
        "polygon": st.lists(st.lists(NUMBER, min_size=2, max_size=2), min_size=0, max_size=5),
        "z": NUMBER}), max_size=4))
    def run(objects):
        before = client.get(url).get_json()
        resp = client.put(url, data=json.dumps({"version": before["version"], "objects": objects}),
                          content_type="application/json")
        _check(resp)
        after = client.get(url).get_json()
        if resp.status_code == 200:
            assert after["version"] == before["version"] + 1 and len(after["objects"]) == len(objects)
        else:
            assert after == before

    run()


# box-runs masks whose runs wrap int64 when summed, or each run alone is longer than any box
RUN = (st.integers(min_value=-(2**63), max_value=2**63 - 1)
       | st.sampled_from([0, 1, 3, 4, 2**31, 2**32, 2**62, 2**63 - 1, -1, -(2**63), 2**63 - 2])
       | st.integers(0, 50))
BOX = st.lists(st.integers(-3, 70) | st.sampled_from([2**31, 2**62, 2**63 - 1, -(2**63)]), min_size=4, max_size=4)
BOX_RUNS = st.fixed_dictionaries({"box": BOX, "runs": st.lists(RUN, max_size=8)})
WRAPPING = st.sampled_from([
    {"box": [0, 0, 1, 1], "runs": [2**63 - 1, 2**63 - 1, 3]},
    {"box": [0, 0, 1, 1], "runs": [2**62] * 4 + [1]},
    {"box": [0, 0, 2, 2], "runs": [2**63 - 1, 2**63 - 1, 6]},
    {"box": [0, 0, 64, 48], "runs": [2**64 - 3072 + 3072 * 2, -3072]},
])


def test_fuzzed_box_runs_never_give_5xx(app):
    """Masks in box-runs form with huge, negative and near-2**63 runs and boxes, on every route
    that decodes them: polygonize, PUT and PATCH annotations. Decoded with wrapped sums they
    would write out of bounds (a crash, see test_hostile_server.py for the subprocess checks)."""
    client = page_client(app)
    url = "/api/images/square.png/annotations"

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(mask=BOX_RUNS | WRAPPING, route=st.sampled_from(["polygonize", "put", "patch"]))
    def run(mask, route):
        obj = {"id": "m", "label_id": 1, "kind": "mask", "mask": mask}
        version = client.get(url).get_json()["version"]
        if route == "polygonize":
            resp = client.post("/api/polygonize", json={"mask": mask, "tolerance": 1})
        elif route == "put":
            resp = client.put(url, json={"version": version, "objects": [obj]})
        else:
            resp = client.patch(url, json={"version": version, "upsert": [obj]})
        _check(resp)
        if resp.status_code == 200 and route != "polygonize":
            stored = client.get(url).get_json()["objects"][0]["mask"]
            x0, y0, x1, y1 = stored["box"]
            assert sum(stored["runs"]) == (x1 - x0) * (y1 - y0)

    run()
