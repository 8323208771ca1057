"""Jinja2 filters of the console's templates: times and ages as the AWS console shows them, and keys carried in
forms."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import jinja2


def when(value: Any) -> str:
    """An epoch time (or ISO string) as ``2026-12-05 09:00 UTC``; ``-`` when absent."""
    if value in (None, ""):
        return "-"
    if isinstance(value, str):
        return value
    return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M UTC")


def age(value: Any, now: float | None = None) -> str:
    """How long ago: ``Today``, ``1 day``, ``12 days`` (the users list's ages); ``-`` when absent."""
    if value in (None, ""):
        return "-"
    days = int(((time.time() if now is None else now) - float(value)) // 86400)
    if days <= 0:
        return "Today"
    return "1 day" if days == 1 else f"{days} days"


def ago(value: Any, now: float | None = None) -> str:
    """Last activity: ``Never``, ``5 minutes ago``, ``3 hours ago``, ``12 days ago``."""
    if value in (None, ""):
        return "Never"
    seconds = max(0, int((time.time() if now is None else now) - float(value)))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "Now"


def formvalue(value: str) -> str:
    """A key (or prefix) as a form field's value: percent-encoded, since a browser turns CR LF and a lone CR in
    a value into LF (two keys would post as one); read back with ``Page.encoded_field(s)``."""
    return quote(value, safe="")


def version_choice(key: str, version_id: str) -> str:
    """One version of one key as a form field's value (``<version id> <key>``, both :func:`formvalue`-encoded:
    the one space parts them); read back with :func:`chosen_version`."""
    return f"{formvalue(version_id)} {formvalue(key)}"


def chosen_version(value: str) -> tuple[str, str] | None:
    """(key, version id) of a :func:`version_choice` value, None for anything else."""
    version_id, _, key = value.partition(" ")
    return (unquote(key), unquote(version_id)) if version_id and key else None


def install(env: jinja2.Environment) -> None:
    env.filters.update(when=when, age=age, ago=ago, formvalue=formvalue, version_choice=version_choice)
