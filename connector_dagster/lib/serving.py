"""Serving an ASGI app with uvicorn, as finance's page and the webhook receiver do: on
a bound socket in the foreground, in a thread of this process, or as a child process
that reports its URL on one JSON line. Port 0 picks a free port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any, Literal, Self

import uvicorn

Lifespan = Literal["on", "off"]


def bind(host: str, port: int) -> socket.socket:
    """A listening, non-blocking socket on `host:port` (raises `OSError` if taken)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def server(app: Any, lifespan: Lifespan = "off") -> uvicorn.Server:
    """A quiet uvicorn server for `app`: warnings and errors only, no access log."""
    return uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan)
    )


def serve(app: Any, sock: socket.socket, lifespan: Lifespan = "off") -> None:
    """Serve `app` on `sock` until SIGINT or SIGTERM (the requests in flight finish)."""
    server(app, lifespan).run(sockets=[sock])


@contextmanager
def in_thread(
    app: Any, what: str, lifespan: Lifespan = "off", host: str = "127.0.0.1", timeout: float = 10
) -> Iterator[str]:
    """`app` on a free port of `host` in a thread of this process; yields its base URL
    once it serves, and stops it (within `timeout`) on leaving."""
    sock = bind(host, 0)
    running = server(app, lifespan)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not running.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not running.started:
        running.should_exit = True
        raise RuntimeError(f"{what} did not start within {timeout:g} s")
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        running.should_exit = True
        thread.join(timeout=timeout)


def announce_json(**fields: Any) -> None:
    """The one JSON line a child server prints on stdout once it serves."""
    print(json.dumps(fields), flush=True)


class ServerProcess:
    """`python -m module *args` in a child process that prints one JSON line once it
    serves; `info` is that line. Its log goes to `stderr` (default: this process's).
    With `own_session` a Ctrl-C in the terminal reaches only its parent, which stops it
    in turn."""

    def __init__(
        self,
        module: str,
        args: Sequence[str],
        what: str,
        env: Mapping[str, str] | None = None,
        stderr: IO[str] | None = None,
        own_session: bool = False,
    ) -> None:
        self.module = module
        self.args = list(args)
        self.what = what
        self.env = dict(env) if env is not None else None
        self.stderr = stderr
        self.own_session = own_session
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Self:
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", self.module, *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            start_new_session=self.own_session,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"{self.what} exited before reporting its URL")
        self.info = json.loads(line)
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
