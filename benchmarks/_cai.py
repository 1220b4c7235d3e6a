"""Synthetic CAI basics: value pools, the org plan's types, the record writer, project layouts."""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# The evaluation time the timestamps are laid out around (phiguard's default `--at` in examples).
AT = datetime(2026, 11, 25, tzinfo=UTC)
ASSETS_PER_PROJECT = 2000
PART_ASSETS = 2000
DOMAIN = "example-health.com"
# Bump when the records change, so cached snapshots (benchmarks/out/) are regenerated.
GENERATOR_VERSION = 6
MANIFEST = "generate.json"  # what was generated, beside the snapshot (not inside it)

Record = dict[str, Any]

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

REGIONS = {
    "us-central1": ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"],
    "us-east1": ["us-east1-b", "us-east1-c", "us-east1-d"],
    "us-east4": ["us-east4-a", "us-east4-b", "us-east4-c"],
    "us-west1": ["us-west1-a", "us-west1-b", "us-west1-c"],
    "europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
}
REGION_NAMES = list(REGIONS)
TEAMS = [
    "claims", "ehr", "billing", "portal", "imaging", "pharmacy", "analytics", "identity",
    "scheduling", "labs", "telehealth", "data", "platform", "payments", "crm", "ml",
]
ENVS = ["prod", "staging", "dev", "test", "sandbox"]
APIS = [
    "compute.googleapis.com", "storage.googleapis.com", "sqladmin.googleapis.com",
    "container.googleapis.com", "cloudkms.googleapis.com", "logging.googleapis.com",
    "monitoring.googleapis.com", "pubsub.googleapis.com", "bigquery.googleapis.com",
    "iam.googleapis.com", "iamcredentials.googleapis.com", "secretmanager.googleapis.com",
    "artifactregistry.googleapis.com", "run.googleapis.com", "cloudfunctions.googleapis.com",
    "dns.googleapis.com", "servicenetworking.googleapis.com", "cloudbuild.googleapis.com",
    "healthcare.googleapis.com", "dataflow.googleapis.com", "dataproc.googleapis.com",
    "redis.googleapis.com", "cloudresourcemanager.googleapis.com", "serviceusage.googleapis.com",
    "oslogin.googleapis.com", "cloudtrace.googleapis.com", "clouddebugger.googleapis.com",
    "bigquerystorage.googleapis.com", "containerregistry.googleapis.com",
    "generativelanguage.googleapis.com", "aiplatform.googleapis.com", "firestore.googleapis.com",
    "datastore.googleapis.com", "cloudscheduler.googleapis.com", "cloudtasks.googleapis.com",
    "vpcaccess.googleapis.com", "networkmanagement.googleapis.com", "osconfig.googleapis.com",
    "containeranalysis.googleapis.com", "binaryauthorization.googleapis.com",
    "appengine.googleapis.com", "sourcerepo.googleapis.com", "composer.googleapis.com",
    "file.googleapis.com", "spanner.googleapis.com", "bigtableadmin.googleapis.com",
    "translate.googleapis.com", "vision.googleapis.com", "speech.googleapis.com",
    "dlp.googleapis.com", "websecurityscanner.googleapis.com", "securitycenter.googleapis.com",
    "accesscontextmanager.googleapis.com", "cloudasset.googleapis.com", "apigateway.googleapis.com",
]
MACHINE_TYPES = [
    "e2-standard-2", "e2-standard-4", "n2-standard-4", "n2-standard-8", "c2-standard-8",
]
SQL_VERSIONS = ["POSTGRES_15", "POSTGRES_14", "MYSQL_8_0", "POSTGRES_16", "SQLSERVER_2019_STANDARD"]
WEAK_CIPHERS = ["TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"]
STRONG_CIPHERS = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
]
FIRST_NAMES = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "zoe",
]
BQ_COLUMNS = [
    ("patient_id", "STRING"), ("encounter_id", "STRING"), ("event_time", "TIMESTAMP"),
    ("code", "STRING"), ("amount", "NUMERIC"), ("status", "STRING"), ("payload", "JSON"),
    ("provider_id", "STRING"), ("updated_at", "TIMESTAMP"), ("score", "FLOAT64"),
]

