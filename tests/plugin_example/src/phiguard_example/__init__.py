"""An example phiguard plugin: see tests/plugin_example/pyproject.toml for its entry points."""

from __future__ import annotations

from pathlib import Path


def catalog() -> Path:
    """The `phiguard.controls` entry point: the path of this plugin's control catalog."""
    return Path(__file__).with_name("acme-controls.yaml")
