"""Label sets: the Label type, the SUIM preset and label-file parsing.

The class index of a label is its position in the list + 1; index 0 is the background.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

Color = tuple[int, int, int]


@dataclass(frozen=True)
class Label:
    name: str
    color: Color  # (r, g, b), 0..255
    description: str = ""

    @property
    def hex(self) -> str:
        return color_to_hex(self.color)


# SUIM (Islam et al. 2020, "Semantic Segmentation of Underwater Imagery: Dataset and
# Benchmark"): 3-bit RGB colour codes, bit order R G B, each bit 0 or 255.
SUIM_LABELS: tuple[Label, ...] = (
    Label("background waterbody", (0, 0, 0), "BW"),
    Label("human divers", (0, 0, 255), "HD"),
    Label("plants/sea-grass", (0, 255, 0), "PF"),
    Label("wrecks/ruins", (0, 255, 255), "WR"),
    Label("robots", (255, 0, 0), "RO"),
    Label("reefs/invertebrates", (255, 0, 255), "RI"),
    Label("fish/vertebrates", (255, 255, 0), "FV"),
    Label("sea-floor/rocks", (255, 255, 255), "SR"),
)

PRESETS: dict[str, tuple[Label, ...]] = {"suim": SUIM_LABELS}


def preset_labels(name: str) -> list[Label]:
    """The labels of a named preset (``"suim"``)."""
    try:
        return list(PRESETS[name.lower()])
    except KeyError:
        raise ValueError(
            f"unknown label preset {name!r}; known presets: {', '.join(PRESETS)}"
        ) from None


MAX_NAME_LENGTH = 100


def check_name(name) -> str:
    """A label name, stripped: 1 to MAX_NAME_LENGTH characters of printable text (no control
    characters, which XML and label files cannot hold, no lone surrogates). ValueError else."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME_LENGTH:
        raise ValueError(f"a label name must have 1 to {MAX_NAME_LENGTH} characters")
    name = name.strip()
    from edgemask.webui.text import bad_character

    bad = bad_character(name)
    if bad is not None:
        raise ValueError(f"the label name {name.encode('utf-8', 'backslashreplace').decode()!r} holds the "
                         f"character U+{ord(bad):04X}, which cannot be stored or exported")
    return name


BACKGROUND = "background"  # class 0 in every export: each pixel that no object covers


def is_background(name: str) -> bool:
    """Whether a label name is the reserved class 0's, "background" (any case, spaces trimmed)."""
    return name.strip().casefold() == BACKGROUND


BACKGROUND_CLASH = ('"background" is class 0 already (every pixel no object covers, in every export), '
                    'so a label cannot take that name; call it something else, such as "water" or "sand".')


def color_to_hex(color: Color) -> str:
    r, g, b = color
    return f"#{r:02x}{g:02x}{b:02x}"


def parse_color(text: str) -> Color:
    """``#rrggbb`` or ``r,g,b`` (0..255 each) to an (r, g, b) tuple."""
    text = text.strip()
    if text.startswith("#"):
        digits = text[1:]
        if len(digits) != 6 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError(f"colour {text!r} is not #rrggbb")
        return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    parts = text.split(",")
    try:
        values = tuple(int(p.strip()) for p in parts)
    except ValueError:
        raise ValueError(f"colour {text!r} is neither #rrggbb nor r,g,b") from None
    if len(values) != 3 or any(not 0 <= v <= 255 for v in values):
        raise ValueError(f"colour {text!r} must be three values 0..255")
    return values  # type: ignore[return-value]


def voc_colormap(index: int) -> Color:
    """The Pascal VOC colour of a class index (as CVAT and Datumaro generate them)."""
    r = g = b = 0
    for shift in range(7, -1, -1):
        r |= ((index >> 0) & 1) << shift
        g |= ((index >> 1) & 1) << shift
        b |= ((index >> 2) & 1) << shift
        index >>= 3
    return r, g, b


