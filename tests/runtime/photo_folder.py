"""A folder of small real image files for the precompute tests (made in the test)."""

from pathlib import Path

from PIL import Image

from synthetic import synthetic_image


def make_photo_folder(root: Path, count: int, broken: bool = True, thin: bool = False) -> Path:
    """`count` synthetic photos (PNG and JPEG, some in a sub-folder, odd sizes), plus an unreadable
    `broken.jpg` (and with `thin` a 2000x1 `thin.png`) and a hidden file the annotator does not list."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sub").mkdir(exist_ok=True)
    for i in range(count):
        image = Image.fromarray(synthetic_image(40 + 7 * i, 64 - 3 * (i % 5), seed=i))
        folder = root / "sub" if i % 3 == 0 else root
        image.save(folder / (f"photo{i:02d}.jpg" if i % 2 else f"photo{i:02d}.png"))
    if broken:
        (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    if thin:  # readable, but too thin for the encoder: it fails with a reason, the others go on
        Image.fromarray(synthetic_image(1, 2000, seed=99)).save(root / "thin.png")
    (root / ".hidden.png").write_bytes(b"")
    return root
