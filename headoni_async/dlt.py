"""A dlt source: a Headoni desk into DuckDB, Postgres, BigQuery or any
warehouse dlt loads, incrementally (the optional extra ``dlt``).

::

    import dlt
    from headoni_async.dlt import headoni_source

    pipeline = dlt.pipeline("headoni", destination="duckdb", dataset_name="acme")
    pipeline.run(headoni_source(desk="acme"), loader_file_format="jsonl")  # token: dlt secrets

Resources:

- ``tickets``: every ticket exactly as the server sent it (a field Headoni
  adds later becomes a new column), merged on ``id``. Each run walks the list
  newest first and stops at the newest id an earlier run loaded, so a run with
  nothing new costs one request. With ``refresh=True`` the whole list is
  walked and tickets whose ``updatedAt`` changed are merged again, only those.
  With ``full=True`` each ticket is the whole ticket with its public messages
  (the child table ``tickets__messages``).
- ``departments`` and ``ticket_types``: replaced on every run.

The cursor lives in dlt's own resource state, which dlt commits with the load
itself: a run that fails part-way commits nothing, and the next run loads
what the failed one did not (merging on ``id``, so nothing twice).
"""

import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Final

import attrs

try:
    import dlt
    from dlt.common.typing import TSecretStrValue
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "headoni_async.dlt needs the dlt extra: pip install 'headoni-async[dlt]'"
    ) from exc

from ._config import RetryPolicy, Timeouts
from ._desk import AsyncDesk
from ._errors import InvalidArgument, InvalidArgumentType
from ._models import to_api_json

__all__ = ["headoni_source"]

_SECTION: Final = "headoni"
_ID_COLUMN: Final = {"id": {"data_type": "text", "nullable": False}}
_NEVER: Final = object()  # no updatedAt equals it, not even a missing one (None)
Rows = list[dict[str, Any]]
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


@attrs.frozen
class _Connect:
    """How a resource opens its own desk on dlt's event loop. The token is kept
    out of the repr, so it shows in no traceback local or log line."""

    desk: str
    token: str = attrs.field(repr=False)
    base_url: str | None
    retry: RetryPolicy | None
    timeouts: Timeouts | None

    def open(self) -> AsyncDesk:
        return AsyncDesk(
            self.desk, self.token, base_url=self.base_url, retry=self.retry, timeouts=self.timeouts
        )


def _headoni(
    desk: str = dlt.config.value,
    token: TSecretStrValue = dlt.secrets.value,
    base_url: str | None = None,
    full: bool = False,
    refresh: bool = False,
    page_size: int = 100,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    timeouts: Timeouts | None = None,
) -> Any:
    """The Headoni source for dlt: the resources ``tickets``, ``departments``
    and ``ticket_types`` of one desk.

    Args:
        desk: the desk's slug (``acme``); from dlt config (``sources.headoni.desk``) when not given.
        token: the desk's API token, needing ``tickets:read``; from dlt secrets
            (``.dlt/secrets.toml`` ``[sources.headoni] token``, or the environment
            variable ``SOURCES__HEADONI__TOKEN``) when not given. It is never
            written to dlt's state, schema, trace or logs.
        base_url: replaces ``https://<desk>.headoni.app/api/v1`` (a local fake desk).
        full: load whole tickets with their public messages (one request per
            ticket, ``concurrency`` at a time; messages become the child table
            ``tickets__messages``) instead of the list's summaries.
        refresh: also walk the whole list and merge again the tickets whose
            ``updatedAt`` changed since they were loaded (only those). The
            source then keeps each ticket's ``updatedAt`` in dlt's state.
        page_size: tickets per list request (1 to 100).
        concurrency: whole-ticket requests in flight with ``full=True``.
        retry, timeouts: the ``AsyncDesk``'s ``RetryPolicy`` and ``Timeouts``.

    Raises:
        InvalidArgument: a bad slug, token, base_url, page size or concurrency (a ``ValueError``).
        InvalidArgumentType: an argument of the wrong type (a ``TypeError``).

    While the pipeline runs, a failing request fails dlt's extract step
    (``dlt.pipeline.exceptions.PipelineStepFailed``) with the
    ``HeadoniError`` as its cause; nothing of that run is committed.
    """
    connect = _Connect(desk, token, base_url, retry, timeouts)
    del token  # only in `connect` from here on, whose repr hides it: not a traceback local
    opened = connect.open()  # checks every argument now; it opens no session, so no I/O
    slug, api = opened.desk, opened.base_url
    _check_count("page_size", page_size, 100)
    _check_count("concurrency", concurrency, None)

    async def tickets() -> AsyncIterator[Rows]:
        state = dlt.current.resource_state("tickets").setdefault("desks", {}).setdefault(slug, {})
        if state.get("base_url") != api:
            # Another server under this slug (a local fake desk first, then the real
            # one): its ids say nothing about this one's, so its cursor starts afresh.
            state.clear()
            state["base_url"] = api
        pages = _ticket_rows(
            connect, state, full=full, refresh=refresh, page_size=page_size, concurrency=concurrency
        )
        # Closing this generator (dlt does when it stops early) closes the walk and its desk
        # then and there, not whenever the loop finalizes it.
        async with contextlib.aclosing(pages):
            async for rows in pages:
                yield rows

    async def departments() -> AsyncIterator[Rows]:
        async with connect.open() as client:
            yield [_writable(to_api_json(d)) for d in await client.departments()]

    async def ticket_types() -> AsyncIterator[Rows]:
        async with connect.open() as client:
            yield [_writable(to_api_json(t)) for t in await client.ticket_types()]

    return (
        dlt.resource(
            tickets, name="tickets", primary_key="id", write_disposition="merge", columns=_ID_COLUMN
        ),
        dlt.resource(
            departments, name="departments", primary_key="id", write_disposition="replace",
            columns=_ID_COLUMN,
        ),
        dlt.resource(
            ticket_types, name="ticket_types", primary_key="id", write_disposition="replace",
            columns=_ID_COLUMN,
        ),
    )


