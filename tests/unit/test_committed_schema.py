"""schema.graphql, committed for reviewers and client generators, is the live schema."""

from __future__ import annotations

from api.cli import ROOT
from schema.root import build_schema


def test_committed_sdl_matches_the_schema() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed.strip() == build_schema().as_str().strip(), "run `make schema`"
