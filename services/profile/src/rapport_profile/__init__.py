"""Rapport profile service."""
