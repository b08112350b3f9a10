"""Offline evaluation on real invoices: the service's own domain code against baselines."""
