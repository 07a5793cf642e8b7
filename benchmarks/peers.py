"""The peer's models (pydantic v2) and msgspec's, written the way their users
write them: the fastest straightforward code for each stack. Imported only by
the benchmark runner."""

from datetime import datetime

import msgspec
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Status(_Model):
    id: str
    label: str
    internal_type: str


class Requester(_Model):
    email: str | None
    name: str | None = None


class Summary(_Model):
    id: str
    number: int
    subject: str
    priority: str
    status: Status
    requester: Requester
    created_at: datetime
    updated_at: datetime


class Page(_Model):
    tickets: list[Summary]
    next_cursor: str | None


class MStatus(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    label: str
    internal_type: str


class MRequester(msgspec.Struct, frozen=True):
    email: str | None
    name: str | None = None


class MSummary(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    number: int
    subject: str
    priority: str
    status: MStatus
    requester: MRequester
    created_at: datetime
    updated_at: datetime


class MPage(msgspec.Struct, frozen=True, rename="camel"):
    tickets: list[MSummary]
    next_cursor: str | None
