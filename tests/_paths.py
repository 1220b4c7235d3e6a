"""Where the tests find the repository's own files; every path is inside the repository."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
RULES = REPO / "rules"
DOCS = REPO / "docs"
FIXTURES = REPO / "fixtures"
DEMO = FIXTURES / "orgs" / "demo-health"
PLANS = FIXTURES / "plans"
