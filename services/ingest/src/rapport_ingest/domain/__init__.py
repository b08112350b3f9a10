"""Intake rules as pure functions and dataclasses: no HTTP, no Kafka."""
