"""The reference JavaScript graphql-transport-ws client (graphql-ws on node), driven from
a test: Python clients alone hide protocol bugs (binary frames went unnoticed)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).resolve().parent / "js"


def install_js_clients() -> None:
    """node and the npm packages of js/package-lock.json; a missing tool fails the test
    (CI must have node and npm), it does not skip it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError(
            "node and npm are needed for the JavaScript client tests (Debian: nodejs npm)"
        )
    if not (JS_DIR / "node_modules" / "graphql-ws").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            check=True,
            timeout=300,
        )


class JSSubscription:
    """One `node subscribe.mjs` process: one client, one subscription, a line per event."""

    def __init__(self, url: str, authorization: str, query: str, variables: dict[str, Any]):
        self.args = [url, authorization, query, json.dumps(variables)]
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> JSSubscription:
        node = shutil.which("node")
        assert node is not None
        self.proc = await asyncio.create_subprocess_exec(
            node,
            str(JS_DIR / "subscribe.mjs"),
            *self.args,
            cwd=JS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def event(self, within: float = 15) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        if not line:
            raise AssertionError(f"the client exited: {await self.stderr()}")
        return json.loads(line)  # type: ignore[no-any-return]

    async def nothing_more(self, within: float) -> None:
        """No event for `within` seconds."""
        try:
            extra = await self.event(within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {extra}")

    async def stop(self) -> tuple[int, list[dict[str, Any]]]:
        """Unsubscribe and close as an app does; its exit status and last lines."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()  # the script's cue to unsubscribe and go
        out, _ = await asyncio.wait_for(self.proc.communicate(), 15)
        lines = [json.loads(line) for line in out.decode().splitlines() if line]
        assert self.proc.returncode is not None
        return self.proc.returncode, lines

    async def stderr(self) -> str:
        assert self.proc is not None and self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode()
