"""Redaction of secret-bearing evidence values, applied where the engine builds evidence.

Evidence carries the values a rule read. Some fields can hold credentials: instance metadata
(startup scripts, ssh-keys, arbitrary user keys), environment variables, and anything named like
a key, secret, password or token. Their values are replaced by `REDACTED`; the field names stay,
so the auditor still sees what was read. Google-defined metadata switches (`enable-oslogin` and
the like) are configuration flags the rules judge, not secrets, so they stay visible.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from itertools import islice
from typing import Any

__all__ = ["REDACTED", "field_flags", "is_secret_name", "path_context", "redact", "redact_evidence",
           "redact_field"]

REDACTED = "[redacted]"

# Metadata keys Google documents as on/off switches; their values are the evidence MFA-006 and
# friends rest on, and hold nothing secret. Every other metadata value is redacted.
SAFE_METADATA_KEYS = frozenset({
    "enable-oslogin", "enable-oslogin-2fa", "enable-oslogin-sk", "block-project-ssh-keys",
    "serial-port-enable", "serial-port-logging-enable", "disable-legacy-endpoints",
    "enable-guest-attributes", "enable-osconfig", "google-logging-enable",
    "google-monitoring-enable", "created-by", "instance-template", "cluster-name",
    "cluster-location", "vmdnssetting", "enable-windows-ssh",
})

# Containers whose values are secrets by nature: their element names are user-chosen.
_METADATA = frozenset({"metadata", "commoninstancemetadata"})
_ENV = frozenset({"env", "envs", "envvars", "environment", "environmentvariables",
                  "buildenvironmentvariables", "secretenvironmentvariables"})
_SECRET_WORDS = frozenset({"secret", "secrets", "password", "passwords", "passwd", "pwd",
                           "token", "tokens", "credential", "credentials", "apikey", "passphrase",
                           "privatekey"})
# "key" alone names many non-secrets (kmsKeyName, keyRing, keyAlgorithm): only these qualify it.
_KEY_QUALIFIERS = frozenset({"private", "api", "access", "secret", "signing", "auth", "ssh",
                             "client", "encryption", "shared", "master", "hmac"})
_NON_SECRET_TAILS = frozenset({"name", "names", "id", "ids", "type", "types", "version",
                               "versions", "algorithm", "origin", "ring", "rotation", "period",
                               "time", "expiry", "expiration", "expires", "count", "length",
                               "enabled", "policy", "uri", "url", "path", "format", "state",
                               "status", "age", "days", "ttl", "config"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)]


@lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """True when a field name says its value is a credential (password, apiKey, client_secret)."""
    words = _words(name)
    if not words:
        return False
    if words[-1] in _NON_SECRET_TAILS:
        return False
    joined = "".join(words)
    if joined in _SECRET_WORDS:
        return True
    for i, word in enumerate(words):
        if word in _SECRET_WORDS:
            return True
        if word in ("key", "keys") and i > 0 and words[i - 1] in _KEY_QUALIFIERS:
            return True
    return joined in ("key", "sshkeys")


_SCALARS = frozenset({str, int, float, bool, type(None)})
_CONTAINERS = _METADATA | _ENV


@lru_cache(maxsize=8192)
def _key(name: str) -> tuple[bool, bool, bool, bool]:
    """What a field name says, decided once per name: (secret-named, a metadata container, an
    environment container, `value`)."""
    low = name.lower()
    return is_secret_name(name), low in _METADATA, low in _ENV, low == "value"


@lru_cache(maxsize=4096)
def _context(path: str) -> tuple[str, bool, bool]:
    """The last field name of an evidence path, and whether the path is inside instance
    metadata or environment variables, decided once per path."""
    names = [m.group(0) for m in _SEGMENT.finditer(path)]
    in_metadata = any(_key(n)[1] for n in names)
    in_env = any(_key(n)[2] for n in names)
    return (names[-1] if names else ""), in_metadata, in_env


@lru_cache(maxsize=4096)
def _plain_is_secret(path: str) -> bool:
    """Whether a scalar read at `path` is redacted (what `_walk` decides for a scalar)."""
    last, in_metadata, in_env = _context(path)
    if not last:
        return False
    secret, _, _, is_value = _key(last)
    return secret or ((in_metadata or in_env) and is_value)


def _is_pair_list_item(item: Mapping[str, Any]) -> bool:
    return "value" in item and ("key" in item or "name" in item)


def _walk(value: Any, last: str, in_metadata: bool, in_env: bool) -> Any:
    """The value read under field `last` with its secrets redacted; the very same object when
    nothing in it is (so the common case copies nothing)."""
    if value is not None and last and _key(last)[0]:
        return REDACTED
    kind = type(value)  # the exact types first: the Mapping test is a slow ABC check
    if kind is dict:
        return _walk_map(value, last, in_metadata, in_env)
    if kind is list:
        return _walk_list(value, last, in_metadata, in_env)
    if kind not in _SCALARS:
        if isinstance(value, Mapping):
            return _walk_map(value, last, in_metadata, in_env)
        if isinstance(value, list):
            return _walk_list(value, last, in_metadata, in_env)
    if value is not None and (in_metadata or in_env) and last and _key(last)[3]:
        return REDACTED  # an items[i].value read on its own: its key is not known here
    return value


# Field names not named like a secret, met holding a scalar: outside instance metadata and
# environment variables a scalar under one is kept as it is, so a mapping of scalars under
# such names is kept whole without a call per field (see `_walk_map`). Learned as fields are
# walked, at most _PLAIN_NAMES_MAX of them (past that, others take the walk).
_PLAIN_NAMES: set[str] = set()
_PLAIN_NAMES_MAX = 1 << 16


def _child(value: Any, name: str, in_metadata: bool, in_env: bool) -> Any:
    """`_walk` of a field `name` of a mapping, with a fast path for scalars."""
    secret, metadata, env, is_value = _key(name)
    if type(value) in _SCALARS:
        if not secret and len(_PLAIN_NAMES) < _PLAIN_NAMES_MAX:
            _PLAIN_NAMES.add(name)
        if value is None:
            return None
        if secret or ((in_metadata or metadata or in_env or env) and is_value):
            return REDACTED
        return value
    return _walk(value, name, in_metadata or metadata, in_env or env)


def _walk_map(value: Mapping[str, Any], last: str, in_metadata: bool, in_env: bool) -> Any:
    if in_metadata or in_env:
        if _is_pair_list_item(value):
            label = str(value.get("key", value.get("name", "")))
            keep = in_metadata and not in_env and label in SAFE_METADATA_KEYS
            out = {k: v if k in ("key", "name") else _child(v, str(k), in_metadata, in_env)
                   for k, v in value.items() if k != "value"}
            out["value"] = value["value"] if keep else REDACTED
            return {k: out[k] for k in value}
        if last.lower() in _CONTAINERS:
            # A map of user-chosen names to values (GKE node metadata, Cloud Run env maps).
            return {k: (v if in_metadata and not in_env and k in SAFE_METADATA_KEYS
                        else _child(v, str(k), in_metadata, in_env)
                        if isinstance(v, Mapping | list) else REDACTED)
                    for k, v in value.items()}
    elif (type(value) is dict and _SCALARS.issuperset(map(type, value.values()))
          and _PLAIN_NAMES.issuperset(value)):
        return value  # scalars under plain names: what the loop below gives, without it
    copy: dict[str, Any] | None = None if type(value) is dict else {}
    for i, (k, v) in enumerate(value.items()):
        new = _child(v, str(k), in_metadata, in_env)
        if copy is None:
            if new is v:
                continue
            copy = dict(islice(value.items(), i))
        copy[k] = new
    return value if copy is None else copy


def _walk_list(value: list[Any], last: str, in_metadata: bool, in_env: bool) -> Any:
    scalar_redacted = (in_metadata or in_env) and bool(last) and _key(last)[3]
    if not scalar_redacted and _SCALARS.issuperset(map(type, value)):
        return value  # scalars kept as they are: what the loop below gives, without it
    copy: list[Any] | None = None
    for i, v in enumerate(value):
        if type(v) in _SCALARS and not scalar_redacted:
            new = v
        else:
            new = _walk(v, last, in_metadata, in_env)
        if copy is None:
            if new is v:
                continue
            copy = value[:i]
        copy.append(new)
    return value if copy is None else copy


def redact(path: str, value: Any) -> Any:
    """The value with its secret-bearing parts replaced by REDACTED, given the path read."""
    if type(value) in _SCALARS:
        # Most evidence is a scalar: its verdict depends on the path alone (cached).
        return REDACTED if value is not None and _plain_is_secret(path) else value
    return _walk(value, *_context(path))


# For renderers that walk a value themselves (the engine renders and redacts evidence in one
# pass): what a field name says (secret-named, metadata container, environment container,
# `value`), an evidence path's context (last field name, in metadata, in environment), and the
# redaction of a value read under a field in such a context.
field_flags = _key
plain_is_secret = _plain_is_secret  # whether a scalar (not None) read at a path is redacted
path_context = _context
redact_field = _walk


def redact_evidence(evidence: tuple[tuple[str, Any], ...]) -> list[tuple[str, Any]]:
    """Each (path, value) of a finding's evidence with its value redacted."""
    return [(path, redact(path, value)) for path, value in evidence]
