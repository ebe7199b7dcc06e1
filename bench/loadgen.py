"""The load generator: a process of its own, so its CPU is not the server's.

Run by `bench.common.run_load` as `python -m bench.loadgen`, with a JSON spec on
stdin. It prints `MEASURE_START` and `MEASURE_END` lines when its measurement window
opens and closes (the parent samples CPU of the server processes in between), and
writes its results as JSON to `spec["result_file"]`.

Two modes, both closed-loop (each of `concurrency` workers sends its next request as
soon as its previous one is answered), both on uvloop:

- `http`: keep-alive HTTP/1.1 over raw sockets (asyncio Protocol), with pre-encoded
  request bytes; responses are framed by Content-Length. About 25-40 µs of client CPU
  per request, so the client takes little of a 2-core machine.
- `asyncpg`: a statement through an asyncpg pool, for the raw-database baseline.

Latency of a request counts if it was sent inside the window and answered before
it closes; throughput is those requests divided by the window.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"\r\ncontent-length:"


class _Window:
    """Where the run stands: warming up, measuring, or over."""

    def __init__(self, warmup: float, seconds: float) -> None:
        now = time.perf_counter()
        self.start = now + warmup
        self.end = self.start + seconds
        self.latencies: list[float] = []
        self.errors = 0
        self.error_sample: str | None = None
        self.warmup_errors = 0

    def record(self, sent: float, done: float, ok: bool, detail: bytes | str) -> None:
        if sent < self.start or done >= self.end:
            if not ok:
                self.warmup_errors += 1
            return
        if ok:
            self.latencies.append(done - sent)
        else:
            self.errors += 1
            if self.error_sample is None:
                text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else detail
                self.error_sample = text[:500]


class _HttpConnection(asyncio.Protocol):
    """One keep-alive connection sending the same request over and over."""

    def __init__(self, window: _Window, request: bytes, check: bytes | None) -> None:
        self.window = window
        self.request = request
        self.check = check  # a response body containing this is an error
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need = -1  # total bytes of the response being read (headers + body), once known
        self.body_at = 0
        self.sent = 0.0
        self.in_flight = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent = time.perf_counter()
        if self.sent >= self.window.end:
            self.transport.close()
            return
        self.in_flight = True
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if self.need < 0:
            end = buf.find(_HEADER_END)
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            at = head.find(_CONTENT_LENGTH)
            if at < 0:
                self._fail(b"response without Content-Length: " + bytes(buf[:end]))
                return
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + len(_CONTENT_LENGTH) : stop if stop >= 0 else len(head)])
            self.body_at = end + 4
            self.need = self.body_at + length
        if len(buf) < self.need:
            return
        done = time.perf_counter()
        self.in_flight = False
        status_ok = buf[9:12] == b"200"
        body = bytes(buf[self.body_at : self.need])
        ok = status_ok and (self.check is None or self.check not in body)
        self.window.record(self.sent, done, ok, body if status_ok else bytes(buf[: self.need]))
        del buf[: self.need]
        self.need = -1
        self._send()

    def _fail(self, detail: bytes) -> None:
        self.in_flight = False
        self.window.record(self.sent, time.perf_counter(), False, detail)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.in_flight:
            self.in_flight = False
            self.window.record(self.sent, time.perf_counter(), False, f"connection lost: {exc!r}")
        if not self.closed.done():
            self.closed.set_result(None)


async def _http(spec: dict[str, Any], window: _Window) -> None:
    loop = asyncio.get_running_loop()
    request = spec["request"].encode("latin-1")
    check = spec.get("error_marker", '"errors"').encode()
    host, port = spec["host"], spec["port"]

    async def connection() -> None:
        # A connection the server closes (keep-alive timeout, error) is replaced.
        while time.perf_counter() < window.end:
            try:
                _, proto = await loop.create_connection(
                    lambda: _HttpConnection(window, request, check), host, port
                )
            except OSError as exc:
                window.record(time.perf_counter(), time.perf_counter(), False, repr(exc))
                await asyncio.sleep(0.05)
                continue
            await proto.closed

    # A server that stops answering must not hang the benchmark.
    timeout = window.end - time.perf_counter() + 30
    try:
        await asyncio.wait_for(
            asyncio.gather(*(connection() for _ in range(spec["concurrency"]))), timeout
        )
    except TimeoutError:
        window.errors += 1
        window.error_sample = window.error_sample or "requests still unanswered 30 s after the end"


async def _asyncpg(spec: dict[str, Any], window: _Window) -> None:
    import asyncpg

    pool = await asyncpg.create_pool(
        spec["dsn"], min_size=spec["pool_size"], max_size=spec["pool_size"]
    )
    sql, args = spec["sql"], spec["args"]
    try:

        async def worker() -> None:
            while True:
                sent = time.perf_counter()
                if sent >= window.end:
                    return
                try:
                    async with pool.acquire() as conn:
                        await conn.fetch(sql, *args)
                except Exception as exc:  # every failure counts as an error, whatever its kind
                    window.record(sent, time.perf_counter(), False, repr(exc))
                    continue
                window.record(sent, time.perf_counter(), True, b"")

        await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
    finally:
        await pool.close()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _main(spec: dict[str, Any]) -> dict[str, Any]:
    window = _Window(spec["warmup"], spec["seconds"])
    marks: dict[str, float] = {}

    async def announce() -> None:
        # The parent samples server CPU when these lines arrive.
        await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
        marks["cpu_start"] = _cpu_seconds()
        print("MEASURE_START", flush=True)
        await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
        marks["cpu_end"] = _cpu_seconds()
        print("MEASURE_END", flush=True)

    announcer = asyncio.create_task(announce())
    run = _http if spec["mode"] == "http" else _asyncpg
    await run(spec, window)
    await announcer
    return {
        "seconds": spec["seconds"],
        "latencies": window.latencies,
        "errors": window.errors,
        "warmup_errors": window.warmup_errors,
        "error_sample": window.error_sample,
        "client_cpu_seconds": marks["cpu_end"] - marks["cpu_start"],
    }


def main() -> None:
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        runner = asyncio.run
    result = runner(_main(spec))
    # Results go to a file: a large line on a pipe is a partial write waiting to happen.
    with open(spec["result_file"], "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
