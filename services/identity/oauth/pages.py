"""The server-rendered login-and-consent page (no JavaScript) and the error page of the authorisation
endpoint, in Danish (the default) or English by `Accept-Language`. Every value is HTML-escaped; the form
carries a CSRF token that must match a SameSite cookie.

The page's Content-Security-Policy allows form submission to identity itself and to the origin of the
one redirect URI this request was validated against: browsers apply `form-action` to the redirect that
answers the form, so with `'self'` alone the authorisation response never reaches the client.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from typing import Literal
from urllib.parse import urlsplit

from fastapi.responses import HTMLResponse

from services.identity.oauth.login import DISABLED, LOCKED, WRONG

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
Language = Literal["da", "en"]
LANGUAGES: tuple[Language, ...] = ("da", "en")
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}"
    "label{display:block;margin:.8rem 0 .2rem}"
    "input[type=email],input[type=password]{width:100%;padding:.4rem}"
    ".error{color:#a00;border-left:4px solid #a00;padding:.3rem .6rem}"
    "button{margin:1rem .5rem 0 0;padding:.5rem 1rem}:focus-visible{outline:3px solid #1a5fb4}"
)
_TEXT: dict[Language, dict[str, str]] = {
    "da": {
        "title": "Log ind på Effekt",
        "asks": "vil handle på dine vegne og må:",
        "email": "E-mailadresse",
        "password": "Adgangskode",
        "allow": "Log ind og tillad",
        "deny": "Afvis",
        WRONG: "Forkert e-mailadresse eller adgangskode.",
        LOCKED: "For mange forkerte forsøg. Prøv igen senere.",
        DISABLED: "Kontoen er spærret. Kontakt din organisations administrator.",
        "cannot": "Log-ind kan ikke gennemføres",
        "expired": "Formularen er udløbet. Gå tilbage og start forfra.",
        "signed_out_title": "Du er logget ud",
        "signed_out": "Du er logget ud af Effekt, og log-indets adgang er afsluttet. Du kan lukke vinduet.",
        "cannot_sign_out": "Du kan ikke logges ud herfra",
    },
    "en": {
        "title": "Sign in to Effekt",
        "asks": "wants to act for you and may:",
        "email": "E-mail address",
        "password": "Password",
        "allow": "Sign in and allow",
        "deny": "Deny",
        WRONG: "Wrong e-mail address or password.",
        LOCKED: "Too many failed attempts. Try again later.",
        DISABLED: "This account is disabled; ask your organisation's admin.",
        "cannot": "This sign-in request cannot be completed",
        "expired": "This form has expired. Go back and start again.",
        "signed_out_title": "You are signed out",
        "signed_out": "You have signed out of Effekt, and the sign-in's access has ended. You can close this "
        "window.",
        "cannot_sign_out": "This sign-out request cannot be completed",
    },
}
# Each scope in words a caseworker understands (every scope in `scopes.SCOPES` has both; a test checks).
SCOPE_WORDS: dict[str, dict[Language, str]] = {
    "openid": {"da": "vide, hvem du er", "en": "know who you are"},
    "profile": {"da": "se dit navn", "en": "see your name"},
    "email": {"da": "se din e-mailadresse", "en": "see your e-mail address"},
    "offline_access": {
        "da": "holde dig logget ind, til du logger ud",
        "en": "keep you signed in until you sign out",
    },
    "partners:read": {
        "da": "se din organisation og dens partnerskaber",
        "en": "see your organisation and its partnerships",
    },
    "partners:write": {
        "da": "ændre din organisations brugere og partnerskaber",
        "en": "change your organisation's users and partnerships",
    },
    "contracts:read": {"da": "se partnerskabets kontrakter", "en": "see the partnership's contracts"},
    "contracts:write": {"da": "udarbejde og ændre kontrakter", "en": "draft and change contracts"},
    "contracts:sign": {
        "da": "underskrive kontrakter for din organisation",
        "en": "sign contracts for your organisation",
    },
    "outcomes:read": {
        "da": "se de deltagere, resultater og betalinger, du har adgang til",
        "en": "see the participants, outcomes and payments you may see",
    },
    "outcomes:write": {
        "da": "registrere deltagere og indberette resultater",
        "en": "register participants and report outcomes",
    },
    "outcomes:verify": {
        "da": "godkende eller afvise indberettede resultater",
        "en": "approve or reject reported outcomes",
    },
    "feed:read": {"da": "læse listen over ændringer", "en": "read the list of changes"},
    "webhooks:manage": {
        "da": "sende besked om ændringer til andre systemer",
        "en": "notify other systems of changes",
    },
    "audit:read": {"da": "læse revisionssporet", "en": "read the audit trail"},
}
# What may stand in a CSP source expression; anything else leaves the redirect origin out (never injected).
_CSP_SOURCE = re.compile(r"[a-z][a-z0-9+.-]*:(//([A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\])(:[0-9]+)?)?")


def choose_language(accept_language: str | None) -> Language:
    """The best of Danish and English by the header's q-values (RFC 9110 §12.5.4); Danish by default.
    Of equal q-values the earlier wins, as the header's order is the user's."""
    best: tuple[float, Language] | None = None
    for item in (accept_language or "").split(","):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        language: Language | None = "da" if primary in ("da", "*") else "en" if primary == "en" else None
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if language is not None and quality > 0 and (best is None or quality > best[0]):
            best = (quality, language)
    return best[1] if best else "da"


def redirect_origin(redirect_uri: str) -> str | None:
    """The CSP source for a redirect URI: `scheme://host[:port]`, or `scheme:` for a native app's URI."""
    parts = urlsplit(redirect_uri)
    source = f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"
    if "@" in parts.netloc or not _CSP_SOURCE.fullmatch(source):
        return None
    return source


