"""Where edgemask keeps downloaded checkpoints, exported models and embedding caches."""

import os
from pathlib import Path


def home() -> Path:
    """Root of edgemask's cache: $EDGEMASK_HOME, else $XDG_CACHE_HOME/edgemask, else ~/.cache/edgemask."""
    if os.environ.get("EDGEMASK_HOME"):
        return Path(os.environ["EDGEMASK_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "edgemask"


def checkpoints_dir() -> Path:
    return home() / "checkpoints"


def models_dir() -> Path:
    """Exported model folders live here as models_dir()/<model-name>[-<precision>]."""
    return home() / "models"


def embeddings_dir() -> Path:
    return home() / "embeddings"
