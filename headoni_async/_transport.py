"""The one seam to aiohttp: send one request, read a bounded body, and turn
every aiohttp failure into one of ours.

Nothing else in the package touches ``aiohttp.ClientSession``. ``map_exception``
is the complete map of foreign exceptions (tests walk every subclass of
``aiohttp.ClientError`` through it). Exceptions that can carry the request's
headers (``ClientResponseError`` holds ``request_info``, token included) are
never chained to ours, so no traceback or ``__cause__`` can leak the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Final

import aiohttp
import attrs

from ._errors import (
    ConnectError,
    ConnectTimeout,
    HeadoniError,
    InvalidArgument,
    NetworkError,
    ProtocolError,
    ReadTimeout,
    ResponseTooLarge,
    TLSError,
    TransportError,
)

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "RawResponse", "interrupt_reads", "map_exception", "send"]

DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024


@attrs.frozen
class RawResponse:
    """What came back: the status, headers and the whole (bounded) body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


_TLS_ERRORS: Final = (
    aiohttp.ClientConnectorCertificateError,
    aiohttp.ClientConnectorSSLError,
    aiohttp.ClientSSLError,
    aiohttp.ServerFingerprintMismatch,
)


def map_exception(exc: BaseException, *, method: str, path: str) -> HeadoniError:
    """Our exception for a failure raised while sending or reading. Pure."""
    cls, message, reached = _classify(exc)
    if not issubclass(cls, TransportError):
        return cls(f"{method} {path}: {message}")
    return cls(message, method=method, path=path, may_have_reached_server=reached)


def _classify(exc: BaseException) -> tuple[type[TransportError] | type[InvalidArgument], str, bool]:
    # Order matters: the most specific aiohttp classes come first (a
    # certificate error is also a ClientConnectorError; a connect timeout is
    # also a ServerTimeoutError). The bool: may the request have reached the server?
    name = type(exc).__name__
    if isinstance(exc, _TLS_ERRORS):
        return TLSError, f"TLS failed ({name}): {exc}", False
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectTimeout, "timed out while connecting", False
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectError, f"could not connect ({name}): {exc}", False
    if isinstance(exc, asyncio.TimeoutError):  # SocketTimeoutError, ServerTimeoutError, total
        return ReadTimeout, f"timed out waiting for the response ({name})", True
    if isinstance(exc, aiohttp.ClientPayloadError):
        return NetworkError, f"the response body was cut short ({name})", True
    if isinstance(exc, aiohttp.InvalidURL):
        return InvalidArgument, f"the request URL is invalid ({name})", False
    if isinstance(exc, aiohttp.ClientResponseError):
        # Bad HTTP from the peer, or headers past aiohttp's limits. Only the
        # message is kept: the exception's request_info holds our headers.
        return ProtocolError, f"invalid HTTP response ({name}): {exc.message}", True
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError):
        return NetworkError, f"the connection failed ({name}): {exc}", True
    if isinstance(exc, OSError):
        return NetworkError, f"the connection failed ({name}: {exc.strerror or exc})", True
    return TransportError, f"the request failed ({name})", True


def interrupt_reads(inflight: set[aiohttp.ClientResponse]) -> None:
    """Fail every body read in progress, before its session closes.

    aiohttp's ``ResponseHandler.close()`` drops the body's reader before the
    connection-lost callback would fail it, so a read in progress when the
    session closes would otherwise wait for its read timeout (aiohttp 3.14).
    """
    for resp in list(inflight):
        resp.content.set_exception(aiohttp.ClientConnectionError("the desk was closed"))


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int, method: str, path: str) -> bytes:
    declared = resp.content_length
    if declared is not None and declared > max_bytes:
        raise ResponseTooLarge(
            f"the server announced {declared} bytes, past the cap of {max_bytes}", method=method, path=path
        )
    chunks: list[bytes] = []
    size = 0
    # Counted after decompression, so a small gzip bomb is stopped too.
    while chunk := await resp.content.readany():
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(f"the body passed the cap of {max_bytes} bytes", method=method, path=path)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    path: str,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None,
    data: bytes | None,
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's per-request timeouts, passed through
    max_bytes: int,
    inflight: set[aiohttp.ClientResponse] | None = None,
) -> RawResponse:
    """Send one request and read its whole body; redirects are never followed.

    Raises a ``TransportError`` subclass, ``ResponseTooLarge`` or
    ``InvalidArgument``; never an aiohttp exception. ``path`` names the request
    in errors (the route's path, without the host). While its body is read the
    response sits in ``inflight``, so that ``interrupt_reads`` can wake it.
    """
    failure: HeadoniError | None = None
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            params=params,
            data=data,
            timeout=timeout,
            allow_redirects=False,
        ) as resp:
            if inflight is None:
                body = await _read_capped(resp, max_bytes, method, path)
            else:
                inflight.add(resp)
                try:
                    body = await _read_capped(resp, max_bytes, method, path)
                finally:
                    inflight.discard(resp)
            return RawResponse(resp.status, resp.headers, body)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        mapped = map_exception(exc, method=method, path=path)
        if isinstance(exc, aiohttp.ClientResponseError):
            failure = mapped  # raised below, outside the handler: no __context__ to request_info
        else:
            raise mapped from exc
    raise failure
