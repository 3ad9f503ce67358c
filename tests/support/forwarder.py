"""A TCP forwarder on loopback, put between a process and a server (the moto S3 server) to fail the server on cue:
``stop()`` refuses connections and cuts the open ones (a store out of reach), ``start()`` serves again on the same
port, ``black_hole()`` accepts connections and swallows every byte without an answer (a hung store: what a SIGSTOPped
server or a dead proxy does). One daemon thread, ``select`` with a short timeout, closed by ``close()`` or ``with``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time

LOOPBACK = "127.0.0.1"


class Forwarder:
    """``with Forwarder(target_port) as forwarder:`` then point clients at ``forwarder.url``."""

    def __init__(self, target_port: int, target_host: str = LOOPBACK) -> None:
        if target_host != LOOPBACK:
            raise ValueError("the forwarder only forwards to loopback")
        self.target = (target_host, target_port)
        self.mode = "forward"  # forward | black-hole | stopped
        self.swallowed = 0  # bytes received and never answered in black-hole mode
        self._lock = threading.Lock()
        self._pairs: dict[socket.socket, socket.socket | None] = {}  # client -> server (None: black-holed)
        self._listener: socket.socket | None = None
        self._closed = threading.Event()
        self.port = self._listen(0)
        self._thread = threading.Thread(target=self._loop, name="tcp forwarder", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def __enter__(self) -> Forwarder:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # ---- what a test does --------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Connections refused, open ones cut: the server is out of reach."""
        with self._lock:
            self.mode = "stopped"
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            self._drop_all()

    def start(self) -> None:
        """Forward again, on the same port."""
        with self._lock:
            if self._listener is None:
                self._listen(self.port)
            self.mode = "forward"

    def black_hole(self) -> None:
        """Accept and read, never answer, never close: a hung server. Open connections hang too."""
        with self._lock:
            if self._listener is None:
                self._listen(self.port)
            self.mode = "black-hole"
            for client, server in list(self._pairs.items()):
                if server is not None:
                    server.close()
                    self._pairs[client] = None

    def wait_swallowed(self, at_least: int = 1, timeout: float = 120) -> bool:
        """Whether a client sent something into the black hole within ``timeout`` s (a store call now hangs)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.swallowed >= at_least:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            self._drop_all()

    # ---- the loop ---------------------------------------------------------------------------------------------------
    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, port))
        listener.listen(64)
        self._listener = listener
        return listener.getsockname()[1]

    def _drop_all(self) -> None:
        for client, server in self._pairs.items():
            for sock in (client, server):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sock.close()
        self._pairs.clear()

    def _loop(self) -> None:
        while not self._closed.is_set():
            with self._lock:
                watched = [s for pair in self._pairs.items() for s in pair if s is not None]
                if self._listener is not None:
                    watched.append(self._listener)
            if not watched:
                time.sleep(0.05)
                continue
            try:
                readable, _, _ = select.select(watched, [], [], 0.05)
            except (OSError, ValueError):  # a socket closed by stop() meanwhile
                continue
            with self._lock:
                for sock in readable:
                    self._serve(sock)

    def _serve(self, sock: socket.socket) -> None:
        if sock is self._listener:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            server = None
            if self.mode == "forward":
                try:
                    server = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    return
            self._pairs[client] = server
            return
        if sock.fileno() < 0:
            return
        client = sock if sock in self._pairs else next((c for c, s in self._pairs.items() if s is sock), None)
        if client is None:
            return
        server = self._pairs[client]
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:  # one side closed: close both
            for end in (client, server):
                if end is not None:
                    end.close()
            self._pairs.pop(client, None)
            return
        if self.mode == "black-hole" or server is None:
            self.swallowed += len(data)
            return
        with contextlib.suppress(OSError):
            (server if sock is client else client).sendall(data)
