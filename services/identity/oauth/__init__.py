"""The OAuth2/OIDC authorisation server: authlib's core glued to FastAPI, the sign-in page, signing keys.
It issues and checks tokens and counts failed sign-ins (its own table); it never changes the directory."""
