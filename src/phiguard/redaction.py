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
from typing import Any

__all__ = ["REDACTED", "is_secret_name", "redact", "redact_evidence"]

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


@lru_cache(maxsize=4096)
def _path_names_cached(path: str) -> tuple[str, ...]:
    return tuple(m.group(0) for m in _SEGMENT.finditer(path))


def _path_names(path: str) -> list[str]:
    return list(_path_names_cached(path))


@lru_cache(maxsize=4096)
def _plain_is_secret(path: str) -> bool:
    """Whether a scalar read at `path` is redacted (what `_walk` decides for a scalar)."""
    names = _path_names_cached(path)
    if not names:
        return False
    if is_secret_name(names[-1]):
        return True
    inside = any(n.lower() in _METADATA or n.lower() in _ENV for n in names)
    return inside and names[-1].lower() == "value"


def _is_pair_list_item(item: Mapping[str, Any]) -> bool:
    return "value" in item and ("key" in item or "name" in item)


def _walk(value: Any, names: list[str]) -> Any:
    last = names[-1].lower() if names else ""
    if value is not None and names and is_secret_name(names[-1]):
        return REDACTED
    in_metadata = any(n.lower() in _METADATA for n in names)
    in_env = any(n.lower() in _ENV for n in names)
    if isinstance(value, Mapping):
        if (in_metadata or in_env) and _is_pair_list_item(value):
            label = str(value.get("key", value.get("name", "")))
            keep = in_metadata and not in_env and label in SAFE_METADATA_KEYS
            out = {k: v if k in ("key", "name") else _walk(v, [*names, str(k)])
                   for k, v in value.items() if k != "value"}
            out["value"] = value["value"] if keep else REDACTED
            return {k: out[k] for k in value}
        if (in_metadata or in_env) and last in _METADATA | _ENV:
            # A map of user-chosen names to values (GKE node metadata, Cloud Run env maps).
            return {k: (v if in_metadata and not in_env and k in SAFE_METADATA_KEYS
                        else _walk(v, [*names, str(k)]) if isinstance(v, Mapping | list)
                        else REDACTED)
                    for k, v in value.items()}
        return {k: _walk(v, [*names, str(k)]) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, names) for v in value]
    if value is not None and (in_metadata or in_env) and last == "value":
        return REDACTED  # an items[i].value read on its own: its key is not known here
    return value


def redact(path: str, value: Any) -> Any:
    """The value with its secret-bearing parts replaced by REDACTED, given the path read."""
    if value is None or isinstance(value, str | int | float | bool):
        # Most evidence is a scalar: its verdict depends on the path alone (cached).
        return REDACTED if value is not None and _plain_is_secret(path) else value
    return _walk(value, _path_names(path))


def redact_evidence(evidence: tuple[tuple[str, Any], ...]) -> list[tuple[str, Any]]:
    """Each (path, value) of a finding's evidence with its value redacted."""
    return [(path, redact(path, value)) for path, value in evidence]
