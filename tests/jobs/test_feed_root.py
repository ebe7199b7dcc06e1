"""Feed files are written only under the feed root: the publishing job checks a
channel's feed directory again before each write (a symlink planted since it was
configured, a root narrowed since), and writes to the directory's real path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis

from domain.outbound import OutboundGuard, OutboundRules
from jobs.publishing import publish_stock
from tests.fixtures import World
from tests.jobs.test_publishing import channel_input, configure, fetch, stocked
from tests.support import Api, FakeResolver


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_PUBLISH_MIN_INTERVAL_SECONDS", "0")


@pytest.fixture
def job_ctx(sessionmaker: Any, arq_redis: ArqRedis) -> dict[str, Any]:
    return {"sessionmaker": sessionmaker, "redis": arq_redis}


def guard(root: Path) -> OutboundGuard:
    """The worker's rules with the feed root `root` (the rest as in production)."""
    rules = OutboundRules(public_only=True, allow_http_loopback=False, feed_root=str(root))
    return OutboundGuard(rules, FakeResolver())


async def publications(sessionmaker: Any) -> list[dict[str, Any]]:
    return await fetch(
        sessionmaker, "SELECT kind, status, attempts, last_error FROM channel_publications"
    )


class TestFeedsAtWriteTime:
    """The guard's root here is `<tmp>/root`; the API's (pytest's base directory) is
    wider, as a root narrowed since the channel was configured would be."""

    @pytest.mark.parametrize(
        "case", ["outside the root", "through .. out of the root", "a symlink planted since"]
    )
    async def test_a_feed_directory_that_escapes_the_root_is_refused_at_write_time(
        self,
        api: Api,
        world: World,
        sessionmaker: Any,
        job_ctx: dict[str, Any],
        tmp_path: Path,
        case: str,
    ) -> None:
        root, outside = tmp_path / "root", tmp_path / "outside"
        root.mkdir()
        outside.mkdir()
        directory = {
            "outside the root": tmp_path / "elsewhere",
            "through .. out of the root": root / ".." / "outside",
            "a symlink planted since": root / "feeds",
        }[case]
        if case == "a symlink planted since":
            directory.mkdir()
        await configure(api, world, channel_input(publishTarget={"feedDirectory": str(directory)}))
        if case == "a symlink planted since":
            directory.rmdir()
            os.symlink(outside, directory)
        await stocked(api, world)

        done = await publish_stock({**job_ctx, "outbound": guard(root)})

        assert (done["pushes"], done["acknowledged"]) == (1, 0)
        assert list(outside.iterdir()) == []
        assert not (tmp_path / "elsewhere").exists()
        [batch] = await publications(sessionmaker)
        assert (batch["kind"], batch["status"], batch["attempts"]) == ("FEED", "DEAD", 1)
        assert batch["last_error"].startswith("INVALID_PATH: feedDirectory must lie under")

    async def test_a_feed_directory_under_the_root_is_written(
        self, api: Api, world: World, sessionmaker: Any, job_ctx: dict[str, Any], tmp_path: Path
    ) -> None:
        root = tmp_path / "root"
        (root / "web").mkdir(parents=True)
        os.symlink(root / "web", root / "alias")  # a symlink that stays inside
        await configure(
            api, world, channel_input(publishTarget={"feedDirectory": str(root / "alias")})
        )
        await stocked(api, world)

        done = await publish_stock({**job_ctx, "outbound": guard(root)})

        assert done["acknowledged"] == 1
        assert sorted(p.name for p in (root / "web").iterdir()) == ["web-fr.csv", "web-fr.json"]
        assert (root / "alias").is_symlink()  # written through the checked real path
