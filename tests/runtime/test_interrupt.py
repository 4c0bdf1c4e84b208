"""edgemask.runtime.interrupt: after Ctrl+C a run that cannot unwind (a Ray shutdown waiting on a task
that never ends) still leaves, with its report and exit status 130; one that can, leaves as it would."""

import signal
import subprocess
import sys
import textwrap
import time

from sigint import default_sigint

RUN = textwrap.dedent("""
    import signal, sys, threading, time
    from edgemask.runtime.interrupt import ctrl_c_ends_within

    stuck = sys.argv[1] == "stuck"
    before = signal.getsignal(signal.SIGINT)
    with ctrl_c_ends_within(lambda: "report: 3 of 8 images", grace_s=1.0):
        try:
            print("running", flush=True)
            time.sleep(60)
        except KeyboardInterrupt:
            if stuck:
                threading.Event().wait()  # unwinding that never ends
            print("stopped on its own", flush=True)
    assert signal.getsignal(signal.SIGINT) is before  # put back
    sys.exit(7)
""")


def interrupted(mode):
    run = subprocess.Popen([sys.executable, "-c", RUN, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=default_sigint)
    assert run.stdout.readline() == "running\n"
    start = time.monotonic()
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=30)
    return run.returncode, out, err, time.monotonic() - start


def test_a_run_stuck_after_ctrl_c_reports_and_exits_130():
    code, out, err, seconds = interrupted("stuck")
    assert code == 130 and "report: 3 of 8 images" in out, (code, out, err)
    assert "did not stop within 1 s of Ctrl+C" in err
    assert 0.9 <= seconds < 20


def test_a_run_that_stops_after_ctrl_c_is_left_alone():
    code, out, err, _ = interrupted("stops")
    assert code == 7 and "stopped on its own" in out and "report" not in out, (code, out, err)


def test_outside_the_main_thread_nothing_is_installed():
    import threading

    from edgemask.runtime.interrupt import ctrl_c_ends_within

    seen = []

    def worker():
        with ctrl_c_ends_within(lambda: "", grace_s=1.0):
            seen.append(signal.getsignal(signal.SIGINT))

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]


def test_where_sigint_is_ignored_it_stays_ignored():
    """A background job of a shell script ignores SIGINT: the run neither installs a handler nor stops."""
    script = textwrap.dedent("""
        import signal
        from edgemask.runtime.interrupt import ctrl_c_ends_within

        with ctrl_c_ends_within(lambda: "report", grace_s=1.0):
            print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert run.returncode == 0 and run.stdout.strip() == "True", run.stderr
