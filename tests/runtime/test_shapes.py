import base64

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from edgemask.runtime.shapes import (
    mask_bbox,
    mask_to_outer_polygons,
    mask_to_png_data_url,
    mask_to_polygons,
    mask_to_rle,
    png_data_url_to_mask,
    polygons_to_mask,
    rle_to_mask,
)


def blobs(rng, h, w, count=4):
    """Filled ellipses with a round hole punched in the middle."""
    canvas = np.zeros((h, w), np.uint8)
    for _ in range(count):
        center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(8, max(9, w // 3))), int(rng.integers(8, max(9, h // 3))))
        cv2.ellipse(canvas, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    cv2.circle(canvas, (w // 2, h // 2), max(3, min(h, w) // 10), 0, -1)
    return canvas.astype(bool)


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.mark.parametrize("seed", range(6))
def test_polygons_give_the_mask_back_exactly_without_simplification(seed):
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(1, 48, 2))
    mask = rng.random((h, w)) < rng.uniform(0.2, 0.8)  # noise: pinches, holes, border pixels
    polygons = mask_to_polygons(mask, tolerance=0)
    assert np.array_equal(polygons_to_mask(polygons, h, w), mask)


@pytest.mark.parametrize("tolerance", [0.5, 1.0])
def test_simplified_polygons_keep_blobs(tolerance):
    rng = np.random.default_rng(7)
    for h, w in [(120, 200), (201, 97), (64, 64), (333, 129)]:
        mask = blobs(rng, h, w)
        simplified = mask_to_polygons(mask, tolerance=tolerance)
        assert iou(polygons_to_mask(simplified, h, w), mask) > 0.97
        exact = mask_to_polygons(mask, tolerance=0)
        vertices = lambda ps: sum(len(p["exterior"]) + sum(map(len, p["holes"])) for p in ps)
        assert vertices(simplified) < vertices(exact) / 2


def test_parts_and_holes_are_separate_rings():
    mask = np.zeros((40, 60), bool)
    mask[5:35, 5:25] = True
    mask[12:20, 10:18] = False  # a hole in the first part
    mask[10:30, 40:55] = True  # a second part
    polygons = mask_to_polygons(mask, tolerance=0)
    assert len(polygons) == 2
    assert sorted(len(p["holes"]) for p in polygons) == [0, 1]
    for p in polygons:
        ring = np.asarray(p["exterior"])
        assert ring.ndim == 2 and ring.shape[1] == 2
    outer = mask_to_outer_polygons(mask, tolerance=0)
    assert len(outer) == 2 and all(isinstance(pt, list) and len(pt) == 2 for ring in outer for pt in ring)
    filled = polygons_to_mask(outer, 40, 60)
    assert filled[15, 14] and not polygons_to_mask(polygons, 40, 60)[15, 14]


def test_pycocotools_reads_traced_polygons_as_the_same_pixels():
    mask = blobs(np.random.default_rng(2), 90, 130)
    rings = [np.ravel(r).tolist() for r in mask_to_outer_polygons(mask, tolerance=0)]
    # outer rings only: compare against the mask with its holes filled
    filled = polygons_to_mask(mask_to_outer_polygons(mask, tolerance=0), 90, 130)
    coco = mask_utils.decode(mask_utils.frPyObjects(rings, 90, 130)).max(axis=2).astype(bool)
    assert np.array_equal(coco, filled)
    assert filled.sum() > mask.sum()  # the hole was filled


def test_island_inside_a_hole_is_kept():
    mask = np.zeros((30, 30), bool)
    mask[2:28, 2:28] = True
    mask[8:22, 8:22] = False
    mask[13:17, 13:17] = True
    assert np.array_equal(polygons_to_mask(mask_to_polygons(mask, 0), 30, 30), mask)


def test_pixel_corner_convention():
    # a rectangle along pixel edges covers exactly the pixels inside it
    mask = polygons_to_mask([[[2, 3], [7, 3], [7, 9], [2, 9]]], 12, 10)
    expected = np.zeros((12, 10), bool)
    expected[3:9, 2:7] = True
    assert np.array_equal(mask, expected)
    # and a traced mask stays within the pixel squares it covers
    ring = np.asarray(mask_to_polygons(expected, 0)[0]["exterior"])
    assert ring[:, 0].min() >= 2 and ring[:, 0].max() <= 7
    assert ring[:, 1].min() >= 3 and ring[:, 1].max() <= 9


def test_polygon_holes_are_cut_and_polygons_unite():
    outer = [[0, 0], [20, 0], [20, 20], [0, 20]]
    hole = [[5, 5], [15, 5], [15, 15], [5, 15]]
    mask = polygons_to_mask([{"exterior": outer, "holes": [hole]}, [[8, 8], [12, 8], [12, 12], [8, 12]]], 20, 20)
    assert mask.sum() == 400 - 100 + 16
    assert mask[0, 0] and not mask[6, 6] and mask[10, 10]


def test_min_area_and_empty_masks():
    assert mask_to_polygons(np.zeros((10, 10), bool)) == []
    mask = np.zeros((20, 20), bool)
    mask[1, 1] = True
    mask[5:15, 5:15] = True
    assert len(mask_to_polygons(mask, 0)) == 2
    assert len(mask_to_polygons(mask, 0, min_area=4)) == 1


def test_polygons_to_mask_rejects_bad_rings():
    with pytest.raises(ValueError, match="at least 3 points"):
        polygons_to_mask([[[0, 0], [1, 1]]], 5, 5)
    with pytest.raises(ValueError, match="finite"):
        polygons_to_mask([[[0, 0], [1, np.nan], [2, 2]]], 5, 5)
    with pytest.raises(ValueError, match="exterior"):
        polygons_to_mask([{"holes": []}], 5, 5)


def test_rle_round_trip_and_coco_compatibility():
    rng = np.random.default_rng(3)
    mask = rng.random((37, 53)) > 0.5
    rle = mask_to_rle(mask)
    assert rle["size"] == [37, 53] and isinstance(rle["counts"], str)
    assert np.array_equal(rle_to_mask(rle), mask)
    assert np.array_equal(rle_to_mask({**rle, "counts": rle["counts"].encode()}), mask)
    # pycocotools reads it as its own
    decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    assert np.array_equal(decoded.astype(bool), mask)


def test_uncompressed_rle_is_read():
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:4] = True
    flat = mask.flatten(order="F").astype(int)  # COCO runs go down the columns
    runs, value, count = [], 0, 0
    for v in flat:
        if v == value:
            count += 1
        else:
            runs.append(count)
            value, count = v, 1
    runs.append(count)
    assert np.array_equal(rle_to_mask({"size": [4, 5], "counts": runs}), mask)


@pytest.mark.parametrize("rle", [
    {"size": [4, 4]},
    {"size": [4, 4], "counts": [3, 2]},
    {"size": [4, 4], "counts": "bad counts with spaces ~"},
    {"size": "4x4", "counts": ""},
    {"size": [4, 4], "counts": 12},
])
def test_malformed_rle_raises(rle):
    with pytest.raises(ValueError):
        rle_to_mask(rle)


def test_mask_bbox():
    mask = np.zeros((10, 20), bool)
    assert mask_bbox(mask) is None
    mask[2:5, 7:9] = True
    mask[8, 3] = True
    assert mask_bbox(mask) == (3, 2, 9, 9)


def test_png_data_url_round_trip():
    rng = np.random.default_rng(5)
    mask = rng.random((31, 45)) > 0.5
    url = mask_to_png_data_url(mask)
    assert url.startswith("data:image/png;base64,")
    png = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.ndim == 2 and set(np.unique(png)) <= {0, 255}
    assert np.array_equal(png_data_url_to_mask(url, 31, 45), mask)


def test_png_data_url_any_channel_or_alpha_counts():
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[1, 1, 0] = 10  # blue in BGR order
    rgba[2, 2, 3] = 1  # alpha only
    ok, png = cv2.imencode(".png", rgba)
    url = "data:image/png;base64," + base64.b64encode(png.tobytes()).decode()
    mask = png_data_url_to_mask(url)
    assert mask.sum() == 2 and mask[1, 1] and mask[2, 2]


def test_png_data_url_errors():
    good = mask_to_png_data_url(np.ones((4, 6), bool))
    with pytest.raises(ValueError, match="base64"):
        png_data_url_to_mask("data:image/png;base64,@@@not base64@@@")
    with pytest.raises(ValueError, match="not hold a PNG"):
        png_data_url_to_mask("data:image/png;base64," + base64.b64encode(b"GIF89a....").decode())
    with pytest.raises(ValueError, match="data:image/png"):
        png_data_url_to_mask("data:image/jpeg;base64," + good.split(",", 1)[1])
    with pytest.raises(ValueError, match="data:image/png"):
        png_data_url_to_mask(good.split(",", 1)[1])
    with pytest.raises(ValueError, match="4 pixels, but the image is 6x5|6x4 pixels"):
        png_data_url_to_mask(good, 5, 6)
    truncated = base64.b64encode(base64.b64decode(good.split(",", 1)[1])[:20]).decode()
    with pytest.raises(ValueError, match="corrupt"):
        png_data_url_to_mask("data:image/png;base64," + truncated)


def test_box_runs_round_trip_and_convert_losslessly():
    from edgemask.runtime.shapes import (box_runs_area, box_runs_to_mask, box_runs_to_rle, mask_to_box_runs,
                                         rle_to_box_runs, rle_to_mask)

    rng = np.random.default_rng(3)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random((h, w)) < rng.random()
        value = mask_to_box_runs(mask)
        assert sum(value["runs"]) == (value["box"][2] - value["box"][0]) * (value["box"][3] - value["box"][1])
        assert box_runs_area(value) == int(mask.sum())
        np.testing.assert_array_equal(box_runs_to_mask(value, h, w), mask)
        np.testing.assert_array_equal(rle_to_mask(box_runs_to_rle(value, h, w)), mask)
        assert rle_to_box_runs(box_runs_to_rle(value, h, w)) == value
    assert mask_to_box_runs(np.zeros((3, 4), bool)) == {"box": [0, 0, 0, 0], "runs": []}
    corner = np.zeros((3, 4), bool)
    corner[1, 2] = corner[2, 3] = True
    assert mask_to_box_runs(corner) == {"box": [2, 1, 4, 3], "runs": [0, 1, 2, 1]}


@pytest.mark.parametrize("value, message", [
    ({"box": [0, 0, 5, 2], "runs": [10]}, "not inside the 4x3 image"),
    ({"box": [2, 2, 1, 3], "runs": []}, "not inside"),
    ({"box": [0, 0, 2, 2], "runs": [1, 2, 2]}, "cover 5 pixels"),
    ({"box": [0, 0, 2, 2], "runs": [-1, 5]}, "non-negative"),
    ({"box": [0, 0, 2, 2], "runs": [True, 3]}, "non-negative"),
    ({"box": [0, 0, 2, 2.0], "runs": [4]}, "4 integers"),
    ([0, 0, 2, 2], "must be"),
])
def test_bad_box_runs_are_refused(value, message):
    from edgemask.runtime.shapes import box_runs_to_crop

    with pytest.raises(ValueError, match=message):
        box_runs_to_crop(value, 3, 4)


def test_compressed_counts_match_pycocotools_runs():
    """The run lengths read from COCO's compressed strings (without decoding the mask) are the
    runs of the mask pycocotools encoded, column-major, starting with 0s."""
    from edgemask.runtime.shapes import check_rle, compressed_counts, mask_to_rle

    rng = np.random.default_rng(7)
    for h, w, density in ((1, 1, 0.5), (37, 53, 0.02), (64, 48, 0.5), (200, 300, 0.97), (5, 4000, 0.3)):
        mask = rng.random((h, w)) < density
        mask[h // 3:, w // 4: w // 2] = True  # long runs too
        rle = mask_to_rle(mask)
        flat = mask.T.reshape(-1)  # column-major, as COCO
        changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        runs = np.diff(np.concatenate([[0], changes, [flat.size]]))
        if flat[0]:
            runs = np.concatenate([[0], runs])
        assert compressed_counts(rle["counts"].encode()).tolist() == runs.tolist()
        assert check_rle(rle, h, w) == (h, w)


def test_check_rle_refuses_before_decoding():
    from edgemask.runtime.shapes import check_rle, mask_to_rle, rle_to_mask

    good = mask_to_rle(np.ones((48, 64), bool))
    with pytest.raises(ValueError, match="differs from the image"):
        check_rle(good, 48, 65)
    with pytest.raises(ValueError, match="more than 1000 pixels"):
        check_rle(good, max_pixels=1000)
    for counts in ("o" * 8 + "0", "\x7f", "0P", "é"):  # a run past 2**32, outside the alphabet, unfinished
        with pytest.raises(ValueError):
            check_rle({"size": [48, 64], "counts": counts})
    # runs of 4e9 pixels in a 48x64 box: pycocotools would write past its buffer
    with pytest.raises(ValueError, match="at most the mask.s pixels"):
        rle_to_mask({"size": [48, 64], "counts": [0, 4_000_000_000]})
    with pytest.raises(ValueError, match="size"):
        rle_to_mask({"size": [48, True], "counts": []})


@pytest.mark.parametrize("box, runs", [
    ([0, 0, 1, 1], [9223372036854775807, 9223372036854775807, 3]),  # int64 sum wraps to 1
    ([0, 0, 1, 1], [2**62] * 4 + [1]),
    ([0, 0, 1, 1], [np.int64(2**62)] * 4 + [np.int64(1)]),
    ([0, 0, 2, 2], [2**64 + 4]),
    ([0, 0, 2, 2], [-1, 5]),
    ([0, 0, 2, 2], [False, 4]),
    ([0, 0, 2, 2], [1.0, 3]),
    ([0, 0, 2, 2], ["4"]),
    ([0, 0, 2, 2], [[4]]),
    ([0, 0, 2, 2], [0] * 1_000_000 + [5]),
    ([0, 0, 2, 2], [1] * 1_000_000),
])
def test_runs_are_checked_in_python_integers_before_anything_is_allocated(box, runs):
    from edgemask.runtime.shapes import box_runs_to_crop, box_runs_to_mask

    for decode in (box_runs_to_crop, box_runs_to_mask):
        with pytest.raises(ValueError) as refused:
            decode({"box": box, "runs": runs}, 3, 4)
        assert "\n" not in str(refused.value) and str(refused.value).count(". ") == 0


def test_uncompressed_rle_counts_are_summed_in_python_integers():
    from edgemask.runtime.shapes import check_rle

    for counts in ([2**62] * 4 + [1], [np.int64(2**62)] * 4 + [np.int64(1)], [2**63 - 1, 2**63 - 1, 3]):
        with pytest.raises(ValueError, match="at most"):
            check_rle({"size": [1, 1], "counts": counts})
        with pytest.raises(ValueError):
            rle_to_mask({"size": [1, 1], "counts": counts})


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(w=st.integers(0, 5), h=st.integers(0, 4),
       runs=st.lists(st.one_of(st.integers(-2**64, 2**64), st.integers(0, 25),
                               st.sampled_from([2**62, 2**63 - 1, 2**63, 2**64 - 1])), max_size=12))
def test_any_runs_decode_exactly_or_are_refused(w, h, runs):
    from edgemask.runtime.shapes import box_runs_to_crop

    area = w * h
    valid = all(0 <= r <= area for r in runs) and sum(runs) == area
    try:
        _, crop = box_runs_to_crop({"box": [0, 0, w, h], "runs": runs}, 4, 5)
    except ValueError:
        assert not valid
        return
    assert valid and crop.shape == (h, w) and int(crop.sum()) == sum(runs[1::2])
