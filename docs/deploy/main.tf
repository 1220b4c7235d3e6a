# phiguard's nightly audit on Google Cloud: a Cloud Run job started by Cloud Scheduler, running
# as a dedicated service account with read-only access to the organization, writing evidence
# bundles into a bucket whose retention policy is locked for six years, and keeping the run
# history store in a second bucket that has no retention policy (the store is replaced every
# night, which a locked bucket would refuse). See docs/deploy.md for the reasons of each grant.
#
# tests/test_deploy.py holds this file to fixtures/plans/deploy.json (the `terraform show -json`
# plan of it, with the values of terraform.tfvars.example) and runs `phiguard plan` on that.

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0"
    }
  }
}

provider "google" {
  project = var.project_id
}

variable "org_id" {
  description = "The organization phiguard audits (numeric id)."
  type        = string
}

variable "project_id" {
  description = "The project the job, its service accounts and its buckets live in."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run job and the Cloud Scheduler job."
  type        = string
  default     = "us-east4"
}

variable "bucket_location" {
  description = "Location of both buckets: a multi-region or dual-region keeps a copy in a second region."
  type        = string
  default     = "US"
}

variable "image" {
  description = "The phiguard image built from the repository's Dockerfile, by digest (REGION-docker.pkg.dev/PROJECT/REPO/phiguard@sha256:...)."
  type        = string
}

variable "directory_customer" {
  description = "Admin SDK customer for directory users and 2-Step Verification."
  type        = string
  default     = "my_customer"
}

variable "auditors" {
  description = "The principal (a group) that reads and verifies the evidence, e.g. group:hipaa-auditors@example.com."
  type        = string
}

variable "kms_key" {
  description = "Optional Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) for both buckets; null for Google-managed encryption. The Cloud Storage service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it first."
  type        = string
  default     = null
}

locals {
  evidence_bucket = "${var.project_id}-phiguard-evidence"
  state_bucket    = "${var.project_id}-phiguard-state"
  six_years       = 189216000 # seconds: 6 x 365 days (HIPAA 164.316(b)(2)(i))
}

# --- APIs the job uses ------------------------------------------------------------------------

resource "google_project_service" "apis" {
  for_each           = toset(["cloudasset.googleapis.com", "cloudresourcemanager.googleapis.com", "storage.googleapis.com", "run.googleapis.com", "cloudscheduler.googleapis.com", "admin.googleapis.com"])
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# --- identities -------------------------------------------------------------------------------

# The identity the audit runs as: reads the organization, writes evidence, updates the store.
resource "google_service_account" "auditor" {
  project      = var.project_id
  account_id   = "phiguard-auditor"
  display_name = "phiguard nightly audit"
  description  = "Runs the phiguard Cloud Run job: reads Cloud Asset Inventory, writes evidence bundles, updates the run history."
}

# The identity Cloud Scheduler starts the job with: it can run this one job and nothing else.
resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "phiguard-scheduler"
  display_name = "phiguard nightly trigger"
  description  = "Cloud Scheduler's identity for starting the phiguard Cloud Run job."
}

# --- read-only access to the organization -----------------------------------------------------

# Cloud Asset Inventory: resources, IAM policies, org policies and access policies of the org.
resource "google_organization_iam_member" "asset_viewer" {
  org_id = var.org_id
  role   = "roles/cloudasset.viewer"
  member = "serviceAccount:${google_service_account.auditor.email}"
}

# The folder and project hierarchy (folders.list, projects.list, organizations.get).
resource "google_organization_iam_member" "browser" {
  org_id = var.org_id
  role   = "roles/browser"
  member = "serviceAccount:${google_service_account.auditor.email}"
}

# --- the evidence bucket: written once, kept six years ----------------------------------------

resource "google_storage_bucket" "evidence" {
  name                        = local.evidence_bucket
  project                     = var.project_id
  location                    = var.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # No Object Versioning: Cloud Storage does not allow it together with a retention policy.
  # Soft delete keeps a deleted object recoverable for 90 days (the most it allows), for the
  # day, six years on, when objects may be deleted at all.
  soft_delete_policy {
    retention_duration_seconds = 7776000
  }

  # Locked: nobody, the project owner included, can shorten it or delete an object (or the
  # bucket) before every object in it is six years old. Locking cannot be undone.
  retention_policy {
    retention_period = local.six_years
    is_locked        = true
  }

  dynamic "encryption" {
    for_each = var.kms_key == null ? [] : [var.kms_key]
    content {
      default_kms_key_name = encryption.value
    }
  }

  labels = {
    purpose = "hipaa-evidence"
  }
}

