"""Converter tables for the IAM of Healthcare API datasets and FHIR, HL7v2 and DICOM stores
(`dataset_id` / `*_store_id`: `projects/P/locations/L/datasets/D[/fhirStores/S]`, or the
provider's short forms `P/L/D[/S]` and `L/D[/S]`)."""

from __future__ import annotations

from phiguard.terraform.convert import register
from phiguard.terraform.tables.iam import iam_parts, named_parent

HOST = "healthcare.googleapis.com"
DATASET = "projects/{project}/locations/{location}/datasets/{dataset}"

register(
    *iam_parts("google_healthcare_dataset", named_parent(
        "healthcare.googleapis.com/Dataset", HOST, "dataset_id", DATASET)),
    *iam_parts("google_healthcare_fhir_store", named_parent(
        "healthcare.googleapis.com/FhirStore", HOST, "fhir_store_id",
        DATASET + "/fhirStores/{name}")),
    *iam_parts("google_healthcare_hl7_v2_store", named_parent(
        "healthcare.googleapis.com/Hl7V2Store", HOST, "hl7_v2_store_id",
        DATASET + "/hl7V2Stores/{name}")),
    *iam_parts("google_healthcare_dicom_store", named_parent(
        "healthcare.googleapis.com/DicomStore", HOST, "dicom_store_id",
        DATASET + "/dicomStores/{name}")),
)
