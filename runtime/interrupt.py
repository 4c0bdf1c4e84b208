"""Ctrl+C that ends a long run in bounded time.

A KeyboardInterrupt stops `edgemask precompute` / `prelabel` and they print what was done. With Ray,
unwinding runs Ray Data's shutdown, which this program does not control, so after the first Ctrl+C a
watchdog gives the run GRACE_S seconds to end on its own, then prints the report and leaves with exit
status 130. The cache is safe either way: every entry is written to a temporary file and renamed.
"""

import os
import signal
import sys
import threading
from contextlib import contextmanager

GRACE_S = 15.0
EXIT_INTERRUPTED = 130


@contextmanager
def ctrl_c_ends_within(report, grace_s: float = GRACE_S):
    """Inside: Ctrl+C (SIGINT) raises KeyboardInterrupt as usual and arms a watchdog; if the process
    is still here `grace_s` seconds later, report() is printed and the process exits with 130.
    Does nothing outside the main thread (signal handlers can only be set there), nor where SIGINT is
    ignored (a background job of a shell script: Ctrl+C in its terminal is not meant for it)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        yield
        return
    timers = []

    def overdue():
        try:
            print(report(), flush=True)
            print(f"edgemask: the run did not stop within {grace_s:g} s of Ctrl+C; leaving now "
                  "(its remaining tasks end with this process)", file=sys.stderr, flush=True)
        finally:
            os._exit(EXIT_INTERRUPTED)

    def on_sigint(signum, frame):
        if not timers:
            timer = threading.Timer(grace_s, overdue)
            timer.daemon = True
            timer.start()
            timers.append(timer)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        for timer in timers:
            timer.cancel()