headoni_source: Callable[..., Any] = dlt.source(name=_SECTION, section=_SECTION)(_headoni)


async def _ticket_rows(
    connect: _Connect,
    state: dict[str, Any],
    *,
    full: bool,
    refresh: bool,
    page_size: int,
    concurrency: int,
) -> AsyncGenerator[Rows, None]:
    """The ticket rows of one run, page by page, and the state for the next.

    ``state["last_id"]`` (a digit string, compared as a number) moves only
    when the walk reached its end: a walk that stops early (an error, or
    dlt's ``add_limit``) is walked again next time, never skipped.
    ``state["updated_at"]`` (id -> ``updatedAt`` as loaded) exists once a
    refresh has run, and is kept up to date by every run after it.
    """
    last = state.get("last_id")
    since = None if last is None else int(last)
    seen: dict[str, Any] | None = state.setdefault("updated_at", {}) if refresh else state.get("updated_at")
    newest = since
    listed: set[str] = set()
    async with connect.open() as client:
        stream = client.tickets(since_id=None if refresh else last, page_size=page_size)
        async with stream:
            async for page in stream.pages():
                rows, page_newest = _pick_rows(page.records, since=since, seen=seen, refresh=refresh)
                if page_newest is not None and (newest is None or page_newest > newest):
                    newest = page_newest
                if refresh:
                    listed.update(r["id"] for r in page.records)
                if full and rows:
                    rows = await _whole(client, [r["id"] for r in rows], concurrency)
                if seen is not None:
                    for row in rows:
                        seen[row["id"]] = _writable(row.get("updatedAt"))
                if rows:
                    yield [_writable(row) for row in rows]
    # Only a walk that reached its end moves the cursor.
    if newest is not None:
        state["last_id"] = str(newest)
    if refresh and seen is not None:
        for gone in [key for key in seen if key not in listed]:
            del seen[gone]  # no longer listed: removed from the desk


def _pick_rows(
    records: Sequence[dict[str, Any]], *, since: int | None, seen: Mapping[str, Any] | None, refresh: bool
) -> tuple[Rows, int | None]:
    """The records of one list page to load, and the page's newest id.

    Ids are digit strings compared as numbers (``"1000"`` is newer than
    ``"999"``). A record newer than ``since`` (the newest id loaded before) is
    loaded; an older one only with ``refresh``, and then only when its
    ``updatedAt`` differs from the one ``seen`` when it was loaded (or it was
    never seen)."""
    rows: Rows = []
    newest: int | None = None
    for record in records:
        ticket_id = record["id"]
        number = int(ticket_id)
        if newest is None or number > newest:
            newest = number
        if since is None or number > since:
            rows.append(record)  # new
        elif refresh and (seen is None or seen.get(ticket_id, _NEVER) != _writable(record.get("updatedAt"))):
            rows.append(record)  # changed, or never seen
    return rows, newest


async def _whole(client: AsyncDesk, ids: list[str], concurrency: int) -> Rows:
    """Whole tickets for ``ids``, in order. A ticket removed between the list
    and its fetch (404) is left out: it no longer exists to be loaded."""
    fetched = client.get_ticket_records(ids, concurrency=concurrency, missing="skip")
    return [r.record async for r in fetched]


def _writable(value: Any) -> Any:
    """``value`` with what no warehouse column can hold made storable, else the
    very same object: an integer outside the signed 64-bit range becomes its
    decimal text (exact; dlt puts it in a text variant column), and a lone
    surrogate in a string or key (valid JSON, never valid UTF-8) becomes
    U+FFFD. Without this, one such ticket would fail every run from then on
    (dlt cannot write either)."""
    if isinstance(value, str):
        return value if value.isascii() or not _SURROGATE.search(value) else _SURROGATE.sub("\ufffd", value)
    if isinstance(value, bool) or not isinstance(value, int | dict | list):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, list):
        items = [_writable(item) for item in value]
        same = all(a is b for a, b in zip(items, value, strict=True))
        return value if same else items
    pairs = [(_writable(k), _writable(v)) for k, v in value.items()]
    same = all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True))
    return value if same else dict(pairs)


def _check_count(name: str, value: object, most: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentType(f"{name} must be an int")
    if value < 1 or (most is not None and value > most):
        upper = "" if most is None else f" and at most {most}"
        raise InvalidArgument(f"{name} must be at least 1{upper}, not {value}")