# API name and version as the export writes them in resource.{version,discovery_document_uri}.
_API = {
    "cloudresourcemanager.googleapis.com": ("cloudresourcemanager", "v1"),
    "compute.googleapis.com": ("compute", "v1"),
    "sqladmin.googleapis.com": ("sqladmin", "v1beta4"),
    "storage.googleapis.com": ("storage", "v1"),
    "iam.googleapis.com": ("iam", "v1"),
    "container.googleapis.com": ("container", "v1"),
    "cloudkms.googleapis.com": ("cloudkms", "v1"),
    "logging.googleapis.com": ("logging", "v2"),
    "pubsub.googleapis.com": ("pubsub", "v1"),
    "bigquery.googleapis.com": ("bigquery", "v2"),
    "serviceusage.googleapis.com": ("serviceusage", "v1"),
    "secretmanager.googleapis.com": ("secretmanager", "v1"),
    "artifactregistry.googleapis.com": ("artifactregistry", "v1"),
    "run.googleapis.com": ("run", "v1"),
    "dns.googleapis.com": ("dns", "v1"),
    "monitoring.googleapis.com": ("monitoring", "v3"),
    "redis.googleapis.com": ("redis", "v1"),
}


def _discovery_uri(api: str, version: str) -> str:
    return f"https://www.googleapis.com/discovery/v1/apis/{api}/{version}/rest"


def _time_pool(rng: random.Random, size: int, days: int, fmt: str) -> list[str]:
    """Pre-render timestamps: formatting one per asset would cost as much as the record."""
    out = []
    for _ in range(size):
        t = AT - timedelta(seconds=rng.randrange(days * 86400), microseconds=rng.randrange(10**6))
        out.append(t.strftime(fmt))
    return out


