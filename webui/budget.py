"""A bound on the pixels that requests decode at once, so that concurrent requests cannot add up
to gigabytes: each takes its pixels from one shared budget for as long as it works on them, waits
while the budget is spent, and is turned away (Busy) when it waited too long."""

import threading
from contextlib import contextmanager


class Busy(Exception):
    """The budget stayed spent for the whole wait: the message is one sentence for the user."""


class PixelBudget:
    def __init__(self, pixels: int, wait_s: float = 20.0):
        self.pixels = int(pixels)
        self.wait_s = wait_s
        self._free = self.pixels
        self._cond = threading.Condition()

    @contextmanager
    def take(self, pixels: int):
        """Holds `pixels` (at most the whole budget) of the budget while the block runs."""
        need = min(max(int(pixels), 0), self.pixels)
        with self._cond:
            if not self._cond.wait_for(lambda: self._free >= need, timeout=self.wait_s):
                raise Busy("The server is busy decoding other large masks; try again in a moment.")
            self._free -= need
        try:
            yield
        finally:
            with self._cond:
                self._free += need
                self._cond.notify_all()
