"""Fixtures of the unit tests: `plugin_env` installs real test plugins (see plugin_env.py)."""

from __future__ import annotations

from plugin_env import plugin_env

__all__ = ["plugin_env"]
