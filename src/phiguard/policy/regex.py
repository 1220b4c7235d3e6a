"""Rule regexes, run by RE2: matching time is linear in the text, whatever the pattern.

A rule pack and phiguard.yaml are inputs; with a backtracking engine a pattern such as
`^(a+)+$` stalls a scan on one long value. RE2 (the `google-re2` package, Google's engine)
refuses what it cannot run in linear time (lookaround, backreferences): such a pattern is an
input error at load time. Matches are cached per pattern, since a scan tests the same few
roles and members millions of times.
"""

from __future__ import annotations

from functools import lru_cache

import re2

from phiguard.errors import RuleError

__all__ = ["Regex", "RegexError", "compile_regex"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error is reported to the user, not logged to stderr
_MEMO_LIMIT = 4096


class RegexError(RuleError, ValueError):
    """A pattern RE2 cannot compile: invalid, or a construct with no linear-time match."""


class Regex:
    """One compiled pattern; `search` says whether the text contains a match."""

    __slots__ = ("_memo", "_re", "pattern")

    def __init__(self, pattern: str) -> None:
        try:
            self._re = re2.compile(pattern, _OPTIONS)
        except re2.error as exc:
            detail = exc.args[0] if exc.args else exc
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            raise RegexError(f"{detail} (RE2 syntax: no lookaround or backreferences)") \
                from None
        except (TypeError, ValueError) as exc:
            raise RegexError(str(exc)) from None
        self.pattern = pattern
        self._memo: dict[str, bool] = {}

    def search(self, text: str) -> bool:
        found = self._memo.get(text)
        if found is None:
            found = self._re.search(text) is not None
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[text] = found
        return found


@lru_cache(maxsize=512)
def compile_regex(pattern: str) -> Regex:
    """The compiled pattern (cached), or `RegexError` saying why RE2 refuses it."""
    return Regex(pattern)
