"""Converter tables for Cloud Healthcare API datasets and their FHIR, HL7v2 and DICOM stores
(the resources themselves; their IAM is in `healthcare`). A store's `dataset` is the dataset's
id, `projects/P/locations/L/datasets/D`, as Google's converter names stores under it."""

from __future__ import annotations

from typing import Any

from phiguard.inventory.refs import ref_key
from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)
from phiguard.terraform.tables._refs import known, location_scoped_name, project_in

HOST = "healthcare.googleapis.com"


def _dataset_path(value: Any, ctx: Context) -> Any:
    return ref_key(value) if isinstance(value, str) else value


def _store_build(collection: str) -> Any:
    def build(data: dict[str, Any], values: Any, ctx: Context) -> None:
        dataset = known(values, "dataset", ctx, want_ref=False)
        name = values.get("name") if isinstance(values, dict) else None
        if isinstance(dataset, str) and dataset and isinstance(name, str):
            data["name"] = f"{ref_key(dataset)}/{collection}/{name}"
    return build


def _store(tf: str, kind: str, collection: str, *fields: Field) -> Converter:
    return Converter(
        tf_type=tf, asset_type=f"{HOST}/{kind}",
        name=f"//{HOST}/{{dataset}}/{collection}/{{name}}",
        names={"dataset": Field("dataset", "", _dataset_path, ref="{}")},
        project_from=Field("dataset", "", project_in, ref="{}"),
        fields=(Field("labels", "labels"), *fields),
        build=_store_build(collection))


register(
    Converter(
        tf_type="google_healthcare_dataset", asset_type=f"{HOST}/Dataset",
        name=f"//{HOST}/projects/{{project}}/locations/{{location}}/datasets/{{name}}",
        location="{location}",
        fields=(Field("time_zone", "timeZone"),
                Field("encryption_spec.kms_key_name", "encryptionSpec.kmsKeyName", ref="{}")),
        build=lambda data, values, ctx: location_scoped_name(data, values, ctx, "datasets",
                                                          "location")),
    _store("google_healthcare_fhir_store", "FhirStore", "fhirStores",
           Field("version", "version"), Field("enable_update_create", "enableUpdateCreate"),
           Field("disable_referential_integrity", "disableReferentialIntegrity"),
           Field("disable_resource_versioning", "disableResourceVersioning")),
    _store("google_healthcare_hl7_v2_store", "Hl7V2Store", "hl7V2Stores",
           Field("reject_duplicate_message", "rejectDuplicateMessage")),
    _store("google_healthcare_dicom_store", "DicomStore", "dicomStores"),
)
