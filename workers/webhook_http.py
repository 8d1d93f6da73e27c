"""The HTTP client of webhook deliveries: one deadline per attempt, the checked address only.

httpx's timeouts bound each network operation, not the attempt: a receiver that sends one
byte every two seconds never trips a 10 s read timeout and holds the worker for as long
as it likes. And a name that the SSRF guard resolved to a public address could resolve to
127.0.0.1 a moment later, when httpx looks it up again to connect (DNS rebinding).

Both are closed at the network layer, under httpcore: every read and write of the
connection gets at most what is left of the attempt's deadline, and connecting goes to
the addresses the guard checked, never to a fresh look-up. The URL, the Host header and
the TLS server name (SNI and certificate check) stay those of the subscription's name.
"""

from __future__ import annotations

import math
import ssl
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any

import httpcore
import httpx

from workers.ssrf import TargetGuard, UnsafeTarget, mask_credentials

# A socket option as httpcore takes it: (level, option, value).
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class Attempt(threading.local):
    """The attempt in progress: its deadline and the addresses it may connect to.

    One per client, reset by :meth:`start` before each delivery. Its state is per thread:
    several threads send through one client at once (httpcore does a request's reads and
    writes in the thread that made it), each within its own attempt's deadline.
    """

    def __init__(self) -> None:
        self.deadline = math.inf
        self.addresses: Sequence[str] | None = None

    def start(self, budget_s: float, addresses: Sequence[str] | None) -> None:
        """Begin an attempt of at most ``budget_s`` seconds to these checked addresses.

        ``addresses`` None means no guard: connect to whatever the host resolves to.
        """
        self.deadline = time.monotonic() + budget_s
        self.addresses = addresses

    def remaining(self, timeout: float | None, error: type[Exception]) -> float:
        """The operation's timeout cut to what is left of the attempt; ``error`` if none is."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise error("the delivery attempt ran out of time")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, attempt: Attempt) -> None:
        self._inner = inner
        self._attempt = attempt

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._attempt.remaining(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._attempt.remaining(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._attempt.remaining(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, left), self._attempt
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        targets = self._attempt.addresses if self._attempt.addresses is not None else [host]
        error: Exception = httpcore.ConnectError(f"{host} has no checked address")
        for address in targets:
            left = self._attempt.remaining(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._inner.connect_tcp(address, port, left, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _DeadlineStream(stream, self._attempt)
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are never sent to a unix socket")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@cache
def tls_context() -> ssl.SSLContext:
    """The TLS context of every delivery client of this process, built once.

    Building one loads the CA bundle (tens of milliseconds); every delivery task opens a
    client, so a context per client cost a worker more than the requests did. A client
    context is safe to share: each connection keeps its own state.
    """
    return httpx.create_ssl_context(trust_env=False)


class DeliveryTransport(httpx.HTTPTransport):
    """httpx's transport over the deadline-and-pinning network backend."""

    def __init__(self, attempt: Attempt) -> None:
        super().__init__(verify=tls_context(), trust_env=False)
        # httpx exposes no network backend option; the pool it built is replaced by one
        # with the same TLS context over ours (no proxies: they would connect elsewhere).
        self._pool = httpcore.ConnectionPool(
            ssl_context=tls_context(), network_backend=_PinnedBackend(attempt)
        )


def delivery_client(attempt: Attempt, timeout_s: float) -> httpx.Client:
    """A client whose requests keep to ``attempt``; redirects are never followed."""
    return httpx.Client(
        transport=DeliveryTransport(attempt),
        timeout=timeout_s,
        follow_redirects=False,
        trust_env=False,
    )


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: the status code if any, the error (None on success), and
    how long the receiver asked to be left alone (a 429's or 503's Retry-After)."""

    status: int | None
    error: str | None
    retry_after_s: float | None = None


# A receiver's reply is read only to keep the connection reusable; past this it is cut off.
MAX_REPLY_BYTES = 64 * 1024


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def post(
    client: httpx.Client,
    attempt: Attempt,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    guard: TargetGuard | None = None,
) -> Outcome:
    """POST ``body`` within ``timeout_s`` in all, to the addresses the guard checks now.

    With a guard, the target's addresses are checked again now (DNS may have changed since
    the target was stored) and the connection goes to exactly those addresses. Errors
    never carry the URL's credentials (nor, for a secret URL, the URL: see ``shown_url``).
    """
    addresses: list[str] | None = None
    if guard is not None:
        try:
            addresses = guard.check_url(url)
        except UnsafeTarget as exc:
            return Outcome(None, f"refused by the SSRF guard: {exc}")
    attempt.start(timeout_s, addresses)
    try:
        with client.stream("POST", url, content=body, headers=dict(headers)) as response:
            read = 0
            for chunk in response.iter_raw():
                read += len(chunk)
                if read > MAX_REPLY_BYTES:
                    break  # closing an unfinished reply drops the connection
    except httpx.HTTPError as exc:
        # The error is logged and shown in the delivery log: never with URL credentials.
        message = str(exc).replace(url, mask_credentials(url))
        return Outcome(None, f"{type(exc).__name__}: {message}")
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None)
    return Outcome(
        response.status_code,
        f"HTTP {response.status_code}",
        retry_after_s(response.headers.get("Retry-After")),
    )
