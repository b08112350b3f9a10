"""Test support shared by every suite: real infrastructure, keys, running services."""
