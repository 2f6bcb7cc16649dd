"""Clients for the other services this one must ask before a write: tolerant readers of just the fields
used, called with the caller's own token. Never a shared database, never an import of another service."""
