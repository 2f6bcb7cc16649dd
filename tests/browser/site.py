"""The partner UI the browser tests drive: a static page on an origin of its own that signs in with
authorisation code + PKCE (Web Crypto, no library) and calls the platform with `fetch`, as a frontend
team's single-page app would. `serve()` runs it on a free port in a thread of the test process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partner UI (test)</title></head>
<body><button id="sign-in">Sign in</button>
<p>code: <output id="code"></output></p><p>token: <output id="token"></output></p>
<p>error: <output id="error"></output></p>
<script src="/config.js"></script><script src="/app.js"></script></body></html>"""

APP = """
const cfg = window.EFFEKT;
const show = (id, text) => { document.getElementById(id).textContent = text; };
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');

async function signIn() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem('pkce', JSON.stringify({verifier, state}));
  const query = new URLSearchParams({
    response_type: 'code', client_id: cfg.clientId, redirect_uri: cfg.redirectUri, scope: cfg.scope,
    state, code_challenge: challenge, code_challenge_method: 'S256',
  });
  location.assign(`${cfg.issuer}/oauth2/authorize?${query}`);
}

async function callback() {
  const params = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem('pkce') || '{}');
  if (params.get('error')) { show('error', params.get('error')); return; }
  if (params.get('state') !== saved.state) { show('error', 'state mismatch'); return; }
  show('code', params.get('code'));
  if (!cfg.exchange) return;
  try {
    const response = await fetch(`${cfg.issuer}/oauth2/token`, {method: 'POST', body: new URLSearchParams({
      grant_type: 'authorization_code', code: params.get('code'), redirect_uri: cfg.redirectUri,
      client_id: cfg.clientId, code_verifier: saved.verifier,
    })});
    const body = await response.json();
    window.tokens = body;
    show('token', body.access_token ? 'received' : JSON.stringify(body));
  } catch (error) {
    show('error', String(error));
  }
}

document.getElementById('sign-in').addEventListener('click', signIn);
if (location.pathname === '/callback') callback();
"""


@dataclass
class StaticSite:
    origin: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def redirect_uri(self) -> str:
        return f"{self.origin}/callback"


@contextmanager
def serve() -> Iterator[StaticSite]:
    site = StaticSite(origin="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path in ("/", "/callback"):
                self._send("text/html", PAGE)
            elif path == "/app.js":
                self._send("text/javascript", APP)
            elif path == "/config.js":
                self._send("text/javascript", f"window.EFFEKT = {json.dumps(site.config)};")
            else:
                self.send_error(404)

        def _send(self, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
