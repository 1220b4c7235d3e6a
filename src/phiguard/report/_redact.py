"""Redaction for the renderers; the rules live in `phiguard.redaction`.

The engine already redacts the evidence it builds; renderers redact again because a findings
file handed to `phiguard report` may come from an older phiguard or from another producer.
"""

from phiguard.redaction import REDACTED, is_secret_name, redact, redact_evidence

__all__ = ["REDACTED", "is_secret_name", "redact", "redact_evidence"]
