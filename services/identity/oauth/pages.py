"""The server-rendered login-and-consent page (no JavaScript) and the error page of the authorisation
endpoint. Every value is HTML-escaped; the form carries a CSRF token that must match a SameSite cookie."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from fastapi.responses import HTMLResponse

CSRF_COOKIE = "effekt_csrf"
# The OAuth parameters the form carries from the GET to the POST.
CARRIED = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}"
    "label{display:block;margin:.8rem 0 .2rem}"
    "input[type=email],input[type=password]{width:100%;padding:.4rem}"
    ".error{color:#a00}button{margin:1rem .5rem 0 0;padding:.5rem 1rem}"
)


def login_page(
    *,
    client_name: str,
    scopes: Sequence[str],
    params: dict[str, str],
    csrf_token: str,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
    secure_cookie: bool = False,
) -> HTMLResponse:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(params[name])}">'
        for name in CARRIED
        if params.get(name)
    )
    scope_items = "".join(f"<li>{escape(scope)}</li>" for scope in scopes)
    error_html = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to Effekt</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body><h1>Sign in to Effekt</h1>
<p><strong>{escape(client_name)}</strong> asks to act for you with these permissions:</p>
<ul>{scope_items}</ul>{error_html}
<form method="post" action="/oauth2/authorize">{hidden}
<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">
<label for="email">E-mail</label><input id="email" type="email" name="email" value="{escape(email)}"
 autocomplete="username" required>
<label for="password">Password</label><input id="password" type="password" name="password"
 autocomplete="current-password">
<button type="submit" name="decision" value="allow">Sign in and allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</form></body></html>"""
    response = HTMLResponse(body, status_code=status_code, headers=_SECURITY_HEADERS)
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token,
        httponly=True,
        samesite="strict",
        secure=secure_cookie,
        path="/oauth2/authorize",
    )
    return response


def error_page(error: str, description: str | None, status_code: int = 400) -> HTMLResponse:
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cannot sign in</title><style>{_STYLE}</style></head>
<body><h1>This sign-in request cannot be completed</h1>
<p class="error" data-error="{escape(error)}">{escape(description or error)}</p></body></html>"""
    return HTMLResponse(body, status_code=status_code, headers=_SECURITY_HEADERS)
