import pytest

from edgemask.webui.formats.labels import (
    SUIM_LABELS,
    Label,
    distinct_colors,
    format_labels,
    load_labels,
    parse_color,
    parse_labels,
    preset_labels,
)


def test_suim_preset_colours_follow_the_rgb_bit_codes():
    labels = preset_labels("suim")
    assert len(labels) == 8
    codes = {label.description: label.color for label in labels}
    for code, bits in {"BW": "000", "HD": "001", "PF": "010", "WR": "011",
                       "RO": "100", "RI": "101", "FV": "110", "SR": "111"}.items():
        assert codes[code] == tuple(255 * int(b) for b in bits)
    assert labels[0].name == "background waterbody" and labels[0].hex == "#000000"
    assert len({label.name for label in labels}) == 8
    assert labels == list(SUIM_LABELS)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown label preset"):
        preset_labels("cityscapes")


def test_label_file_line_forms(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text(
        "# my labels\n"
        "background\n"
        "fish #FF8000\n"
        "sea grass 0, 200,10\n"
        "\n"
        "coral\n"
        "rock:10,20,30::\n"
        "diver:::\n",
        encoding="utf-8",
    )
    labels = load_labels(path)
    assert [label.name for label in labels] == ["fish", "sea grass", "coral", "rock", "diver"]
    assert labels[0].color == (255, 128, 0)
    assert labels[1].color == (0, 200, 10)
    assert labels[3].color == (10, 20, 30)
    generated = [labels[2].color, labels[4].color]
    assert len(set(generated)) == 2
    assert not set(generated) & {(0, 0, 0), (255, 128, 0), (0, 200, 10), (10, 20, 30)}


def test_cvat_labelmap_is_read(tmp_path):
    path = tmp_path / "labelmap.txt"
    path.write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\ncar:128,0,0::\nperson:0,128,0::\n")
    assert load_labels(path) == [Label("car", (128, 0, 0)), Label("person", (0, 128, 0))]


def test_format_labels_round_trips_and_line_is_class_index():
    labels = list(SUIM_LABELS)
    text = format_labels(labels)
    lines = text.splitlines()
    assert lines[0].startswith("background")
    assert lines[2].startswith("human divers ")
    assert parse_labels(text) == [Label(l.name, l.color) for l in labels]
    names_only = format_labels(labels, with_colors=False).splitlines()
    assert names_only[1:] == [label.name for label in labels]


@pytest.mark.parametrize("text, message", [
    ("fish #12345\n", "#rrggbb"),
    ("fish 1,2,300\n", "0..255"),
    ("fish\nfish\n", "duplicate"),
    ("rock:1,2::\n", "three values"),
])
def test_malformed_label_files(text, message):
    with pytest.raises(ValueError, match=message):
        parse_labels(text)


def test_missing_or_empty_label_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        load_labels(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="no labels"):
        load_labels(tmp_path / "empty.txt")


def test_parse_color_and_distinct_colors():
    assert parse_color("#0a0B0c") == (10, 11, 12)
    assert parse_color(" 1, 2, 3 ") == (1, 2, 3)
    colors = distinct_colors(40, used=[(128, 0, 0)])
    assert len(set(colors)) == 40 and (0, 0, 0) not in colors and (128, 0, 0) not in colors
