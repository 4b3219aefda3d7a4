"""A small Asterisk Manager Interface client for tests.

One reader thread parses every message. Responses are matched to their action by ``ActionID``;
events go to a list that :meth:`AmiClient.wait_event` and :meth:`AmiClient.drain` search; the
events of a list action (``PJSIPShowEndpoint``, ``CoreShowChannels`` ...) are collected by
:meth:`AmiClient.list_action` until the event that completes the list (``EventList: Complete``).

After login the socket has no read timeout: an Asterisk quiet for minutes is fine. When the
connection is lost, the next call (and any call waiting) fails at once naming the cause, instead
of waiting for its timeout and blaming Asterisk.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable

from buildtools.errors import SandboxError

Message = dict[str, str]

CONNECT_TIMEOUT = 10.0


class AmiClient:
    """A logged-in AMI connection to ``host:port``."""

    def __init__(self, port: int, username: str = "test", secret: str = "test", *, host: str = "127.0.0.1",
                 timeout: float = 10.0) -> None:
        self.address = f"{host}:{port}"
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._events: list[Message] = []
        self._responses: dict[str, Message] = {}
        self._lists: dict[str, list[Message]] = {}
        self._complete: set[str] = set()
        self._lost: str | None = None
        try:
            self._sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
            self._file = self._sock.makefile("rb")
            banner = self._file.readline()
        except OSError as e:
            raise SandboxError(f"AMI {self.address}: cannot connect: {e}") from None
        if not banner.startswith(b"Asterisk Call Manager"):
            self._sock.close()
            raise SandboxError(f"AMI {self.address}: unexpected banner {banner[:80]!r}")
        # From here on the reader blocks as long as Asterisk says nothing: no read timeout.
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._reader, name=f"ami-{port}", daemon=True)
        self._thread.start()
        resp = self.action("Login", Username=username, Secret=secret)
        if resp.get("Response") != "Success":
            self.close()
            raise SandboxError(f"AMI {self.address}: login as {username!r} failed: {resp.get('Message', resp)}")

    # -- reading ----------------------------------------------------------------------------

    def _reader(self) -> None:
        msg: Message = {}
        reason = "closed by Asterisk"
        try:
            for raw in self._file:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if line:
                    key, _, value = line.partition(":")
                    msg[key.strip()] = value.removeprefix(" ")
                    continue
                if msg:
                    self._dispatch(msg)
                msg = {}
        except (OSError, ValueError) as e:
            reason = f"{type(e).__name__}: {e}"
        with self._cond:
            if self._lost is None:
                self._lost = reason
            self._cond.notify_all()

    def _dispatch(self, msg: Message) -> None:
        action_id = msg.get("ActionID", "")
        with self._cond:
            if "Event" in msg:
                if action_id in self._lists:
                    self._lists[action_id].append(msg)
                    if msg.get("EventList", "").lower() == "complete":
                        self._complete.add(action_id)
                else:
                    self._events.append(msg)
            elif "Response" in msg:
                self._responses[action_id] = msg
            self._cond.notify_all()

    def _wait(self, ready: Callable[[], object], timeout: float, what: str) -> object:
        """Wait (holding the condition) until ``ready()`` is truthy; fail at once if the link is lost."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = ready()
                if result:
                    return result
                if self._lost is not None:
                    raise SandboxError(f"AMI {self.address}: connection lost ({self._lost}) while waiting for {what}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SandboxError(f"AMI {self.address}: no {what} within {timeout:g} s")
                self._cond.wait(left)

    # -- actions ----------------------------------------------------------------------------

    def _send(self, name: str, fields: dict[str, object], action_id: str | None = None) -> str:
        with self._cond:
            if self._lost is not None:
                raise SandboxError(f"AMI {self.address}: connection lost ({self._lost}); cannot send {name}")
        action_id = action_id or f"bt-{next(self._ids)}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"] + [f"{k}: {v}" for k, v in fields.items()]
        try:
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        except OSError as e:
            with self._cond:
                self._lost = self._lost or f"{type(e).__name__}: {e}"
            raise SandboxError(f"AMI {self.address}: connection lost ({e}); cannot send {name}") from None
        return action_id

    def action(self, name: str, timeout: float | None = None, **fields: object) -> Message:
        """Send action ``name`` and return its response (the one carrying its ActionID)."""
        action_id = self._send(name, fields)
        return self._wait(lambda: self._responses.pop(action_id, None), timeout or self.timeout,
                          f"response to {name}")  # type: ignore[return-value]

    def list_action(self, name: str, timeout: float | None = None, **fields: object) -> tuple[Message, list[Message]]:
        """Send a list action; return its response and every event of the list, the completing
        event (``…Complete``, ``EventList: Complete``) last. An error response returns no events."""
        action_id = f"bt-{next(self._ids)}"
        with self._cond:
            self._lists[action_id] = []
        try:
            sent = self._send(name, fields, action_id)
        except SandboxError:
            with self._cond:
                self._lists.pop(action_id, None)
            raise
        timeout = timeout or self.timeout
        try:
            resp: Message = self._wait(lambda: self._responses.pop(sent, None), timeout,
                                       f"response to {name}")  # type: ignore[assignment]
            if resp.get("Response") != "Success":
                return resp, []
            self._wait(lambda: sent in self._complete, timeout, f"end of the {name} list ({name}…Complete)")
            with self._cond:
                return resp, list(self._lists[sent])
        finally:
            with self._cond:
                self._lists.pop(sent, None)
                self._complete.discard(sent)

    # -- events -----------------------------------------------------------------------------

    @staticmethod
    def _matches(ev: Message, event: str, match: dict[str, str]) -> bool:
        return ev.get("Event") == event and all(ev.get(k) == v for k, v in match.items())

    def wait_event(self, event: str, timeout: float = 15, **match: str) -> Message:
        """Take the first event named ``event`` whose fields equal ``match`` (received before
        the call or within ``timeout`` seconds)."""
        def take() -> Message | None:
            for i, ev in enumerate(self._events):
                if self._matches(ev, event, match):
                    return self._events.pop(i)
            return None

        what = f"event {event}" + (f" {match}" if match else "")
        return self._wait(take, timeout, what)  # type: ignore[return-value]

    def drain(self, event: str, **match: str) -> list[Message]:
        """Take every event received so far named ``event`` whose fields equal ``match``."""
        with self._cond:
            taken = [ev for ev in self._events if self._matches(ev, event, match)]
            self._events = [ev for ev in self._events if not self._matches(ev, event, match)]
        return taken

    @property
    def connected(self) -> bool:
        with self._cond:
            return self._lost is None

    def close(self) -> None:
        """Log off (when still connected) and close the socket."""
        if self.connected:
            try:
                self._sock.sendall(b"Action: Logoff\r\n\r\n")
            except OSError:
                pass
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> AmiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