_POOL_RNG = random.Random(20261125)
# CAI update_time and RFC 3339 API times (Z, microseconds); compute creationTimestamp (-07:00).
UPDATE_TIMES = _time_pool(_POOL_RNG, 4096, 200, "%Y-%m-%dT%H:%M:%S.%fZ")
RFC3339 = _time_pool(_POOL_RNG, 4096, 1100, "%Y-%m-%dT%H:%M:%S.%fZ")
COMPUTE_TIMES = [
    (datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ") - timedelta(hours=7)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )[:-3]
    + "-07:00"
    for t in RFC3339
]
# Key ages: a spread from days to years so that rotation rules see both outcomes.
KEY_TIMES = _time_pool(_POOL_RNG, 1024, 700, "%Y-%m-%dT%H:%M:%SZ")
MASK = 4095


# --------------------------------------------------------------------------------------------
# The organization plan: org, folders, projects. Small (one entry per project), built up front.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Folder:
    id: str
    name: str
    parent: str  # "organizations/N" or "folders/N"
    ancestors: tuple[str, ...]  # this folder first, organization last


@dataclass(frozen=True)
class Project:
    index: int
    id: str
    number: str
    team: str
    env: str
    folder: Folder
    phi: bool
    labelled: bool  # carries data-classification: phi (else listed by id, if PHI)
    assets: int
    ancestors: tuple[str, ...]


@dataclass(frozen=True)
class OrgPlan:
    seed: int
    assets: int
    org_id: str
    folders: tuple[Folder, ...]
    projects: tuple[Project, ...]
    header_assets: int = field(default=0)


def number(rng: random.Random, digits: int) -> str:
    return str(rng.randrange(10 ** (digits - 1), 10**digits))


# --------------------------------------------------------------------------------------------
# Record builders.
# --------------------------------------------------------------------------------------------


class Writer:
    """Collects the records of one part, as NDJSON lines, with counts per asset type."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.lines: list[str] = []
        self.types: Counter[str] = Counter()
        self.assets = 0
        self.iam = 0
        self.org_policies = 0

    def add(
        self,
        name: str,
        asset_type: str,
        data: Record,
        parent: str | None,
        location: str,
        ancestors: tuple[str, ...],
    ) -> None:
        service, _, kind = asset_type.partition("/")
        api, version = _API[service]
        resource: Record = {
            "version": version,
            "discovery_document_uri": _discovery_uri(api, version),
            "discovery_name": kind,
        }
        if parent is not None:
            resource["parent"] = parent
        resource["data"] = data
        resource["location"] = location
        self.lines.append(
            _encode(
                {
                    "name": name,
                    "asset_type": asset_type,
                    "resource": resource,
                    "ancestors": ancestors,
                    "update_time": UPDATE_TIMES[self.rng.getrandbits(12)],
                }
            )
        )
        self.types[asset_type] += 1
        self.assets += 1

    def add_iam(
        self, name: str, asset_type: str, policy: Record, ancestors: tuple[str, ...]
    ) -> None:
        self.lines.append(
            _encode(
                {
                    "name": name,
                    "asset_type": asset_type,
                    "iam_policy": policy,
                    "ancestors": ancestors,
                    "update_time": UPDATE_TIMES[self.rng.getrandbits(12)],
                }
            )
        )
        self.iam += 1

    def add_org_policy(
        self, name: str, asset_type: str, policies: list[Record], ancestors: tuple[str, ...]
    ) -> None:
        """The org policies set on a hierarchy node, as `gcloud asset export
        --content-type=org-policy` writes them (orgpolicy v1 `Policy`, snake_case)."""
        stamp = UPDATE_TIMES[self.rng.getrandbits(12)]
        self.lines.append(
            _encode(
                {
                    "name": name,
                    "asset_type": asset_type,
                    "org_policy": [
                        {**policy, "update_time": stamp, "etag": org_policy_etag(self.rng)}
                        for policy in policies
                    ],
                    "ancestors": ancestors,
                    "update_time": stamp,
                }
            )
        )
        self.org_policies += 1


def org_policy_etag(rng: random.Random) -> str:
    """An org policy etag: 8 random bytes, base64 (as Google writes them, e.g. TfV45AB2YRU=)."""
    return base64.b64encode(rng.getrandbits(64).to_bytes(8, "big")).decode()


def boolean_policy(constraint: str, enforced: bool) -> Record:
    return {"constraint": f"constraints/{constraint}", "boolean_policy": {"enforced": enforced}}


def etag(rng: random.Random) -> str:
    return f"BwY{rng.getrandbits(40):010x}="


USERS_PER_NAME = 400  # directory users are FIRST_NAMES x this: the humans IAM policies name


def user_member(rng: random.Random) -> str:
    return f"user:{FIRST_NAMES[rng.randrange(20)]}.{rng.randrange(USERS_PER_NAME)}@{DOMAIN}"


def directory_users(seed: int) -> Record:
    """An Admin SDK `users.list` response for every human the IAM policies name."""
    rng = random.Random(f"{seed}:users")
    emails = [f"{n}.{i}@{DOMAIN}" for n in FIRST_NAMES for i in range(USERS_PER_NAME)]
    emails.append(f"breakglass@{DOMAIN}")
    users = []
    for email in emails:
        enrolled = rng.random() < 0.93
        users.append({
            "kind": "admin#directory#user", "id": number(rng, 21), "primaryEmail": email,
            "name": {"fullName": email.split("@")[0].replace(".", " ").title()},
            "isAdmin": rng.random() < 0.01, "isDelegatedAdmin": rng.random() < 0.02,
            "isEnrolledIn2Sv": enrolled, "isEnforcedIn2Sv": enrolled and rng.random() < 0.8,
            "suspended": rng.random() < 0.02, "archived": False,
            "orgUnitPath": rng.choice(["/", "/Engineering", "/Clinical", "/Contractors"]),
            "creationTime": RFC3339[rng.getrandbits(12)],
            "lastLoginTime": UPDATE_TIMES[rng.getrandbits(12)],
        })
    return {"kind": "admin#directory#users", "users": users}


def audit_configs(rng: random.Random, good: float) -> list[Record]:
    types = ["ADMIN_READ", "DATA_READ", "DATA_WRITE"] if rng.random() < good else ["ADMIN_READ"]
    cfgs = [{"log_type": t} for t in types]
    if rng.random() > good:
        cfgs[0]["exempted_members"] = [user_member(rng)]
    return [{"service": "allServices", "audit_log_configs": cfgs}]


@dataclass
class Ctx:
    """What the records of one project part need: the project, its layout and its posture."""

    w: Writer
    rng: random.Random
    plan: OrgPlan
    p: Project
    good: float  # probability that a setting is compliant
    regions: list[str]
    networks: list[str]  # selfLinks
    subnets: list[tuple[str, str, str]]  # (selfLink, region, network selfLink)
    sas: list[str]  # emails of the project's core service accounts
    keys: list[str]  # CryptoKey resource names for CMEK
    seq: int = 0

    @property
    def cpath(self) -> str:
        return f"https://www.googleapis.com/compute/v1/projects/{self.p.id}"

    def ok(self) -> bool:
        return self.rng.random() < self.good

    def uid(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}-{self.seq:05d}"

    def zone(self) -> tuple[str, str]:
        region = self.regions[self.rng.randrange(len(self.regions))]
        zones = REGIONS[region]
        return region, zones[self.rng.randrange(len(zones))]

    def crm_parent(self) -> str:
        return f"//cloudresourcemanager.googleapis.com/projects/{self.p.number}"

    def maybe_iam(self, name: str, asset_type: str, prob: float, roles: list[str]) -> None:
        """An IAM_POLICY record for this resource with probability `prob`."""
        rng = self.rng
        if rng.random() >= prob:
            return
        bindings = []
        for role in roles[: 1 + rng.randrange(len(roles))]:
            members = [user_member(rng)] if rng.random() < 0.5 else []
            members.append(f"serviceAccount:{self.sas[rng.randrange(len(self.sas))]}")
            if rng.random() < 0.3:
                members.append(f"group:{self.p.team}-eng@{DOMAIN}")
            if not self.ok() and rng.random() < 0.3:
                members.append(
                    rng.choice(["allUsers", "allAuthenticatedUsers", "user:contractor@gmail.com"])
                )
            bindings.append({"role": role, "members": members})
        self.w.add_iam(
            name, asset_type, {"version": 1, "etag": etag(rng), "bindings": bindings},
            self.p.ancestors,
        )


def layout(plan: OrgPlan, p: Project) -> tuple[list[str], list[str], list[tuple[str, str, str]],
                                               list[str], list[str]]:
    """The project's regions, networks, subnetworks, core service accounts and CMEK keys.

    Derived from (seed, project) alone, so every part of the project agrees on it.
    """
    rng = random.Random(f"{plan.seed}:{p.index}:layout")
    regions = rng.sample(REGION_NAMES, 1 + rng.randrange(2 if p.env != "prod" else 3))
    base = f"https://www.googleapis.com/compute/v1/projects/{p.id}"
    names = ["default"] if rng.random() < (0.05 if p.phi else 0.4) else []
    names += [f"vpc-{p.env}", *([f"vpc-{p.team}-data"] if rng.random() < 0.4 else [])]
    networks = [f"{base}/global/networks/{n}" for n in names]
    subnets = [
        (f"{base}/regions/{r}/subnetworks/{n.rsplit('/', 1)[1]}-{r}", r, n)
        for n in networks
        for r in regions
    ]
    sas = [f"{n}@{p.id}.iam.gserviceaccount.com" for n in ("app", "deploy", "etl", "gke-nodes")]
    sas.append(f"{p.number}-compute@developer.gserviceaccount.com")
    keys = [
        f"projects/{p.id}/locations/{r}/keyRings/{p.team}-ring/cryptoKeys/{p.team}-cmek"
        for r in regions
    ]
    return regions, networks, subnets, sas, keys


