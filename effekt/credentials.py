"""The sandbox's lasting credentials, in the data directory (`.effekt/`, mode 0600):

- `operator.json`: the bootstrap operator client's id and secret and identity's URL. `effekt up` makes the
  secret once and reuses it on every start (identity re-keys the client to it), so scripts and machine
  integrations that copied it keep working across restarts.
- `demo-tokens.json`: per demo user an access token (15 minutes) and a refresh token (30 days, rotated on
  every use) with the public client it belongs to and identity's token endpoint. `effekt token --as
  investor` redeems the refresh token for a fresh access token, writes the rotated refresh token back and
  prints the access token; when identity refuses it (expired, or ended because an older copy of it was
  replayed) it signs the demo user in again with code + PKCE, as the seed did. `--as operator` uses client
  credentials.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from pathlib import Path
from typing import Any

import httpx

from effekt.sandbox.http import Refused
from effekt.sandbox.signin import sign_in

OPERATOR_FILE = "operator.json"
TOKENS_FILE = "demo-tokens.json"
DEMO_FILE = "demo.json"
OPERATOR_CLIENT_ID = "effekt-local-operator"
DEMO_PASSWORD = "Effekt-Demo-2026!"  # noqa: S105 - demo users on a local, single-user platform


class NoCredentials(RuntimeError):
    """The data directory has no such credentials, or identity refused them (the message says what to do)."""


def _write_private(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(document, file, indent=2)
    path.chmod(0o600)


def operator_credentials(data_dir: Path, identity_url: str) -> tuple[str, str]:
    """The operator client `effekt up` bootstraps: the one in `operator.json`, else a new one, saved."""
    path = data_dir / OPERATOR_FILE
    try:
        saved = json.loads(path.read_text())
        client_id, secret = str(saved["client_id"]), str(saved["client_secret"])
    except (OSError, ValueError, KeyError):
        client_id, secret = OPERATOR_CLIENT_ID, secrets.token_urlsafe(32)
    _write_private(
        path,
        {
            "client_id": client_id,
            "client_secret": secret,
            "identity_url": identity_url,
            "token_endpoint": f"{identity_url}/oauth2/token",
        },
    )
    return client_id, secret


def write_demo_tokens(data_dir: Path, tokens: dict[str, dict[str, str]]) -> None:
    _write_private(data_dir / TOKENS_FILE, dict(tokens))


def _read(path: Path, hint: str) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise NoCredentials(f"cannot read {path} ({exc}); {hint}") from exc
    return document


def mint_token(data_dir: Path, who: str, *, timeout: float = 30.0) -> str:
    """A fresh access token for a demo user (by refresh token) or the operator (client credentials)."""
    operator = _read(data_dir / OPERATOR_FILE, "start the sandbox with `effekt up` first")
    token_endpoint = str(operator["token_endpoint"])
    with httpx.Client(timeout=timeout) as http:
        if who == "operator":
            response = http.post(
                token_endpoint,
                data={"grant_type": "client_credentials"},
                auth=(operator["client_id"], operator["client_secret"]),
            )
            if response.status_code != 200:
                raise NoCredentials(f"identity refused the operator client: {response.text[:300]}")
            return str(response.json()["access_token"])
        tokens = _read(data_dir / TOKENS_FILE, "`effekt up` (without --no-seed) writes it")
        if who not in tokens or not tokens[who].get("refresh_token"):
            raise NoCredentials(f"no demo user {who!r}; choose one of: {', '.join(sorted(tokens))}")
        client_id = (
            tokens[who].get("client_id")
            or (  # a file an older seed wrote names no client
                _read(data_dir / DEMO_FILE, "`effekt up` (without --no-seed) writes it")["web_client_id"]
            )
        )
        response = http.post(
            token_endpoint,
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens[who]["refresh_token"],
                "client_id": client_id,
            },
        )
        if response.status_code == 200:
            body = response.json()
        elif tokens[who].get("redirect_uri") and tokens[who].get("email"):
            # Refresh tokens rotate, and replaying a used one ends the whole sign-in (identity's replay
            # protection): a curl that renewed it and an older copy of this file are enough to get here.
            identity_url = token_endpoint.removesuffix("/oauth2/token")
            try:
                body = asyncio.run(
                    sign_in(
                        identity_url,
                        client_id=client_id,
                        email=tokens[who]["email"],
                        password=DEMO_PASSWORD,
                        redirect_uri=tokens[who]["redirect_uri"],
                    )
                )
            except Refused as exc:
                raise NoCredentials(f"identity refused {who}'s sign-in ({exc}); restart `effekt up`") from exc
        else:  # a file an older seed wrote, without the redirect to sign in again through
            raise NoCredentials(
                f"identity refused {who}'s refresh token ({response.text[:200]}); restart `effekt up`, which "
                "signs the demo users in again"
            )
        tokens[who] = {**tokens[who], "token": body["access_token"], "refresh_token": body["refresh_token"]}
        write_demo_tokens(data_dir, tokens)
        return str(body["access_token"])
