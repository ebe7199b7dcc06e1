"""What every benchmark needs: servers, data, the API as a process, load, statistics.

- `servers()`: a private, durable PostgreSQL and Redis in a temporary directory (or
  DATABASE_URL / REDIS_URL when set), migrated. Durable (fsync, synchronous commit) so
  that write figures mean something.
- `Database` and the `create_*` / `set_stock` helpers: data built through the domain
  services, as the API would build it. Codes carry a per-run tag, so a benchmark can
  also run against a database that already holds data.
- `ApiServer`: `python -m api serve` as a child process, ready once /healthz answers.
- `run_load()`: the load generator (`bench/loadgen.py`) in a process of its own (the
  machine has 2 cores: the client's CPU must not be the server's), with CPU use of the
  API, PostgreSQL, Redis and the client sampled over the measurement window.

Every process started here is stopped in a `finally` (and, should that be skipped, by
an atexit hook); SIGTERM and SIGHUP are turned into exceptions so that those run.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
SHARED_CLIENTS = ROOT.parent / "shared" / "clients"
HOST = "127.0.0.1"

# --------------------------------------------------------------------------- processes

_children: list[subprocess.Popen[bytes]] = []


def _track(proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    _children.append(proc)
    return proc


def terminate(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Stop a child we started (in its own session: its group is ours too), then reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with contextlib.suppress(ValueError):
        _children.remove(proc)


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on a process until `stop_profiler` (sampling: it costs the process ~nothing;
    it records busy samples only). `out`: .svg flame graph, .json speedscope, .txt
    collapsed stacks."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("  (no py-spy: no profile)")
        return None
    fmt = {".txt": "raw", ".json": "speedscope"}.get(out.suffix, "flamegraph")
    command = [py_spy, "record", "--pid", str(pid), "--rate", "100", "--format", fmt]
    command += ["--output", str(out), "--nonblocking"]
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_profiler(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        terminate(proc)


@atexit.register
def _stop_children() -> None:
    for proc in list(_children):
        terminate(proc, timeout=5.0)


def _raise_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every `finally` stops what it started."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_on_signal)


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class Servers:
    database_url: str
    redis_url: str
    tmp: Path
    pg_pid: int | None = None  # postmaster of our private server (CPU accounting)
    redis_pid: int | None = None
    durable: bool = True


@contextlib.contextmanager
def servers(prefix: str = "oms-bench-") -> Iterator[Servers]:
    """PostgreSQL and Redis, migrated; private ones unless DATABASE_URL / REDIS_URL are set."""
    from api.cli import migrate
    from api.embedded import EmbeddedPostgres, EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, contextlib.ExitStack() as stack:
        pg_pid = redis_pid = None
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            pg = EmbeddedPostgres(Path(tmp) / "pg", durable=True, max_connections=200)
            database_url = pg.start()
            stack.callback(pg.stop)
            pg_pid = pg.pid
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis = EmbeddedRedis(Path(tmp) / "redis", durable=True)
            redis_url = redis.start()
            stack.callback(redis.stop)
            redis_pid = redis.pid
        migrate(database_url)
        yield Servers(database_url, redis_url, Path(tmp), pg_pid, redis_pid)


def run_tag() -> str:
    """A short tag for this run's codes, so data never collides with existing data."""
    return secrets.token_hex(3).upper()


# --------------------------------------------------------------------------- data


