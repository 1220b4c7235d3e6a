"""Time parsing shared by the loader, the operators and the configuration."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["format_time", "parse_time"]

_NANOS = re.compile(r"(\.\d{6})\d+")


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp (or a date) as an aware UTC datetime, or None if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text[-1:] in "Zz":
        text = text[:-1] + "+00:00"
    text = _NANOS.sub(r"\1", text)  # CAI writes nanoseconds; Python reads microseconds
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a Z, seconds precision unless there are microseconds."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"
