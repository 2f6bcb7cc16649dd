"""The GraphQL gateway: one strawberry schema over the three services, a permissioned view per partner
type. It owns no data and no database: it calls the services over HTTP with the caller's token and shapes
what they return. It never imports a service (import-linter enforces it)."""
