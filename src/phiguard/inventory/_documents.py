"""JSON documents read with positions: an array of records, a ListAssets response, or records
pretty-printed one after another; and the errors that name where a document breaks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from phiguard.errors import SnapshotError

__all__ = ["RawItem", "iter_document", "json_error", "reject_constant"]

_WS_RUN = re.compile(r"[ \t\r\n]*")


@dataclass(frozen=True, slots=True)
class RawItem:
    """One record as read: its position and either the raw NDJSON line or the decoded value.

    `index` is the record's ordinal in its file: unique even where a compact JSON array puts
    many records on one line, so it is what identifies a record between the two passes.
    """

    file: str
    line: int
    raw: bytes | None
    value: Any = None
    index: int = 0
    offset: int = -1  # byte offset of the line in an uncompressed file (pass 2 seeks there)



def json_error(exc: json.JSONDecodeError | orjson.JSONDecodeError, file: str,
                line: int | None = None) -> SnapshotError:
    msg = str(exc)
    what = getattr(exc, "msg", msg)
    lowered = msg.lower()
    if "utf-8" in lowered:
        return SnapshotError("not valid UTF-8", file=file, line=line or exc.lineno)
    if "recursion" in lowered:
        return SnapshotError("JSON nested too deeply to be a CAI record", file=file,
                             line=line or exc.lineno)
    truncated = (" (truncated record?)" if "eof" in lowered or "unexpected end" in lowered
                 else "")
    return SnapshotError(f"invalid JSON: {what}{truncated}", file=file, line=line or exc.lineno,
                         column=exc.colno)


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Document:
    """A JSON document read with positions: an array of records or a ListAssets object."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.decoder = json.JSONDecoder(parse_constant=reject_constant)
        self._pos, self._line = 0, 1  # line counting resumes here: positions mostly increase

    def line_at(self, pos: int) -> int:
        if pos < self._pos:
            self._pos, self._line = 0, 1
        self._line += self.text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line

    def skip_ws(self, pos: int) -> int:
        match = _WS_RUN.match(self.text, pos)
        return match.end() if match else pos

    def fail(self, what: str, pos: int) -> SnapshotError:
        line = self.line_at(pos)
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return SnapshotError(what, file=self.file, line=line, column=column)

    def value(self, pos: int) -> tuple[Any, int]:
        try:
            return self.decoder.raw_decode(self.text, pos)
        except json.JSONDecodeError as exc:
            raise json_error(exc, self.file) from None
        except ValueError as exc:  # NaN, Infinity
            raise self.fail(f"invalid JSON: {exc}", pos) from None
        except RecursionError:
            raise self.fail("JSON nested too deeply to be a CAI record", pos) from None

    def end(self, pos: int) -> None:
        pos = self.skip_ws(pos)
        if pos < len(self.text):
            raise self.fail("unexpected text after the JSON document", pos)

    def array(self, pos: int) -> Iterator[tuple[int, Any, int]]:
        """(line, value, position after it) for each element of the array starting at `pos`."""
        text = self.text
        pos = self.skip_ws(pos + 1)
        if pos < len(text) and text[pos] == "]":
            yield -1, None, pos + 1
            return
        while True:
            pos = self.skip_ws(pos)
            if pos >= len(text):
                raise SnapshotError("unterminated JSON array (truncated file?)", file=self.file,
                                    line=self.line_at(pos))
            value, after = self.value(pos)
            line = self.line_at(pos)
            pos = self.skip_ws(after)
            if pos >= len(text):
                raise SnapshotError("unterminated JSON array (truncated file?)", file=self.file,
                                    line=self.line_at(pos))
            if text[pos] == "]":
                yield line, value, pos + 1
                return
            if text[pos] != ",":
                raise self.fail("expected `,` or `]` between array elements", pos)
            yield line, value, -1
            pos += 1


def iter_document(text: str, file: str) -> Iterator[RawItem]:
    """A JSON array of records, one object holding `assets` (a ListAssets page), or records
    as pretty-printed objects one after another (what `jq . export.ndjson` writes)."""
    doc = _Document(text, file)
    text = doc.text
    pos = doc.skip_ws(len(text) - len(text.lstrip("\ufeff")))
    if text.startswith("{", pos):
        first, _ = doc.value(pos)
        if isinstance(first, dict) and "assets" not in first and (
                "name" in first or "asset_type" in first or "assetType" in first):
            yield from _iter_objects(doc, pos)
        else:
            yield from _iter_list_response(doc, pos)
        return
    if not text.startswith("[", pos):
        raise doc.fail("expected a JSON array or NDJSON of CAI asset records", pos)
    index = 0
    for line, value, after in doc.array(pos):
        if line >= 0:
            index += 1
            yield RawItem(file, line, None, value, index=index)
        if after >= 0:
            doc.end(after)


def _iter_objects(doc: _Document, pos: int) -> Iterator[RawItem]:
    """JSON objects one after another, each at the line where it starts."""
    text = doc.text
    index = 0
    while True:
        pos = doc.skip_ws(pos)
        if pos >= len(text):
            return
        if text[pos] != "{":
            raise doc.fail("expected a JSON object (the next CAI record) or the end of the file",
                           pos)
        line = doc.line_at(pos)
        value, pos = doc.value(pos)
        index += 1
        yield RawItem(doc.file, line, None, value, index=index)


def _iter_list_response(doc: _Document, pos: int) -> Iterator[RawItem]:
    """The `assets` of a ListAssets response object, each at the line where it starts."""
    text, file = doc.text, doc.file
    found = False
    index = 0
    pos = doc.skip_ws(pos + 1)
    if text.startswith("}", pos):
        pos += 1
    else:
        while True:
            if not text.startswith('"', pos):
                raise doc.fail("invalid JSON: expected a property name", pos)
            key, pos = doc.value(pos)
            pos = doc.skip_ws(pos)
            if not text.startswith(":", pos):
                raise doc.fail("invalid JSON: expected `:`", pos)
            pos = doc.skip_ws(pos + 1)
            if key == "assets" and text.startswith("[", pos):
                found = True
                for line, value, after in doc.array(pos):
                    if line >= 0:
                        index += 1
                        yield RawItem(file, line, None, value, index=index)
                    if after >= 0:
                        pos = after
            else:
                _, pos = doc.value(pos)
            pos = doc.skip_ws(pos)
            if pos >= len(text):
                raise SnapshotError("unterminated JSON object (truncated file?)", file=file,
                                    line=doc.line_at(pos))
            if text[pos] == "}":
                pos += 1
                break
            if text[pos] != ",":
                raise doc.fail("invalid JSON: expected `,` or `}`", pos)
            pos = doc.skip_ws(pos + 1)
    if not found:
        raise SnapshotError(
            "expected a JSON array of assets, NDJSON, or an object with an `assets` array",
            file=file, line=1)
    doc.end(pos)
