"""Fixtures for every suite live in tests/support; this file only registers them."""

pytest_plugins = ["support.fixtures", "support.stack"]
