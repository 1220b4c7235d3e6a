"""One key for every spelling of a Google Cloud resource reference.

A reference arrives as a REST selfLink (`https://www.googleapis.com/compute/v1/projects/p/...`),
a relative path (`projects/p/...`) or a CAI asset name (`//compute.googleapis.com/projects/p/...`).
`ref_key` reduces all three to the path below the service, so they index and join as one.
"""

from __future__ import annotations

import re

__all__ = ["last_segment", "project_of_name", "ref_key", "region_of"]

_URL = re.compile(r"^https?://[^/]+/")
# REST selfLinks carry an API prefix before the resource path: compute/v1/, compute/beta/,
# sql/v1beta4/, storage/v1/b/, v1/ ...
_API_PREFIX = re.compile(r"^(?:[a-z]+/)?(?:v\d[a-z0-9]*|beta|alpha)/")
_CAI = re.compile(r"^//[^/]+/")
_HOST = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.googleapis\.com/")


def ref_key(ref: str) -> str:
    """The canonical join key of a reference: the resource path without scheme, host or API."""
    ref = ref.strip()
    if ref.startswith("//"):
        key = _CAI.sub("", ref, count=1)
    elif ref.startswith(("http://", "https://")):
        key = _URL.sub("", ref, count=1)
        key = _API_PREFIX.sub("", key, count=1)
        if key.startswith("b/") and "/o/" not in key:  # storage JSON API bucket links
            key = key[2:]
    elif _HOST.match(ref):
        # Log sink destinations: `logging.googleapis.com/projects/...`, `storage.googleapis.com/b`.
        key = _HOST.sub("", ref, count=1)
    else:
        key = ref
    return key.strip("/")


def project_of_name(name: str) -> str | None:
    """The project id or number in a resource name or reference, if it has one: the segment
    after the first `projects/` that starts the name or follows a `/` and is not empty."""
    at = name.find("projects/")
    while at != -1:
        if at == 0 or name[at - 1] == "/":
            end = name.find("/", at + 9)
            segment = name[at + 9:end] if end != -1 else name[at + 9:]
            if segment:
                return segment
        at = name.find("projects/", at + 1)
    return None


def last_segment(ref: str) -> str:
    """The last path segment of a reference: a network's or key's short name."""
    return ref.rstrip("/").rsplit("/", 1)[-1]


_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")


def region_of(location: str | None) -> str | None:
    """The region of a location: `us-east4-a` gives `us-east4`; a region is returned as is."""
    if not location:
        return None
    location = last_segment(location)
    match = _ZONE.match(location)
    return match.group(1) if match else location