def _headers(form_target: str | None = None) -> dict[str, str]:
    form_action = f"'self' {form_target}" if form_target else "'self'"
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }


def login_page(
    *,
    client_name: str,
    scopes: Sequence[str],
    params: dict[str, str],
    csrf_token: str,
    redirect_uri: str,
    language: Language = "da",
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
    secure_cookie: bool = False,
) -> HTMLResponse:
    """The sign-in form; `redirect_uri` is the one the request was validated against (registered)."""
    text = _TEXT[language]
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(params[name])}">'
        for name in CARRIED
        if params.get(name)
    )
    scope_items = "".join(
        f'<li data-scope="{escape(scope)}">{escape(SCOPE_WORDS.get(scope, {}).get(language, scope))}</li>'
        for scope in scopes
    )
    error_html = (
        f'<p id="sign-in-error" class="error" role="alert" data-error="{escape(error)}">'
        f"{escape(text.get(error, error))}</p>"
        if error
        else ""
    )
    invalid = ' aria-invalid="true" aria-describedby="sign-in-error"' if error else ""
    # Focus lands where the person types next: the e-mail field, or the password after a wrong one.
    email_focus, password_focus = ("", " autofocus") if email else (" autofocus", "")
    body = f"""<!doctype html>
<html lang="{language}"><head><meta charset="utf-8"><title>{text["title"]}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body><main><h1>{text["title"]}</h1>
<p id="consent"><strong id="client-name">{escape(client_name)}</strong> {text["asks"]}</p>
<ul aria-labelledby="consent">{scope_items}</ul>{error_html}
<form method="post" action="/oauth2/authorize">{hidden}
<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">
<label for="email">{text["email"]}</label><input id="email" type="email" name="email" value="{escape(email)}"
 autocomplete="username" required{invalid}{email_focus}>
<label for="password">{text["password"]}</label><input id="password" type="password" name="password"
 autocomplete="current-password" required{invalid}{password_focus}>
<button type="submit" name="decision" value="allow">{text["allow"]}</button>
<button type="submit" name="decision" value="deny" formnovalidate>{text["deny"]}</button>
</form></main></body></html>"""
    headers = _headers(redirect_origin(redirect_uri))
    headers["Content-Language"] = language
    response = HTMLResponse(body, status_code=status_code, headers=headers)
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token,
        httponly=True,
        samesite="strict",
        secure=secure_cookie,
        path="/oauth2/authorize",
    )
    return response


def error_page(
    error: str, description: str | None, status_code: int = 400, *, language: Language = "da"
) -> HTMLResponse:
    """An error the page cannot send back to the client; authlib's description stays in English."""
    text = _TEXT[language]
    body = f"""<!doctype html>
<html lang="{language}"><head><meta charset="utf-8"><title>{text["cannot"]}</title>
<style>{_STYLE}</style></head>
<body><main><h1>{text["cannot"]}</h1>
<p class="error" role="alert" data-error="{escape(error)}">{escape(description or error)}</p>
</main></body></html>"""
    headers = _headers()
    headers["Content-Language"] = language
    return HTMLResponse(body, status_code=status_code, headers=headers)


def expired_page(language: Language) -> HTMLResponse:
    return error_page("invalid_request", _TEXT[language]["expired"], 403, language=language)


def signed_out_page(language: Language, error: str | None = None) -> HTMLResponse:
    """After RP-initiated logout with no registered address to return to (or why it could not happen)."""
    text = _TEXT[language]
    title = text["cannot_sign_out"] if error else text["signed_out_title"]
    message = (
        f'<p class="error" role="alert">{escape(error)}</p>'
        if error
        else f'<p role="status">{text["signed_out"]}</p>'
    )
    body = f"""<!doctype html>
<html lang="{language}"><head><meta charset="utf-8"><title>{title}</title><style>{_STYLE}</style></head>
<body><main><h1>{title}</h1>{message}</main></body></html>"""
    headers = _headers()
    headers["Content-Language"] = language
    response = HTMLResponse(body, status_code=400 if error else 200, headers=headers)
    response.delete_cookie(CSRF_COOKIE, path="/oauth2/authorize")
    return response
