"""parse_ticket_refs: a table of what counts as a mention, and properties over any text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headoni_async import InvalidArgumentType, parse_ticket_refs

CASES = [
    # (text, numbers)
    ("", []),
    ("no refs here", []),
    ("#1247", [1247]),
    ("[#1247]", [1247]),
    ("Re: [#1247] Login broken on staging", [1247]),
    ("see #1247 and #1248", [1247, 1248]),
    ("#1248 then #1247 then #1248 again", [1248, 1247]),
    ("dupes [#5] #5 (#5)", [5]),
    ("(#12), *#13*, _#14_, ~#15~, \"#16\", '#17', {#18}", [12, 13, 14, 15, 16, 17, 18]),
    ("#12, #13; #14! #15? #16.", [12, 13, 14, 15, 16]),
    ("#12,#13", [12, 13]),
    ("line one\n#7\tand\t#8", [7, 8]),
    ("\u201c#21\u201d and \u2018#22\u2019", [21, 22]),
    # inside a longer word
    ("abc#1247", []),
    ("snake_#12 x*#13", []),
    ("issue#12 v2#3", []),
    ("\u00e9#12", []),
    ("#1247abc", []),
    ("#12_a", []),
    ("#12\u00e9", []),
    # a longer number
    ("#12.5", []),
    ("#1,000", []),
    ("#12:30", []),
    ("#12-abc", []),
    ("##12", []),
    ("1#12", []),
    ("#0", []),
    ("#007", []),
    ("#1490375649312800768", []),  # 19 digits: a snowflake id, not a number
    ("#123456789012345678", [123456789012345678]),  # 18 digits still count
    # URLs, entities, chat markup
    ("https://x.example/page#1247", []),
    ("https://x.example/#1247", []),
    ("see https://x.example/a?b=1#12 and #13", [13]),
    ("<https://x.example/#12|the page> #13", [13]),
    ("www.x.example/a#12", []),
    ("x.example/#12", []),
    ("&#1247; is an entity", []),
    ("<#123456789012345678> is a Discord channel", []),
    ("a=#12&b=#13", []),
    ("mail me at a#12@x.example", []),
    # non-ASCII digits are not ticket numbers
    ("#\u0661\u0662", []),
    ("#\uff11\uff12", []),
]


@pytest.mark.parametrize(("text", "numbers"), CASES)
def test_table(text: str, numbers: list[int]) -> None:
    assert parse_ticket_refs(text) == numbers


def test_refuses_a_non_str() -> None:
    with pytest.raises(InvalidArgumentType):
        parse_ticket_refs(b"#12")  # type: ignore[arg-type]


_numbers = st.integers(min_value=1, max_value=10**18 - 1)
_separators = st.sampled_from([" ", "\n", ", ", "; ", " and ", "\t", " (see) "])


@given(st.lists(st.tuples(_numbers, st.booleans(), _separators), max_size=12))
def test_finds_every_mention_in_order_of_first_mention(items: list[tuple[int, bool, str]]) -> None:
    text = "".join(f"[#{n}]{sep}" if bracketed else f"#{n}{sep}" for n, bracketed, sep in items)
    expected = list(dict.fromkeys(n for n, _, _ in items))
    assert parse_ticket_refs(text) == expected


@given(st.text())
def test_any_text_gives_unique_positive_numbers_it_spells(text: str) -> None:
    found = parse_ticket_refs(text)
    assert len(found) == len(set(found))
    for n in found:
        assert 0 < n < 10**18 and f"#{n}" in text


@given(_numbers, st.from_regex(r"[A-Za-z0-9_/&=.<*~]", fullmatch=True))
def test_a_mention_glued_behind_a_word_or_url_char_never_counts(number: int, before: str) -> None:
    assert parse_ticket_refs(f"x{before}#{number}") == []


@given(_numbers, st.from_regex(r"[A-Za-z]|[.,:/_-][A-Za-z0-9_]", fullmatch=True))
def test_a_mention_followed_by_more_word_or_number_never_counts(number: int, after: str) -> None:
    assert parse_ticket_refs(f"#{number}{after}") == []


@given(_numbers, st.sampled_from(["https://x.example/p", "http://a.b/c?d=e", "www.x.example/", "ftp://h/"]))
def test_a_url_fragment_never_counts(number: int, url: str) -> None:
    assert parse_ticket_refs(f"go to {url}#{number} now") == []


def test_a_long_message_of_urls_and_mentions_costs_linear_work() -> None:
    # A bot parses whatever anyone posts. Each mention was checked against
    # every URL of the message: a 200 KB message of both blocked the event
    # loop for 20 s. Counted in Python steps (not timed): a bounded number per
    # mention, or the tracer stops the parse at once.
    import sys

    from headoni_async import _refs

    mentions = 3000
    text = "".join(f" a://x #{n} " for n in range(1, mentions + 1))
    budget, steps = 30 * mentions, 0

    def tracer(frame: Any, event: str, arg: object) -> Any:
        nonlocal steps
        if frame.f_code.co_filename != _refs.__file__:
            return None
        steps += 1
        if steps > budget:
            raise AssertionError(f"more than {budget} steps for {mentions} mentions")
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        found = parse_ticket_refs(text)
    finally:
        sys.settrace(previous)
    assert found == list(range(1, mentions + 1))
