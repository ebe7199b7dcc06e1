from __future__ import annotations

from tests.support import Api


async def test_typename_answers_without_credentials(api: Api) -> None:
    response = await api.post("{ __typename }")
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}
