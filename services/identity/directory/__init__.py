"""The directory: organisations, users, partnerships, memberships, OAuth2 clients and the audit log's
read side, as a management API. Every read starts from a `readable_<plural>(principal)` query; it never
issues tokens (that is `oauth`)."""