class Database:
    """Data built through the domain services, one unit of work per call."""

    def __init__(self, url: str) -> None:
        from domain.access.principal import Principal, Role
        from domain.db import BATCH_WAITS, create_engine, create_sessionmaker

        self.url = url
        self.engine = create_engine(url, pool_size=2, waits=BATCH_WAITS)
        self.sessionmaker = create_sessionmaker(self.engine)
        self.principal = Principal(role=Role.ADMIN, name="bench")

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.dispose()

    def uow(self) -> Any:
        from domain.db import UnitOfWork

        return UnitOfWork(self.sessionmaker)

    async def execute(self, sql: str) -> None:
        """Maintenance outside a transaction (ANALYZE, VACUUM)."""
        from sqlalchemy import text

        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))

    async def create_locations(self, codes: Sequence[str], *, kind: str = "WAREHOUSE") -> None:
        from domain.catalog.service import AddressData, LocationData, upsert_locations

        items = []
        for i, code in enumerate(codes):
            # Spread over metropolitan France, so distance rules have something to work on.
            lat = 43.3 + (i * 0.137) % 5.6
            lon = -1.4 + (i * 0.291) % 8.9
            items.append(
                LocationData(
                    code=code,
                    name=f"Bench location {code}",
                    kind=kind,
                    address=AddressData(
                        line1=f"{i + 1} rue du Banc d'Essai",
                        city="Lyon",
                        postal_code=f"69{i % 1000:03d}",
                        country_code="FR",
                    ),
                    latitude=round(lat, 4),
                    longitude=round(lon, 4),
                    timezone="Europe/Paris",
                    can_ship=True,
                    can_pickup=kind == "STORE",
                    priority=10 + i,
                    cost_per_shipment=("6.90", "EUR"),
                )
            )
        async with self.uow() as uow:
            await upsert_locations(uow.session, items)

    async def create_products(self, skus: Sequence[str]) -> None:
        from domain.catalog.service import MAX_BATCH, ProductData, upsert_products

        for start in range(0, len(skus), MAX_BATCH):
            batch = [
                ProductData(sku=sku, name=f"Bench product {sku}", weight_grams=250)
                for sku in skus[start : start + MAX_BATCH]
            ]
            async with self.uow() as uow:
                await upsert_products(uow.session, batch)

    async def create_channel(self, code: str, network: Sequence[str]) -> None:
        from domain.channel.service import ChannelData, upsert_channel
        from domain.outbound import OutboundGuard

        data = ChannelData(
            code=code, name=f"Bench channel {code}", kind="WEB", currency="EUR", network=network
        )
        async with self.uow() as uow:
            await upsert_channel(uow.session, data, outbound=OutboundGuard.permissive())

    async def create_api_key(
        self,
        name: str,
        role: str,
        *,
        channel: str | None = None,
        locations: Sequence[str] | None = None,
    ) -> str:
        """A key's secret."""
        from domain.access.keys import create_api_key

        async with self.uow() as uow:
            _, secret = await create_api_key(
                uow.session, name=name, role=role, channel_code=channel, location_codes=locations
            )
        return secret

    async def set_stock(
        self, location: str, counts: Mapping[str, int], as_of: dt.datetime | None = None
    ) -> None:
        """Absolute counts at one location, as setStockLevels applies them (ledger included)."""
        from domain.inventory.service import CountLine, set_stock_levels

        now = dt.datetime.now(dt.UTC)
        async with self.uow() as uow:
            await set_stock_levels(
                uow.session,
                self.principal,
                location_code=location,
                as_of=as_of or now,
                lines=[CountLine(sku, qty) for sku, qty in counts.items()],
                reference=f"bench:{location}",
                now=now,
            )

    async def create_inbound(
        self, location: str, reference: str, expected_at: dt.datetime, lines: Mapping[str, int]
    ) -> None:
        from domain.inventory.inbound import SupplyLine, create_inbound_supply

        async with self.uow() as uow:
            await create_inbound_supply(
                uow.session,
                self.principal,
                reference=reference,
                kind="PURCHASE_ORDER",
                location_code=location,
                expected_at=expected_at,
                lines=[SupplyLine(sku, qty) for sku, qty in lines.items()],
            )


# --------------------------------------------------------------------------- the API


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (our loopback URL)
            return bool(resp.status == 200)
    except OSError:
        return False


def free_port() -> int:
    from api.embedded import free_port as embedded_free_port

    return embedded_free_port()


