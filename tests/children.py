"""What every test that starts impasto as a child process shares (tests/cli, tests/web)."""

from __future__ import annotations

import signal


def ctrl_c_as_at_a_terminal() -> None:
    """In the child, before it starts (``preexec_fn``): SIGINT as a terminal delivers it. A test run
    from a background job inherits SIGINT ignored, and Python then never turns it into
    KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
