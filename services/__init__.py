"""Effekt's services: identity, contracts, outcomes. Each is a folder you could lift out with `kit/`;
none imports another (import-linter enforces it) and each owns its own database and migrations."""
