"""For tests that send Ctrl+C (SIGINT) to a child process."""

import signal


def default_sigint():
    """For Popen's preexec_fn: the child starts with SIGINT's default action, as from a terminal (a test
    run as a shell script's background job inherits SIGINT ignored, and Python keeps it so)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
