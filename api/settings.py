"""Configuration, from the environment (see the README's table)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from domain.db import Waits
from domain.outbound import OutboundRules


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


# Where `oms dev` (make run) records the URLs of the private servers it started, so that
# `oms` commands in another terminal reach them without DATABASE_URL / REDIS_URL.
DEV_SERVERS_FILE = "dev-servers.json"


def write_dev_servers(data_dir: Path, database_url: str, redis_url: str) -> None:
    path = data_dir / DEV_SERVERS_FILE
    path.write_text(json.dumps({"DATABASE_URL": database_url, "REDIS_URL": redis_url}))
    path.chmod(0o600)


def forget_dev_servers(data_dir: Path) -> None:
    (data_dir / DEV_SERVERS_FILE).unlink(missing_ok=True)


def _dev_servers(data_dir: Path) -> dict[str, str]:
    try:
        found = json.loads((data_dir / DEV_SERVERS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in found.items() if isinstance(v, str)} if isinstance(found, dict) else {}


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str | None
    redis_url: str | None
    host: str
    port: int
    data_dir: Path
    secret_key: str | None
    admin_key: str | None
    log_level: str
    log_json: bool
    db_pool_size: int
    auth_cache_seconds: float
    cost_budget_per_minute: int
    anonymous_budget_per_minute: int
    allowed_origins: tuple[str, ...]
    smtp_url: str | None
    max_body_bytes: int
    # Where webhooks and channel publishing may send data: OMS_OUTBOUND_PUBLIC_ONLY,
    # OMS_OUTBOUND_ALLOW, OMS_FEED_ROOT (read the same way by the worker).
    outbound: OutboundRules
    # WebSocket: seconds a socket may stay open without connection_init (then 4408),
    # and open sockets per credential in one process (beyond it, 4429).
    ws_init_timeout_seconds: float
    max_sockets_per_credential: int
    # Bounded waits on every database connection: OMS_DB_LOCK_TIMEOUT_MS,
    # OMS_DB_STATEMENT_TIMEOUT_MS, OMS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    # OMS_DB_CONNECT_TIMEOUT_SECONDS, OMS_DB_POOL_TIMEOUT_SECONDS (read the same way by
    # the worker).
    db_waits: Waits = field(default_factory=Waits)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        e = os.environ if environ is None else environ
        env = e.get("OMS_ENV", "development")
        data_dir = Path(e.get("OMS_DATA_DIR", ".data")).resolve()
        # In development, the servers `make run` started, when nothing else is set.
        dev = _dev_servers(data_dir) if env != "production" else {}
        return cls(
            env=env,
            database_url=e.get("DATABASE_URL") or dev.get("DATABASE_URL") or None,
            redis_url=e.get("REDIS_URL") or dev.get("REDIS_URL") or None,
            host=e.get("HOST", "127.0.0.1"),
            port=int(e.get("PORT", "8000")),
            data_dir=data_dir,
            secret_key=e.get("OMS_SECRET_KEY") or None,
            admin_key=e.get("OMS_ADMIN_KEY") or None,
            log_level=e.get("OMS_LOG_LEVEL", "INFO").upper(),
            log_json=_bool(e.get("OMS_LOG_JSON"), True),
            db_pool_size=int(e.get("OMS_DB_POOL_SIZE", "20")),
            auth_cache_seconds=float(e.get("OMS_AUTH_CACHE_SECONDS", "1.0")),
            cost_budget_per_minute=int(e.get("OMS_COST_BUDGET_PER_MINUTE", "2000000")),
            anonymous_budget_per_minute=int(e.get("OMS_ANONYMOUS_BUDGET_PER_MINUTE", "1000")),
            allowed_origins=tuple(o for o in e.get("OMS_ALLOWED_ORIGINS", "").split(",") if o),
            smtp_url=e.get("OMS_SMTP_URL") or None,
            max_body_bytes=int(e.get("OMS_MAX_BODY_BYTES", str(5 * 1024 * 1024))),
            outbound=OutboundRules.from_env(e),
            ws_init_timeout_seconds=float(e.get("OMS_WS_INIT_TIMEOUT_SECONDS", "10")),
            max_sockets_per_credential=int(e.get("OMS_MAX_SOCKETS_PER_CREDENTIAL", "100")),
            db_waits=Waits.from_env(e),
        )

    def signing_key(self) -> str:
        """Key that signs customer tokens. Production must set OMS_SECRET_KEY; development
        keeps a generated one in the data directory so tokens survive restarts."""
        if self.secret_key:
            return self.secret_key
        if self.production:
            raise RuntimeError("OMS_SECRET_KEY must be set in production")
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
