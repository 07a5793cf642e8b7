"""The ``headoni`` command: export a desk's tickets, mirror them into SQLite,
look tickets up, create one, run the fake desk, or run the demo against it.

Configuration: ``--desk``/``HEADONI_DESK``, ``--token``/``HEADONI_TOKEN``,
``--base-url``/``HEADONI_BASE_URL``. Errors print one line (never the token)
and exit non-zero: 1 for an API or network failure, 2 for bad usage or
configuration, 130 when interrupted (Ctrl-C), 143 when terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ._cli_args import EPILOG, VERSION_TEXT, accept_global_options_everywhere, bash_completion, int_in
from ._config import RetryPolicy
from ._desk import AsyncDesk
from ._errors import (
    APIError,
    HeadoniError,
    InsufficientScope,
    InvalidArgument,
    InvalidArgumentType,
    RateLimited,
    ServerError,
    SyncMismatch,
    SyncStateDamaged,
    TicketNotFound,
    TokenDeskMismatch,
    TransportError,
    Unauthenticated,
)
from ._export import ExportProgress, ExportResult, export_tickets
from ._json import json_dumps
from ._models import Ticket, TicketSummary, to_api_json
from ._sync import SyncProgress, SyncResult, sync_desk
from ._terminal import json_terminal_safe, terminal_safe

__all__ = ["main"]


class UsageError(Exception):
    """A configuration or usage problem; exits 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headoni",
        description="Headoni support-desk API client.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=VERSION_TEXT)
    parser.add_argument(
        "--desk", default=os.environ.get("HEADONI_DESK"), metavar="SLUG", help="desk slug (env HEADONI_DESK)"
    )
    parser.add_argument("--token", help="API token (env HEADONI_TOKEN; prefer the environment)")
    parser.add_argument(
        "--base-url",
        default=os.environ.get("HEADONI_BASE_URL"),
        metavar="URL",
        help="API base URL (env HEADONI_BASE_URL), e.g. a local fake desk; --desk is then optional",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request (never the token)")
    sub = parser.add_subparsers(dest="command", required=True)

    export = sub.add_parser("export", help="write every ticket as JSON Lines, resumably")
    export.add_argument("--status", help="keyword (open, awaiting_reply, resolved, closed) or status id")
    export.add_argument("--requester-email", help="only tickets of this requester (exact email)")
    export.add_argument("--full", action="store_true", help="whole tickets with messages (one request each)")
    export.add_argument(
        "--concurrency", type=int_in(1, 64), default=8, help="requests in flight with --full (default 8)"
    )
    export.add_argument(
        "--out",
        type=Path,
        help="output file, replaced only when the export completes (default, or '-': stdout, not resumable)",
    )
    export.add_argument("--resume", action="store_true", help="continue an unfinished export to --out")
    export.add_argument(
        "--restart", action="store_true", help="discard an unfinished export to --out and start over"
    )

    sync = sub.add_parser("sync", help="mirror the desk into SQLite, fetching only what is new")
    sync.add_argument("--db", type=Path, required=True, help="the SQLite database (created on first use)")
    sync.add_argument(
        "--refresh",
        action="store_true",
        help="also walk every summary: rewrite changed tickets, mark deleted ones (rows are kept)",
    )
    sync.add_argument(
        "--full", action="store_true", help="keep whole tickets with messages for new and changed tickets"
    )
    sync.add_argument(
        "--concurrency", type=int_in(1, 64), default=8, help="whole-ticket requests in flight (default 8)"
    )
    sync.add_argument(
        "--reset-state",
        action="store_true",
        help="forget where earlier walks stopped (after a damaged-state error); keeps every row",
    )

    ticket = sub.add_parser("ticket", help="get or create a ticket")
    ticket_sub = ticket.add_subparsers(dest="ticket_command", required=True)
    get = ticket_sub.add_parser("get", help="show one ticket with its public messages")
    get.add_argument("id_or_number", help="ticket number (e.g. 1247) or id")
    get.add_argument("--json", action="store_true", help="print the ticket as JSON, for scripts")
    create = ticket_sub.add_parser("create", help="create a ticket")
    create.add_argument(
        "--email", required=True, help="the requester's email (the end user is created on first use)"
    )
    create.add_argument("--subject", required=True, help="1 to 500 characters")
    create.add_argument("--body", required=True, help="the first public message, 1 to 50,000 characters")
    create.add_argument("--name", help="the requester's name, used only when the end user is created")
    create.add_argument(
        "--priority", choices=["low", "normal", "high", "urgent"], help="default: the desk's (normal)"
    )
    create.add_argument("--department-id", metavar="ID", help="default: the desk's default department")
    create.add_argument("--ticket-type-id", metavar="ID", help="default: the desk's default ticket type")
    create.add_argument("--json", action="store_true", help="print the created ticket as JSON")

    tickets = sub.add_parser("tickets", help="list tickets, newest first, as a table")
    tickets.add_argument("--status", help="keyword (open, awaiting_reply, resolved, closed) or status id")
    tickets.add_argument("--requester-email", help="only tickets of this requester (exact email)")
    tickets.add_argument(
        "--limit", type=int_in(1, 10_000), default=30, help="at most this many tickets (default 30)"
    )
    tickets.add_argument("--json", action="store_true", help="print the tickets as a JSON array, for scripts")

    for name, text in (("departments", "list departments"), ("ticket-types", "list ticket types")):
        listing = sub.add_parser(name, help=text)
        listing.add_argument("--json", action="store_true", help="print them as JSON, for scripts")

    fake = sub.add_parser("fake-desk", help="run a local fake desk until Ctrl-C")
    fake.add_argument(
        "--port", type=int_in(0, 65535), default=8080, help="port on 127.0.0.1 (0: any free one)"
    )
    fake.add_argument(
        "--tickets", type=int_in(0, 5_000_000), default=1000, help="tickets to seed (default 1000)"
    )
    fake.add_argument("--seed", type=int_in(0), default=0, help="seed of the generated tickets (default 0)")

    demo = sub.add_parser("demo", help="export from an in-process fake desk and show the numbers")
    demo.add_argument(
        "--tickets", type=int_in(1, 1_000_000), default=3000, help="tickets to seed (default 3000)"
    )
    demo.add_argument(
        "--out", type=Path, help="keep the export here (default: a temporary folder, removed afterwards)"
    )
    completion = sub.add_parser("completion", help="print a shell completion script")
    completion.add_argument(
        "shell", choices=["bash"], help='bash (zsh via bashcompinit): eval "$(headoni completion bash)"'
    )
    accept_global_options_everywhere(parser)
    return parser


# ---------------------------------------------------------------- errors, in one line


def _explain(exc: HeadoniError, desk: str | None) -> str:
    if isinstance(exc, APIError) and not exc.method:
        # Raised by a check before any request: no status came from a server.
        return f"{exc.detail or exc.code} (checked locally: nothing was sent)"
    if isinstance(exc, APIError) and exc.issues:
        return str(exc) + "".join(f"\n  {_issue(issue)}" for issue in exc.issues)
    if isinstance(exc, InsufficientScope):
        scope = exc.required_scope or "the needed scope"
        return f"token lacks {scope}: mint a token with that scope on the desk's API page"
    if isinstance(exc, Unauthenticated):
        return (
            "the desk refused the token (unauthenticated): it is unknown, revoked or expired; "
            "mint a new one on the desk's API page"
        )
    if isinstance(exc, TokenDeskMismatch):
        return f"the token belongs to another desk than {desk!r}: use a token minted on this desk"
    if isinstance(exc, TicketNotFound):
        which = f"ticket {exc.id_or_number}" if exc.id_or_number is not None else "such ticket"
        return f"no {which} on this desk (ticket_not_found)"
    if isinstance(exc, RateLimited | ServerError) and exc.retry_after is not None:
        return f"{exc} (the server asks to wait {exc.retry_after:g} s: Retry-After)"
    if isinstance(exc, APIError):
        return str(exc)
    if isinstance(exc, TransportError):
        return f"network failure: {exc}"
    return str(exc)


def _issue(issue: Any) -> str:
    """One validation issue as ``field: message``; any other shape as its JSON."""
    if isinstance(issue, dict) and isinstance(issue.get("message"), str):
        path = issue.get("path")
        where = ".".join(str(p) for p in path) if isinstance(path, list) and path else "(body)"
        return f"{where}: {issue['message']}"
    return json.dumps(issue, ensure_ascii=False)


def _fail(message: str, code: int) -> NoReturn:
    print(f"headoni: error: {terminal_safe(message)}", file=sys.stderr)
    raise SystemExit(code)


# ---------------------------------------------------------------- rendering


def _human_ticket(t: Ticket) -> str:
    who = t.requester.email or "(no email)"
    if t.requester.name:
        who = f"{t.requester.name} <{who}>"
    lines = [
        f"#{t.number} {t.subject}  [{t.priority}, {t.status.label}]",
        f"id: {t.id}",
        f"requester: {who}",
        f"department: {t.department.name if t.department else '-'}   "
        f"type: {t.ticket_type.name if t.ticket_type else '-'}",
        f"created {t.created_at:%Y-%m-%d %H:%M} UTC, updated {t.updated_at:%Y-%m-%d %H:%M} UTC",
    ]
    for m in t.messages:
        lines += ["", f"--- {m.author_kind}, {m.created_at:%Y-%m-%d %H:%M} UTC", m.body_md]
    return "\n".join(lines)


def _print_json(value: Any) -> None:
    print(json_terminal_safe(json.dumps(to_api_json(value), ensure_ascii=False, indent=2)))


# ---------------------------------------------------------------- commands


def _open_desk(args: argparse.Namespace) -> AsyncDesk:
    token = args.token or os.environ.get("HEADONI_TOKEN")
    desk = args.desk
    if not desk and args.base_url:
        # The URL says where to go; the slug then only names the desk in messages.
        host = urllib.parse.urlsplit(args.base_url).hostname or ""
        label = host.split(".")[0]
        desk = label if host.endswith(".headoni.app") and label else "desk"
    if not desk:
        raise UsageError("no desk: pass --desk SLUG or set HEADONI_DESK (or give --base-url)")
    if not token:
        raise UsageError("no token: set HEADONI_TOKEN (or pass --token)")
    return AsyncDesk(desk, token, base_url=args.base_url)


@contextlib.contextmanager
def _progress_display(progress: ExportProgress, desk: AsyncDesk) -> Iterator[Any]:
    """A live progress line on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield lambda _: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    started = time.perf_counter()
    bar = Progress(
        SpinnerColumn(),
        TextColumn(
            "this run: {task.fields[run]} tickets, {task.fields[pages]} pages, "
            "{task.fields[rate]} tickets/s, {task.fields[retries]} retries{task.fields[in_file]}"
        ),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    task = bar.add_task("export", total=None, run=0, pages=0, rate=0, retries=0, in_file="")

    def update(p: ExportProgress) -> None:
        elapsed = max(time.perf_counter() - started, 1e-9)
        run = p.tickets - p.resumed_from
        bar.update(
            task,
            run=run,
            pages=p.pages,
            rate=int(run / elapsed),
            retries=desk.retries,
            # A resumed export also shows what the file holds in all.
            in_file=f"; in the file: {p.tickets} tickets" if p.resumed_from else "",
        )

    with bar:
        yield update


def _export_file(args: argparse.Namespace) -> Path | None:
    """The export's output file; ``None`` for stdout (no --out, or ``--out -``)."""
    out: Path | None = args.out
    return None if out is None or str(out) == "-" else out


async def _export(args: argparse.Namespace) -> int:
    out = _export_file(args)
    if out is None and (args.resume or args.restart):
        raise UsageError("--resume and --restart need --out FILE: an export to stdout keeps no checkpoint")
    async with _sigterm_cancels(), _open_desk(args) as desk:
        progress = ExportProgress()
        try:
            with _progress_display(progress, desk) as update:
                result = await export_tickets(
                    desk,
                    out,
                    status=args.status,
                    requester_email=args.requester_email,
                    full=args.full,
                    concurrency=args.concurrency,
                    resume=args.resume,
                    restart=args.restart,
                    stdout=sys.stdout.buffer if out is None else None,
                    progress=progress,
                    on_page=update,
                )
        except BrokenPipeError:
            if out is not None:
                raise
            # The reader went away (`headoni export | head`): that is how pipes
            # end, not an error. Point stdout at /dev/null so that the final
            # flush at exit cannot complain either.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except (HeadoniError, OSError) as exc:
            if not progress.resumable or isinstance(exc, InvalidArgument | InvalidArgumentType):
                raise
            reason = _explain(exc, args.desk) if isinstance(exc, HeadoniError) else _os_error(exc)
            _fail(
                f"{reason}; {progress.saved} tickets are saved and {out} is unchanged: "
                "run again with --resume to continue from the last page saved",
                1,
            )
    if out is not None:
        print(_summary(result, out), file=sys.stderr)
    return 0


def _os_error(exc: OSError) -> str:
    return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")


class Terminated(Exception):
    """SIGTERM arrived; exits 143 after the command cleaned up."""


@contextlib.asynccontextmanager
async def _sigterm_cancels() -> AsyncIterator[None]:
    """Make SIGTERM cancel the running command like Ctrl-C does (so its
    ``finally`` blocks run), then raise ``Terminated``."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated = False

    def on_sigterm() -> None:
        nonlocal terminated
        terminated = True
        if task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    except (NotImplementedError, RuntimeError):  # no signal handlers here (Windows, a thread)
        yield
        return
    try:
        yield
    except asyncio.CancelledError:
        if terminated:
            raise Terminated from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _sync_display(progress: SyncProgress) -> contextlib.AbstractContextManager[Any]:
    """A live progress line on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        return contextlib.nullcontext(lambda _: None)
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn(
            "{task.fields[phase]}: {task.fields[new]} new, {task.fields[changed]} changed, "
            "{task.fields[deleted]} deleted, {task.fields[fetched]} fetched whole, {task.fields[pages]} pages"
        ),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    task = bar.add_task("sync", total=None, **_sync_fields(progress))

    @contextlib.contextmanager
    def shown() -> Iterator[Any]:
        with bar:
            yield lambda p: bar.update(task, **_sync_fields(p))

    return shown()


def _sync_fields(p: SyncProgress) -> dict[str, Any]:
    phase = "refreshing" if p.phase == "refresh" else "new tickets"
    return {
        "phase": phase,
        "new": p.new,
        "changed": p.changed,
        "deleted": p.deleted,
        "fetched": p.fetched,
        "pages": p.pages,
    }


async def _sync(args: argparse.Namespace) -> int:
    async with _sigterm_cancels(), _open_desk(args) as desk:
        progress = SyncProgress()
        with _sync_display(progress) as update:
            result = await sync_desk(
                desk,
                args.db,
                refresh=args.refresh,
                full=args.full,
                concurrency=args.concurrency,
                reset_state=args.reset_state,
                progress=progress,
                on_page=update,
            )
        # Inside the SIGTERM scope: a SIGTERM that finds no summary line printed
        # always gets the one-line "terminated" answer.
        print(_sync_summary(result, args.db), file=sys.stderr)
    return 0


def _sync_summary(r: SyncResult, db: Path) -> str:
    gone = f" ({r.vanished} gone before they could be fetched)" if r.vanished else ""
    return (
        f"synced {r.new} new, {r.changed} changed, {r.deleted} deleted{gone}, {r.restored} restored, "
        f"{r.fetched} fetched whole; {r.pages} pages, {r.requests} requests, {r.retries} retries, "
        f"{r.seconds:.2f} s; {r.tickets} tickets in {db}"
    )


def _summary(result: ExportResult, out: Path) -> str:
    rate = result.tickets / result.seconds if result.seconds > 0 else 0.0
    return (
        f"exported {result.tickets} tickets in {result.pages} pages, {result.seconds:.2f} s "
        f"({rate:,.0f} tickets/s), {result.retries} retries; {result.total_in_file} in {out}"
        + (f"; {result.vanished} deleted on the desk meanwhile, not written" if result.vanished else "")
    )


async def _ticket(args: argparse.Namespace) -> int:
    async with _sigterm_cancels(), _open_desk(args) as desk:
        if args.ticket_command == "get":
            key: int | str = (
                int(args.id_or_number)
                if args.id_or_number.isdigit() and len(args.id_or_number) < 12
                else args.id_or_number
            )
            ticket = await desk.get_ticket(key)
            _print_json(ticket) if args.json else print(terminal_safe(_human_ticket(ticket)))
            return 0
        created = await desk.create_ticket(
            email=args.email,
            subject=args.subject,
            body=args.body,
            name=args.name,
            priority=args.priority,
            department_id=args.department_id,
            ticket_type_id=args.ticket_type_id,
        )
        if args.json:
            _print_json(created)
        else:
            print(
                terminal_safe(
                    f"created #{created.number} (id {created.id}) "
                    f"for {created.requester.email}: {created.subject}"
                )
            )
        return 0


async def _tickets(args: argparse.Namespace) -> int:
    rows: list[TicketSummary] = []
    records: list[Any] = []
    async with _sigterm_cancels(), _open_desk(args) as desk:
        stream = desk.tickets(
            status=args.status, requester_email=args.requester_email, page_size=min(args.limit, 100)
        )
        async for page in stream.pages():
            take = args.limit - len(rows)
            rows += page.tickets[:take]
            records += page.records[:take]
            if len(rows) >= args.limit:
                break
    if args.json:
        print(json_terminal_safe(json_dumps(records)))
    elif sys.stdout.isatty():
        _print_table(rows)
    else:  # for grep and cut, as gh does: tab-separated, no header
        for t in rows:
            fields = (t.number, t.status.label, t.priority, t.requester.email or "", _when(t), t.subject)
            print("\t".join(_plain(str(f)) for f in fields))
    return 0


def _when(t: TicketSummary) -> str:
    return f"{t.updated_at:%Y-%m-%d %H:%M}"


def _plain(text: str) -> str:
    """Server text for one table cell: terminal controls as visible escapes
    (``terminal_safe``), tabs and line breaks as spaces."""
    return " ".join(terminal_safe(text).split("\n")).replace("\t", " ")


def _print_table(rows: Sequence[TicketSummary]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("#", "status", "priority", "requester", "updated (UTC)", "subject"):
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    for t in rows:
        table.add_row(
            *(
                Text(_plain(str(f)))  # Text: server text is never read as rich markup
                for f in (t.number, t.status.label, t.priority, t.requester.email or "-", _when(t), t.subject)
            )
        )
    console = Console()
    console.print(table)
    if not rows:
        console.print("no tickets match", style="dim")


async def _listing(args: argparse.Namespace) -> int:
    async with _sigterm_cancels(), _open_desk(args) as desk:
        if args.command == "departments":
            deps = await desk.departments()
            if args.json:
                _print_json(deps)
            for d in [] if args.json else deps:
                flags = ", ".join(
                    f for f, on in (("default", d.is_default), ("private", not d.is_public_to_users)) if on
                )
                print(terminal_safe(f"{d.id}  {d.name}" + (f"  ({flags})" if flags else "")))
        else:
            types = await desk.ticket_types()
            if args.json:
                _print_json(types)
            for t in [] if args.json else types:
                flags = ", ".join(
                    f for f, on in (("default", t.is_default), ("internal", t.is_internal)) if on
                )
                print(terminal_safe(f"{t.id}  {t.name}" + (f"  ({flags})" if flags else "")))
    return 0


def _fake_desk(args: argparse.Namespace) -> int:
    from .testing import FakeDesk

    fake = FakeDesk("acme", tickets=args.tickets, seed=args.seed)
    token = fake.mint_token()

    async def serve() -> None:
        base_url = await fake.start("127.0.0.1", args.port)
        print(f"fake desk 'acme' with {args.tickets} tickets at {base_url}")
        print(f"export HEADONI_DESK=acme HEADONI_BASE_URL={base_url} HEADONI_TOKEN={token}")
        print("Ctrl-C to stop", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await fake.close()

    asyncio.run(serve())
    return 0


def _ids_in(path: Path) -> list[str]:
    with path.open("rb") as fh:
        return [json.loads(line)["id"] for line in fh]


async def _demo_run(tickets: int, out: Path, *, keep: bool = True) -> None:
    from .testing import FakeDesk, Fault

    made = time.perf_counter()
    fake = FakeDesk("acme", tickets=tickets, seed=1)
    seeded = time.perf_counter() - made
    with fake.serve_in_thread() as base_url:
        token = fake.mint_token({"tickets:read"})
        print(f"fake desk: {tickets} seeded tickets in {seeded:.2f} s, serving {base_url} on its own thread")
        policy = RetryPolicy(attempts=3, backoff_initial=0.05)
        async with AsyncDesk("acme", token, scopes={"tickets:read"}, base_url=base_url, retry=policy) as desk:
            result = await export_tickets(desk, out)
            print(_summary(result, out))
            ids = _ids_in(out)
            expected = fake.store.all_ids_desc()
            verdict = "exactly the desk's tickets, newest first" if ids == expected else "MISMATCH"
            print(f"check: {len(ids)} lines, {len(set(ids))} unique ids: {verdict}")

            # The same export with two connections cut mid-page, then resumed from a checkpoint.
            pages = -(-tickets // 100)
            first = max(1, pages // 3)
            second = max(first, 2 * pages // 3) + 1  # request numbers shift by one after the first retry
            start = fake.count("list_tickets")
            fake.inject(Fault.reset_mid_body(), route="list_tickets", on=start + first)
            fake.inject(Fault.truncate(), route="list_tickets", on=start + second)
            again = out.with_name("tickets-faulty.jsonl")
            result2 = await export_tickets(desk, again)
            ids2 = _ids_in(again)
            print(
                f"with 2 injected connection failures: {result2.retries} retries, {len(ids2)} lines, "
                f"{'identical' if ids2 == expected else 'MISMATCH'}"
            )

            sample = [int(n) for n in range(1001, 1001 + min(300, tickets))]
            started = time.perf_counter()
            full = [t async for t in desk.get_tickets(sample, concurrency=8)]
            took = time.perf_counter() - started
            messages = sum(len(t.messages) for t in full)
            print(
                f"fetched {len(full)} whole tickets ({messages} public messages) "
                f"at concurrency 8 in {took:.2f} s "
                f"({len(full) / took:,.0f} tickets/s) over {fake.connections_seen} connections in all"
            )
        if ids != expected or ids2 != expected:
            raise SystemExit(1)
    if keep:
        print(f"files: {out} and {again}")


def _demo(args: argparse.Namespace) -> int:
    if args.out is not None:  # kept, so the user can look at them; the paths are printed
        asyncio.run(_demo_run(args.tickets, args.out))
        return 0
    with tempfile.TemporaryDirectory(prefix="headoni-demo-") as folder:
        asyncio.run(_demo_run(args.tickets, Path(folder) / "tickets.jsonl", keep=False))
    return 0


class _CurrentStderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, so that
    while a progress bar is live (rich redirects stderr) a retry warning is
    printed above the bar instead of tearing it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)


@contextlib.contextmanager
def _logging_to_stderr(verbose: bool, command: str) -> Iterator[None]:
    """Show the library's log lines on stderr for the command's duration only."""
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("headoni: %(message)s"))
    logger = logging.getLogger("headoni_async")
    previous = logger.level
    # The demo reports its own retries; elsewhere a retry is worth a line.
    quiet = logging.ERROR if command == "demo" else logging.WARNING
    logger.setLevel(logging.DEBUG if verbose else quiet)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``headoni`` command; returns the exit status (see the module docstring)."""
    args = _parser().parse_args(argv)
    with _logging_to_stderr(args.verbose, args.command):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.command == "export":
            return asyncio.run(_export(args))
        if args.command == "sync":
            return asyncio.run(_sync(args))
        if args.command == "ticket":
            return asyncio.run(_ticket(args))
        if args.command == "tickets":
            return asyncio.run(_tickets(args))
        if args.command in ("departments", "ticket-types"):
            return asyncio.run(_listing(args))
        if args.command == "completion":
            print(bash_completion(_parser()), end="")
            return 0
        if args.command == "fake-desk":
            return _fake_desk(args)
        return _demo(args)
    except (KeyboardInterrupt, Terminated) as exc:
        saved = args.command == "export" and _export_file(args) is not None
        hint = " (the last page is saved: run again with --resume)" if saved else ""
        if args.command == "sync":
            hint = f" (every page committed so far is in {args.db}: run sync again to go on)"
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"headoni: {what}{hint}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except UsageError as exc:
        _fail(str(exc), 2)
    except (InvalidArgument, InvalidArgumentType, SyncMismatch, SyncStateDamaged) as exc:
        _fail(_explain(exc, args.desk), 2)
    except HeadoniError as exc:
        _fail(_explain(exc, args.desk), 1)
    except OSError as exc:
        _fail(_os_error(exc), 1)


if __name__ == "__main__":
    raise SystemExit(main())
