"""POST /api/polygonize with "max_polygons": a speckled mask gives only its largest parts, and
says how many it left out, so the page can ask before making thousands of objects."""

import numpy as np
import pytest

from edgemask.runtime.shapes import mask_to_box_runs, polygons_to_mask


def speckled(h=48, w=64):
    """Two blocks and many one-pixel specks on a grid."""
    mask = np.zeros((h, w), bool)
    mask[2:20, 2:30] = True   # the largest part
    mask[25:35, 40:52] = True  # the second
    mask[40::3, 2::3] = True   # 3 x 21 specks
    return mask


def test_max_polygons_keeps_the_largest_and_counts_what_it_left_out(client):
    mask = speckled()
    body = client.post("/api/polygonize", json={"mask": mask_to_box_runs(mask), "tolerance": 0,
                                                "max_polygons": 2}).get_json()
    specks = int(mask[40:].sum())
    assert body["parts"] == 2 + specks and body["dropped"] == specks == 63
    assert len(body["polygons"]) == 2
    back = polygons_to_mask(body["polygons"], 48, 64)
    np.testing.assert_array_equal(back, mask & (np.arange(48) < 40)[:, None])  # the two blocks, exact
    assert body["dropped_area"] == specks == body["changed"]

    # without a cap (or a cap above the count), every part comes back
    whole = client.post("/api/polygonize", json={"mask": mask_to_box_runs(mask), "tolerance": 0}).get_json()
    assert len(whole["polygons"]) == whole["parts"] == 65 and whole["dropped"] == whole["dropped_area"] == 0
    roomy = client.post("/api/polygonize", json={"mask": mask_to_box_runs(mask), "tolerance": 0,
                                                 "max_polygons": 1000}).get_json()
    assert roomy["polygons"] == whole["polygons"]


@pytest.mark.parametrize("most", [0, -1, 1.5, "10", True, 10 ** 9])
def test_a_bad_max_polygons_is_400_in_one_sentence(client, most):
    resp = client.post("/api/polygonize", json={"mask": mask_to_box_runs(speckled()), "max_polygons": most})
    assert resp.status_code == 400
    assert resp.get_json()["error"].startswith('"max_polygons" must be a whole number')
