"""What the store refuses or cannot do, each with one sentence for the user."""

import sqlite3


class CorruptStore(sqlite3.DatabaseError):
    """The database file fails SQLite's integrity check: nothing is read from or written to it."""


MAX_LABELS = 255  # class-index PNGs (and the page's label keys) hold 255 classes besides background


class StoreError(Exception):
    """A request the store refuses (unknown label, label in use, duplicate name)."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class TooManyLabels(Conflict):
    """Adding the label(s) would pass MAX_LABELS."""

    def __init__(self, name: str):
        super().__init__(f"The label {name!r} would be label {MAX_LABELS + 1}; a project holds at most "
                         f"{MAX_LABELS} labels, so delete or merge some first.")


class DiskFull(StoreError):
    """SQLite could not write: the disk (or the database's size limit) is full. Nothing was saved."""


class Damaged(StoreError):
    """What is stored for one image cannot be read back (a damaged page or flipped bits)."""


class VersionConflict(Conflict):
    """The image was saved by someone else since `expected` was read."""

    def __init__(self, expected: int, stored: int):
        super().__init__(
            "This image was changed in another tab or window since you opened it "
            f"(your version {expected}, saved version {stored}); reload it to see the latest "
            "annotations, nothing was overwritten."
        )
        self.expected = expected
        self.stored = stored
