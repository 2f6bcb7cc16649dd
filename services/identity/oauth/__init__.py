"""The OAuth2/OIDC authorisation server: authlib's core glued to FastAPI, the sign-in page, signing keys.
It issues and checks tokens; it never changes the directory except a user's failed-login state."""
