"""A TCP server on 127.0.0.1 that answers anything with random bytes: a camera sending garbage."""

from __future__ import annotations

import os
import socket
import threading


class GarbageServer:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(4096)
                    for _ in range(16):  # bounded: 64 KiB of noise, then hang up
                        conn.sendall(os.urandom(4096))
                except OSError:
                    pass

    def __enter__(self) -> GarbageServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=5)
