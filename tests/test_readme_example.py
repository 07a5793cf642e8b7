"""The README's plugin example, verbatim, so the documentation cannot rot."""

import pytest

from headoni_async.testing import Fault


@pytest.mark.asyncio
@pytest.mark.headoni_fake(tickets=500, seed=7)
async def test_my_export_survives_a_reset(headoni_desk, headoni_fake_desk):  # type: ignore[no-untyped-def]
    headoni_fake_desk.inject(Fault.reset_mid_body(), route="list_tickets", on=2)
    ids = [t.id async for t in headoni_desk.tickets()]
    assert ids == headoni_fake_desk.store.all_ids_desc()
    assert headoni_fake_desk.count("list_tickets") == 5 + 1  # 5 pages, one retried
