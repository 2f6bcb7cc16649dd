"""The raw HTTP limits, each run as its own process on a free 127.0.0.1 port.

* `hello`: a FastAPI JSON hello-world under uvicorn, configured as the services are (one worker, no
  access log): the ceiling any FastAPI endpoint on this machine can reach.
* `python -m bench.servers echo PORT`: a minimal keep-alive HTTP/1.1 responder on bare asyncio, which
  measures the load generator's own ceiling (what the client can drive when the server costs ~nothing).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from fastapi import FastAPI

hello = FastAPI()


@hello.get("/hello")
async def say_hello() -> dict[str, str]:
    return {"hello": "world"}


_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n"
    b'Connection: keep-alive\r\n\r\n{"hello":"world"}'
)


class _Echo(asyncio.Protocol):
    """Answers every request head it sees with a fixed response (GET only, no bodies)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(_RESPONSE)


async def _serve_echo(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Echo, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


@contextmanager
def process(kind: str, port: int, log_path: str) -> Iterator[str]:
    """Run `hello` (uvicorn) or `echo` on the port until the block ends; yields the URL to load."""
    if kind == "hello":
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.servers:hello",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        url = f"http://127.0.0.1:{port}/hello"
    else:
        command = [sys.executable, "-m", "bench.servers", "echo", str(port)]
        url = f"http://127.0.0.1:{port}/"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        _wait(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "echo":
        raise SystemExit("usage: python -m bench.servers echo PORT")
    asyncio.run(_serve_echo(int(sys.argv[2])))
