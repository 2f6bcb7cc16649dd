"""OAuth applications an organisation registers with the authorisation server (RFC 6749's "clients"):
confidential (a secret, stored hashed) or public (PKCE only), with their redirect URIs, grant types and
scopes. Registration only; the authorisation server is `oauth`. Named `applications` so that `clients/`
means a service's HTTP clients of another service everywhere; the API keeps the protocol's word."""
