"""Bad checkpoint files for the error tests: not a checkpoint, truncated, code-running, wrong shapes."""

from pathlib import Path

EVIL_MARKER = "it-ran"  # the file the code-running checkpoint's pickle would create


class RunsACommand:
    """Pickles as a call to os.system: what loading a hostile checkpoint with plain pickle runs."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


def write_bad_checkpoints(folder: Path, good_checkpoint: Path) -> dict:
    """{file name: path} of bad checkpoints written into `folder` (the marker would appear there too)."""
    import torch

    folder = Path(folder)
    files = {}
    files["notes.pth"] = folder / "notes.pth"
    files["notes.pth"].write_text("these are not weights\n")
    data = Path(good_checkpoint).read_bytes()
    files["cut.pt"] = folder / "cut.pt"
    files["cut.pt"].write_bytes(data[: len(data) // 3])
    files["evil.pth"] = folder / "evil.pth"
    torch.save({"payload": RunsACommand(f"touch {folder / EVIL_MARKER}"), "weight": torch.zeros(2)}, files["evil.pth"])
    sd = torch.load(good_checkpoint, weights_only=True)
    key = next(k for k, v in sd.items() if v.ndim == 4)
    sd[key] = torch.zeros(1, 1, 1, 1)
    files["bad_shape.pt"] = folder / "bad_shape.pt"
    torch.save({"state_dict": sd}, files["bad_shape.pt"])  # wrapped as MIT Han Lab's files are
    return files
