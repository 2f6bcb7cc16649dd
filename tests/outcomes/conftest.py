"""Fixtures for the outcome service's HTTP tests."""
