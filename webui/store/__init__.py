"""The annotation store: one SQLite file per images folder (see database.py), with the images'
workflow status (status.py) and label changes that reach into the objects (label_changes.py).
Store, its rows and its errors are importable from here."""

from edgemask.webui.store.database import DB_NAME, SCHEMA_VERSION, Store
from edgemask.webui.store.errors import (
    MAX_LABELS,
    Conflict,
    CorruptStore,
    Damaged,
    DiskFull,
    NotFound,
    StoreError,
    TooManyLabels,
    VersionConflict,
)
from edgemask.webui.store.rows import ImageRecord, LabelRow, ObjectRow, check_box_runs, polygon_bbox

__all__ = [
    "DB_NAME", "SCHEMA_VERSION", "Store", "MAX_LABELS", "Conflict", "CorruptStore", "Damaged", "DiskFull",
    "NotFound", "StoreError", "TooManyLabels", "VersionConflict", "ImageRecord", "LabelRow", "ObjectRow",
    "check_box_runs", "polygon_bbox",
]
