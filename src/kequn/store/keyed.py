"""Statements built once, whose list of keys is a parameter.

An event's reads (its customers, their consents and contacts, their managers'
day) are the same statements for every event, with other keys. Built anew for
each event, each cost SQLAlchemy a few hundred microseconds of construction
and caching keys; with the keys written into the text (``IN (…, …)``), every
length of list was a statement of its own to PostgreSQL, parsed and planned
each time (a planning of half a millisecond to a millisecond for an execution
of a tenth). Built once per dialect, with the keys as one array on PostgreSQL,
a statement is compiled once by SQLAlchemy, prepared once by psycopg and
planned once by the server."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

S = TypeVar("S")


def among(column: Any, name: str, dialect: str) -> ColumnElement[bool]:
    """``column`` is one of the keys passed as the parameter ``name``: on
    PostgreSQL ``= ANY`` of one array (one statement text whatever the number
    of keys), elsewhere an IN list expanded when the statement is executed."""
    if dialect == "postgresql":
        # an array of text of any length: a cast to the column's own VARCHAR(n)
        # would cut a longer key to n characters, and it might then match
        item = String() if isinstance(column.type, String) else column.type
        return column == any_(bindparam(name, type_=ARRAY(item)))  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


def dialect_of(s: Session) -> str:
    return s.get_bind().dialect.name


def built(build: Callable[[str], S]) -> Callable[[Session], S]:
    """``build(dialect)`` once per dialect: the statement for the session's
    database."""
    once = cache(build)

    def for_session(s: Session) -> S:
        return once(dialect_of(s))

    for_session.__doc__ = build.__doc__
    return for_session