class ApiServer:
    """`python -m api serve` on a free port, with the benchmark's servers."""

    def __init__(self, servers: Servers, extra_env: Mapping[str, str] | None = None) -> None:
        self.servers = servers
        self.extra_env = dict(extra_env or {})
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_file = servers.tmp / "api.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/graphql"

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        # The developer's OMS_* settings would make figures incomparable: defaults only,
        # plus what the benchmark asks for explicitly.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("OMS_") and k not in ("DATABASE_URL", "REDIS_URL", "PORT", "HOST")
        }
        env.update(
            DATABASE_URL=self.servers.database_url,
            REDIS_URL=self.servers.redis_url,
            OMS_SECRET_KEY=secrets.token_urlsafe(48),
            OMS_LOG_LEVEL="WARNING",
            OMS_DATA_DIR=str(self.servers.tmp / "api-data"),
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0) -> None:
        for _ in range(3):  # the free port may be taken before uvicorn binds it
            self.port = free_port()
            with self.log_file.open("ab") as log:
                self.proc = _track(
                    subprocess.Popen(
                        [sys.executable, "-m", "api", "serve", "--port", str(self.port)],
                        cwd=ROOT,
                        env=self.env(),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # a terminal Ctrl-C reaches only us
                    )
                )
            if self._wait_healthy(timeout):
                return
            self.stop()
        raise RuntimeError(f"the API did not start; log {self.log_file}:\n{self.log_tail()}")

    def _wait_healthy(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        url = f"http://{HOST}:{self.port}/healthz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if _http_ok(url):
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def post(self, document: str, variables: Mapping[str, Any], token: str) -> dict[str, Any]:
        """One GraphQL request (setup, checks); the answer's JSON."""
        import httpx

        response = httpx.post(
            self.url,
            content=graphql_body(document, variables),
            headers=graphql_headers(token),
            timeout=120,
        )
        return dict(response.json())


# --------------------------------------------------------------------------- GraphQL


def operation_document(file: str, name: str) -> str:
    """The exact text of operation `name` in ../shared/clients/`file`, as clients send it."""
    from graphql import OperationDefinitionNode, parse

    source = (SHARED_CLIENTS / file).read_text()
    for definition in parse(source).definitions:
        if (
            isinstance(definition, OperationDefinitionNode)
            and definition.name
            and definition.name.value == name
            and definition.loc is not None
        ):
            return source[definition.loc.start : definition.loc.end]
    raise KeyError(f"no operation {name} in {file}")


def graphql_body(document: str, variables: Mapping[str, Any]) -> bytes:
    return orjson.dumps({"query": document, "variables": variables})


def graphql_headers(token: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Accept": "application/graphql-response+json, application/json",
        "Authorization": f"Bearer {token}",
    }


def http_request(port: int, document: str, variables: Mapping[str, Any], token: str) -> str:
    """A complete keep-alive POST /graphql, as the load generator sends it (latin-1 text)."""
    body = graphql_body(document, variables)
    head = ["POST /graphql HTTP/1.1", f"Host: {HOST}:{port}"]
    head += [f"{k}: {v}" for k, v in graphql_headers(token).items()]
    head += [f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(head) + body.decode("latin-1")


# --------------------------------------------------------------------------- load


class CpuWatch:
    """CPU used by groups of processes (a root pid and its descendants) over a window.

    A thread polls every 0.25 s, so that short-lived processes (a PostgreSQL backend of
    a connection opened and closed during the window) are counted up to their last
    poll. `other` is what the rest of the machine used meanwhile: another program
    running on a 2-core machine changes every figure, and the report says so.
    """

    def __init__(self, groups: Mapping[str, int | None], interval: float = 0.25) -> None:
        self.groups = {name: pid for name, pid in groups.items() if pid is not None}
        self.interval = interval
        self._first: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._machine0 = 0.0
        self._started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def machine_busy() -> float:
        import psutil

        cpu = psutil.cpu_times()
        return float(sum(cpu) - cpu.idle - getattr(cpu, "iowait", 0.0))

    def _poll(self) -> None:
        # One pass over /proc gives every process's parent and CPU time: cheap enough
        # (about 1 ms) not to disturb the machine being measured, unlike psutil's
        # children() and cpu_times(), which take some 10 ms per poll here.
        table = _process_table()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        for name, root in self.groups.items():
            pending = [root]
            while pending:
                pid = pending.pop()
                pending.extend(children.get(pid, ()))
                if pid in table:
                    self._last[pid] = (name, table[pid][1])

    def start(self) -> None:
        self._poll()
        self._first = {pid: seconds for pid, (_, seconds) in self._last.items()}
        self._machine0 = self.machine_busy()
        self._started = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def stop(self) -> dict[str, float]:
        """Cores busy per group (CPU seconds per second), plus `machine`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._poll()
        elapsed = max(time.monotonic() - self._started, 1e-9)
        used = dict.fromkeys(self.groups, 0.0)
        for pid, (name, seconds) in self._last.items():
            used[name] += seconds - self._first.get(pid, 0.0)
        out = {name: seconds / elapsed for name, seconds in used.items()}
        out["machine"] = (self.machine_busy() - self._machine0) / elapsed
        return out


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used), for every process we may read."""
    table: dict[int, tuple[int, float]] = {}
    if not os.path.isdir("/proc/self"):
        import psutil  # not Linux: slower, same answer

        for proc in psutil.process_iter(["ppid", "cpu_times"]):
            t = proc.info["cpu_times"]
            if t is not None:
                table[proc.pid] = (proc.info["ppid"], t.user + t.system)
        return table
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (field 2) may contain spaces and parentheses: split after it.
        fields = stat[stat.rfind(b")") + 2 :].split()
        # After the name: state, ppid, ..., utime (14th field overall), stime (15th).
        table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)
    return table


def machine_busy_now(seconds: float = 1.0) -> float:
    """Cores busy on the machine right now (before a run: is anybody else using it?)."""
    before = CpuWatch.machine_busy()
    time.sleep(seconds)
    return (CpuWatch.machine_busy() - before) / seconds


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> tuple[float, float]:
    """Wait (up to `max_wait` s) until the machine is nearly idle; (cores busy, s waited).

    Other programs on a 2-core machine (a test suite, a build) change every figure.
    """
    started = time.monotonic()
    busy = machine_busy_now(1.0)
    while busy > threshold and time.monotonic() - started < max_wait:
        busy = machine_busy_now(1.0)
    return busy, time.monotonic() - started


@dataclass
class LoadResult:
    label: str
    seconds: float
    latencies: list[float]
    errors: int
    error_sample: str | None
    cpu: dict[str, float] = field(default_factory=dict)  # cores busy, per process group
    busy_before: float | None = None  # cores busy on the machine just before the run

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000

    def line(self, *, p99: bool = True, errors: bool = True) -> str:
        parts = [
            f"{self.rps:9,.1f} req/s",
            f"p50 {self.ms(50):6.2f} ms",
            f"p95 {self.ms(95):6.2f} ms",
        ]
        if p99:
            parts.append(f"p99 {self.ms(99):6.2f} ms")
        if errors:
            parts.append(f"errors {self.errors}")
        parts.append(f"({self.requests:,} requests in {self.seconds:g} s)")
        return "  ".join(parts)

    def cpu_line(self) -> str:
        named = {k: v for k, v in self.cpu.items() if k != "machine"}
        parts = [f"{name} {value:.2f}" for name, value in named.items()]
        machine = self.cpu.get("machine")
        if machine is not None:
            parts.append(f"other processes {max(0.0, machine - sum(named.values())):.2f}")
            parts.append(f"whole machine {machine:.2f} of {os.cpu_count()}")
        line = "cores busy: " + ", ".join(parts)
        if self.busy_before is not None:
            line += f" (idle before: {self.busy_before:.2f} busy)"
        if self.rps and "api" in self.cpu:
            line += f"; API CPU per request {self.cpu['api'] / self.rps * 1000:.2f} ms"
        return line

    @property
    def other_cpu(self) -> float:
        machine = self.cpu.get("machine")
        if machine is None:
            return 0.0
        return max(0.0, machine - sum(v for k, v in self.cpu.items() if k != "machine"))

    def noise_warning(self, threshold: float = 0.15) -> str | None:
        if self.other_cpu < threshold:
            return None
        return (
            f"WARNING: other processes used {self.other_cpu:.2f} cores during this run"
            " (including PostgreSQL backends of connections opened and closed during it);"
            " on a quiet machine the figures would differ"
        )


def run_load(
    label: str,
    spec: Mapping[str, Any],
    watch: CpuWatch | None = None,
    *,
    quiet_wait: float = 0.0,
    timeout: float = 600,
) -> LoadResult:
    """Run the load generator in its own process; see bench/loadgen.py for `spec`.

    With `quiet_wait`, first wait up to that many seconds for the machine to be idle.
    """
    busy_before = wait_for_quiet(quiet_wait)[0] if quiet_wait > 0 else None
    result_file = Path(tempfile.mkstemp(prefix="oms-bench-load-", suffix=".json")[1])
    proc = _track(
        subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
    )
    cpu: dict[str, float] = {}
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({**spec, "result_file": str(result_file)}).encode())
        proc.stdin.close()
        for raw in proc.stdout:
            line = raw.decode().strip()
            if line == "MEASURE_START" and watch is not None:
                watch.start()
            elif line == "MEASURE_END" and watch is not None:
                cpu = watch.stop()
        if proc.wait(timeout) != 0:
            raise RuntimeError(f"the load generator failed (exit {proc.returncode})")
        result = json.loads(result_file.read_text())
    finally:
        terminate(proc, timeout=5.0)
        result_file.unlink(missing_ok=True)
    machine = cpu.pop("machine", None)
    cpu["client"] = result["client_cpu_seconds"] / result["seconds"]
    if machine is not None:
        cpu["machine"] = machine
    return LoadResult(
        label=label,
        seconds=result["seconds"],
        latencies=result["latencies"],
        errors=result["errors"],
        error_sample=result["error_sample"],
        cpu=cpu,
        busy_before=busy_before,
    )


# --------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linearly interpolated; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


# --------------------------------------------------------------------------- options


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="before each measurement, wait up to this long for the machine to be idle",
    )
    parser.add_argument(
        "--api-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the API process, e.g. OMS_DB_POOL_SIZE=20 (repeatable)",
    )
    return parser


def parse(
    parser: argparse.ArgumentParser, argv: Sequence[str], *, strict: bool
) -> argparse.Namespace:
    """Options of one benchmark; when several run, options meant for others are skipped."""
    if strict:
        return parser.parse_args(list(argv))
    args, unknown = parser.parse_known_args(list(argv))
    if unknown:
        print(f"{parser.prog}: ignoring {' '.join(unknown)}")
    return args


def api_processes(env: Mapping[str, str]) -> str:
    """How the API runs, for reports: `oms serve` starts OMS_WORKERS processes."""
    n = int(env.get("OMS_WORKERS", "1"))
    return "1 process" if n == 1 else f"{n} processes"


def api_env(pairs: Sequence[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--api-env takes KEY=VALUE, not {pair!r}")
        env[key] = value
    return env
