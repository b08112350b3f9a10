"""Rapport ingest service."""
