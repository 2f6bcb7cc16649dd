"""Who is who: organisations, users, OAuth2 clients, partnerships and memberships, and the
OAuth2/OIDC authorisation server that signs every token the platform trusts. It never reads or writes
another service's data."""