# Create objects, never delete or replace them (objectCreator holds storage.objects.create only).
resource "google_storage_bucket_iam_member" "evidence_create" {
  bucket = google_storage_bucket.evidence.name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.auditor.email}"
}

# Read back: an upload whose answer was lost is confirmed by reading the object (its md5), and
# the job verifies what it wrote. objectViewer is get and list: no delete either.
resource "google_storage_bucket_iam_member" "evidence_read" {
  bucket = google_storage_bucket.evidence.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.auditor.email}"
}

# Read the bucket's own settings: `phiguard evidence check` run as this identity (storage.buckets.get;
# the role's other permission, objects.list, objectViewer already holds).
resource "google_storage_bucket_iam_member" "evidence_metadata" {
  bucket = google_storage_bucket.evidence.name
  role   = "roles/storage.legacyBucketReader"
  member = "serviceAccount:${google_service_account.auditor.email}"
}

# The auditors read and verify the evidence (`phiguard verify gs://...`).
resource "google_storage_bucket_iam_member" "evidence_auditors" {
  bucket = google_storage_bucket.evidence.name
  role   = "roles/storage.objectViewer"
  member = var.auditors
}

# --- the state bucket: the run history store and the configuration ---------------------------

# No retention policy: the store object is replaced every night (with ifGenerationMatch), and
# Cloud Storage refuses to replace an object under retention. Versioning keeps each replaced
# generation as a noncurrent version for a year, so a bad night can be rolled back.
resource "google_storage_bucket" "state" {
  name                        = local.state_bucket
  project                     = var.project_id
  location                    = var.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 365
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key == null ? [] : [var.kms_key]
    content {
      default_kms_key_name = encryption.value
    }
  }

  labels = {
    purpose = "phiguard-state"
  }
}

# Read the configuration (mounted read-only into the job) and the store.
resource "google_storage_bucket_iam_member" "state_read" {
  bucket = google_storage_bucket.state.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.auditor.email}"
}

# Replace the store object, and only it: replacing an existing object needs
# storage.objects.delete as well as create, which objectUser holds; the condition limits the
# grant to phiguard.db and its run markers (phiguard.db.runs/N), so the job cannot change its
# own configuration (waivers).
resource "google_storage_bucket_iam_member" "state_store" {
  bucket = google_storage_bucket.state.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.auditor.email}"
  condition {
    title      = "phiguard-store-object-only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${local.state_bucket}/objects/phiguard.db\")"
  }
}

# --- the job and its schedule -----------------------------------------------------------------

resource "google_cloud_run_v2_job" "nightly" {
  name                = "phiguard-nightly"
  project             = var.project_id
  location            = var.region
  deletion_protection = true

  template {
    task_count  = 1
    parallelism = 1
    template {
      service_account       = google_service_account.auditor.email
      timeout               = "3600s"
      max_retries           = 0
      execution_environment = "EXECUTION_ENVIRONMENT_GEN2"
      containers {
        image = var.image
        # findings never fail the job (--fail-on none): a failed task means phiguard could not
        # collect, judge, write or upload (exit 2), which Cloud Monitoring can alert on
        args = [
          "audit",
          "--org", var.org_id,
          "--config", "/etc/phiguard/phiguard.yaml",
          "--directory-customer", var.directory_customer,
          "--store", "gs://${local.state_bucket}/phiguard.db",
          "--evidence", "gs://${local.evidence_bucket}/nightly",
          "--fail-on", "none",
        ]
        resources {
          limits = {
            cpu    = "2"
            memory = "4Gi"
          }
        }
        volume_mounts {
          name       = "state"
          mount_path = "/etc/phiguard"
        }
      }
      # the state bucket, read-only: /etc/phiguard/phiguard.yaml is gs://STATE/phiguard.yaml
      volumes {
        name = "state"
        gcs {
          bucket    = google_storage_bucket.state.name
          read_only = true
        }
      }
    }
  }

  depends_on = [google_project_service.apis]
}

# Cloud Scheduler's identity may start this job (run.jobs.run), nothing more.
resource "google_cloud_run_v2_job_iam_member" "scheduler_runs" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.nightly.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_scheduler_job" "nightly" {
  name             = "phiguard-nightly"
  project          = var.project_id
  region           = var.region
  description      = "Starts the phiguard nightly audit"
  schedule         = "17 6 * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "180s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${google_cloud_run_v2_job.nightly.name}:run"
    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler_runs]
}

output "evidence_bucket" {
  value = google_storage_bucket.evidence.url
}

output "state_bucket" {
  value = google_storage_bucket.state.url
}

output "auditor_service_account" {
  value = google_service_account.auditor.email
}
