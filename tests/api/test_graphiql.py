"""GraphiQL in development: served with every asset from this process (it works
offline), opening with the admin key of `make run` in its headers; off in production."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support import Api

HTML = {"Accept": "text/html"}


async def page(api: Api) -> str:
    response = await api.http.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def test_graphiql_loads_nothing_from_another_host(api: Api) -> None:
    html = await page(api)
    assert "unpkg.com" not in html and "jsdelivr" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) == 6, assets
    for url in assets:
        assert url.startswith("/graphiql-assets/"), url
        asset = await api.http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 500, url
        kind = "javascript" if url.endswith(".js") else "css"
        assert kind in asset.headers["content-type"], (url, asset.headers["content-type"])


async def test_graphiql_opens_with_the_development_admin_key(api: Api, app_settings: Any) -> None:
    from api.demo import DEMO_ADMIN_SECRET

    html = await page(api)
    config = json.loads(re.search(r'id="oms-config"[^>]*>(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert config["authorization"] == f"Bearer {app_settings.admin_key or DEMO_ADMIN_SECRET}"
    assert "viewer" in config["defaultQuery"]


async def test_production_serves_neither_graphiql_nor_its_assets(
    app_settings: Any, clock: Any
) -> None:
    import dataclasses

    from api.app import create_app

    settings = dataclasses.replace(app_settings, env="production")
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application), Api.over_asgi(application) as api:
        response = await api.http.get("/graphql", headers=HTML)
        assert response.status_code in (400, 404), response.status_code
        assert "GraphiQL" not in response.text
        asset = await api.http.get("/graphiql-assets/graphiql.min.js")
        assert asset.status_code == 404
