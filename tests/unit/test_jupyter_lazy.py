"""A local hub loads jupyter_client only when a jupyter_* request comes."""

from __future__ import annotations

import subprocess
import sys


def test_the_daemon_does_not_import_jupyter_client_at_start() -> None:
    code = (
        "import sys, hub.local_hub.daemon.server\n"
        "print(sorted(m for m in ('jupyter_client', 'zmq') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
