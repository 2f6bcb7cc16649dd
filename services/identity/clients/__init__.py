"""OAuth2 clients an organisation registers: confidential (a secret, stored hashed) or public (PKCE only),
with their redirect URIs, grant types and scopes. Registration only; the authorisation server is `oauth`."""