def distinct_colors(count: int, used: Iterable[Color] = ()) -> list[Color]:
    """``count`` colours from the VOC colormap that are neither black nor in ``used``."""
    taken = set(used) | {(0, 0, 0)}
    colors = []
    index = 1
    while len(colors) < count:
        color = voc_colormap(index)
        if color not in taken:
            taken.add(color)
            colors.append(color)
        index += 1
    return colors


# Distinct colours for labels made one by one (Trubetskoy's 20 distinct colours, most distinct first)
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#ffe119", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
           "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
           "#808000", "#ffd8b1", "#000075", "#808080")


def next_color(used: Iterable[str]) -> str:
    """A colour for a new label (#rrggbb): the first of PALETTE at least NEAR apart from every
    colour in `used` (#rrggbb strings), else the palette's farthest from them, else (all twenty
    in use) the VOC colormap's first free colour."""
    taken = [parse_color(c) for c in used]

    def distance(hex_color):
        rgb = parse_color(hex_color)
        return min((sum((a - b) ** 2 for a, b in zip(rgb, t)) for t in taken), default=1 << 30) ** 0.5

    for color in PALETTE:
        if distance(color) >= NEAR:
            return color
    best = max(PALETTE, key=distance)
    return best if distance(best) > 0 else color_to_hex(distinct_colors(1, taken)[0])


NEAR = 100  # RGB distance below which two label colours are hard to tell apart


_TRAILING_COLOR = re.compile(r"^(.*\S)\s+(#\S*|\d+\s*,\s*\d+\s*,\s*\d+)\s*$")


def _parse_line(line: str) -> tuple[str, Optional[Color]]:
    if ":" in line:  # CVAT / Pascal labelmap.txt: name:r,g,b:parts:actions
        name, _, rest = line.partition(":")
        color_text = rest.partition(":")[0].strip()
        return name.strip(), parse_color(color_text) if color_text else None
    match = _TRAILING_COLOR.match(line)
    if match:
        return match.group(1).strip(), parse_color(match.group(2))
    return line.strip(), None


def parse_labels(text: str) -> list[Label]:
    """Parses a label list: one label a line, ``name``, ``name #rrggbb``, ``name r,g,b``
    or ``name:r,g,b::`` (labelmap.txt). Lines starting with ``#`` are comments; a label
    named ``background`` (any case) is class 0 and is skipped wherever it stands. Labels without a colour get
    distinct generated ones."""
    entries: list[tuple[str, Optional[Color]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            name, color = _parse_line(line)
        except ValueError as exc:
            raise ValueError(f"label line {number}: {exc}") from None
        if not name:
            raise ValueError(f"label line {number} has no name")
        try:
            name = check_name(name)
        except ValueError as exc:
            raise ValueError(f"label line {number}: {exc}") from None
        if is_background(name):  # class 0 (line 0 of the files this writes), never a label
            continue
        entries.append((name, color))
    names = [name for name, _ in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate label names: {', '.join(duplicates)}")
    generated = iter(distinct_colors(sum(c is None for _, c in entries), (c for _, c in entries if c)))
    return [Label(name, color if color is not None else next(generated)) for name, color in entries]


def load_labels(path: Union[str, Path]) -> list[Label]:
    """Reads a label file (see ``parse_labels``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read label file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"label file {path} is not UTF-8 text") from None
    labels = parse_labels(text)
    if not labels:
        raise ValueError(f"label file {path} has no labels")
    return labels


def format_labels(labels: Iterable[Label], with_colors: bool = True) -> str:
    """Label list text readable by ``parse_labels``: line 0 ``background``, then line i is
    class index i, as ``name #rrggbb`` (or just ``name``)."""
    lines = ["background #000000" if with_colors else "background"]
    for label in labels:
        lines.append(f"{label.name} {label.hex}" if with_colors else label.name)
    return "\n".join(lines) + "\n"
