# SPDX-License-Identifier: BSD-2-Clause
"""Fake ports that are no MemGEN device, for the tests and the fault campaign's host level: a
link that echoes what it is sent, and a TCP server that never stops talking."""

import socket
import threading

__all__ = ["EchoingLink", "TricklingServer"]


class EchoingLink:
    """A :class:`host.link.Transport` that sends back what it is sent, a frame at a time in two
    pieces, as a TX-RX jumper does."""

    def __init__(self):
        self._buffer = bytearray()

    @property
    def in_waiting(self):
        """Bytes :meth:`read` returns at once."""
        return len(self._buffer) // 2 or len(self._buffer)

    def read(self, size=1):
        """Return up to ``size`` of the bytes written."""
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def write(self, data):
        """Take bytes, to be read back."""
        self._buffer += data
        return len(data)


class TricklingServer:
    """A TCP server on 127.0.0.1 that sends ``chunk`` again and again, every ``interval``
    seconds, to each client, and discards what the clients send: a port that never stops
    talking. A context manager; it stops by itself after ``lifetime`` seconds.

    Attributes
    ----------
    url : str
        The pyserial URL of the server.
    """

    def __init__(self, chunk, *, interval=0.01, lifetime=30.0):
        self.chunk = bytes(chunk)
        self.interval = interval
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._timer = threading.Timer(lifetime, self._stop.set)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        self._threads[0].start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._timer.cancel()
        for thread in list(self._threads):
            thread.join(5)
        self._listener.close()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn):
        conn.setblocking(False)
        with conn:
            while not self._stop.wait(self.interval):
                try:
                    conn.sendall(self.chunk)
                    while conn.recv(4096):
                        pass
                except BlockingIOError:
                    continue
                except OSError:
                    return
