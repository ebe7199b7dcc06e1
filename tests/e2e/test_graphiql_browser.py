"""GraphiQL in a real browser (headless Chromium), with the machine offline as far as
the page knows: every script comes from the API process, so it leaves "Loading…" and
shows the editor, the demo admin key in its headers."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    # CI installs Debian's chromium (.ci/run); a missing browser fails, it does not skip.
    assert found, "headless Chromium is needed (Debian package: chromium)"
    return found


def test_graphiql_renders_in_a_browser_from_local_assets(start_server: Any, tmp_path: Any) -> None:
    server = start_server()
    run = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path}",
            # Nothing outside this machine: a page that needs a CDN stays on "Loading…".
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{server.url}/graphql",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom = run.stdout
    assert "graphiql-container" in dom, (run.returncode, run.stderr[-2000:], dom[:2000])
    assert "Loading…" not in dom
    assert "oms_demo_admin_key" in dom  # the headers editor holds the demo key
