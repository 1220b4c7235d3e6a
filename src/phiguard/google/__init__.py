"""Google's own definitions, shipped as data: which Cloud Asset Inventory asset types exist,
which discovery schema each type's `data` follows, which fields, enum values and API methods
Google defines. Rules, fixtures, the collector, the converters and the fix module are tested
against these (tests/test_google_contracts.py); docs/google-definitions.md says where each
definition came from and how to refresh it."""

from phiguard.google._definitions import (
    ALL,
    Exception_,
    Method,
    Problem,
    SchemaRef,
    asset_types_with_schema,
    cai_absent,
    cai_asset_types,
    discovery,
    discovery_documents,
    enum_values,
    field_exceptions,
    field_exists,
    field_schema,
    is_cai_asset_type,
    method,
    parse_field_path,
    schema_of,
    validate_body,
    validate_resource,
)

__all__ = [
    "ALL",
    "Exception_",
    "Method",
    "Problem",
    "SchemaRef",
    "asset_types_with_schema",
    "cai_absent",
    "cai_asset_types",
    "discovery",
    "discovery_documents",
    "enum_values",
    "field_exceptions",
    "field_exists",
    "field_schema",
    "is_cai_asset_type",
    "method",
    "parse_field_path",
    "schema_of",
    "validate_body",
    "validate_resource",
]
