"""The sample alert rules and dashboard (deploy/) name only series the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import domain.metrics  # noqa: F401  (defines the series)

ROOT = Path(__file__).resolve().parents[2]
SERIES = re.compile(r"\boms_[a-z_]+")


def exported() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(sample.name for sample in family.samples)
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_count", "_sum"))
    return names


def test_alert_rules_and_dashboard_name_exported_series() -> None:
    alerts = (ROOT / "deploy/prometheus/alerts.yml").read_text()
    dashboard = json.loads((ROOT / "deploy/grafana/oms-dashboard.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set(SERIES.findall(alerts)) | {n for e in expressions for n in SERIES.findall(e)}
    assert len(used) >= 8
    missing = sorted(used - exported())
    assert missing == []
