"""The reference partner console (`examples/partner-console/`) for the browser tests and its screenshots:
built from the npm registry with its lock file (`npm ci`, then `npm run build`), and served as a static
site on an origin of its own, with the Content-Security-Policy its README recommends, so that the
browser really applies CORS to its calls and CSP to the page."""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SOURCE = Path(__file__).resolve().parents[2] / "examples" / "partner-console"


class NpmMissing(RuntimeError):
    """No `npm` on the PATH: the console cannot be built here."""


def build(out_dir: Path, *, source: Path = SOURCE, timeout: float = 300.0) -> Path:
    """`npm ci` (exactly the lock file's packages) and the production build into `out_dir`."""
    npm = shutil.which("npm")
    if npm is None:
        raise NpmMissing("needs Node.js and npm (apt-get install nodejs npm)")
    for command in (
        [npm, "ci", "--no-audit", "--no-fund"],
        [npm, "run", "build", "--", "--outDir", str(out_dir), "--emptyOutDir"],
    ):
        done = subprocess.run(command, cwd=source, timeout=timeout, capture_output=True, check=False)  # noqa: S603
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise RuntimeError(f"{' '.join(command[1:])} failed in {source}:\n{output[-4000:]}")
    return out_dir


# What the production build reads besides node_modules (which `npm ci` makes from the lock file).
BUILD_INPUTS = ("package.json", "package-lock.json", "index.html", "tsconfig.json", "vite.config.ts", "src")


def inputs_digest(source: Path = SOURCE) -> str:
    """What a build follows from: Node.js's version and every file it reads (the lock file pins the rest)."""
    node = shutil.which("node")
    if node is None:
        raise NpmMissing("needs Node.js and npm (apt-get install nodejs npm)")
    version = subprocess.run([node, "--version"], capture_output=True, check=True).stdout  # noqa: S603
    digest = hashlib.sha256(version)
    for name in BUILD_INPUTS:
        root = source / name
        for path in sorted([root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]):
            digest.update(path.relative_to(source).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "effekt" / "partner-console"


def cached_build(cache_dir: Path | None = None, *, source: Path = SOURCE) -> Path:
    """The production build for the current inputs (`inputs_digest`): the one an earlier run left in
    `cache_dir` (by default under `~/.cache`, beside npm's own cache), else `build` into it. Built apart and
    renamed into place, so a build cut short or running in another session is never taken for a whole one;
    a change to any source, the lock file or Node.js builds afresh."""
    root = cache_dir or default_cache_dir()
    done = root / inputs_digest(source)
    if (done / "index.html").is_file():
        return done
    root.mkdir(parents=True, exist_ok=True)
    building = root / f"building-{secrets.token_hex(4)}"
    try:
        build(building, source=source)
        try:
            building.rename(done)
        except OSError:  # another session put the same build in place first
            if not (done / "index.html").is_file():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return done


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def csp(issuer: str, gateway: str) -> str:
    """The page may load only its own files and talk only to identity and the gateway (HTTP and WS)."""
    ws = _origin(gateway).replace("http", "ws", 1)
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {_origin(issuer)} {_origin(gateway)} {ws}; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    )


@dataclass
class ConsoleSite:
    origin: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def redirect_uri(self) -> str:
        return f"{self.origin}/"


@contextmanager
def serve(dist: Path) -> Iterator[ConsoleSite]:
    """The built console on a free port; `config` is its /config.json (set it before a page loads)."""
    site = ConsoleSite(origin="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/config.json":
                self._send("application/json", json.dumps(site.config).encode())
                return
            file = (dist / path.lstrip("/")).resolve()
            if path == "/" or not file.is_file() or dist.resolve() not in file.parents:
                file = dist / "index.html"  # a single-page app: every other path is the page
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            self._send(kind, file.read_bytes())

        def _send(self, content_type: str, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if content_type == "text/html" and site.config:
                self.send_header(
                    "Content-Security-Policy", csp(site.config["issuer"], site.config["gateway"])
                )
                self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(body)

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
