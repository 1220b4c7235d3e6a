"""Record builders of the synthetic organization: one generator per group of related assets.

Each builder yields after every resource it adds, so a part can stop at exactly its budget.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from _cai import (
    APIS,
    BQ_COLUMNS,
    COMPUTE_TIMES,
    DOMAIN,
    KEY_TIMES,
    MACHINE_TYPES,
    REGION_NAMES,
    REGIONS,
    RFC3339,
    SQL_VERSIONS,
    STRONG_CIPHERS,
    WEAK_CIPHERS,
    Ctx,
    OrgPlan,
    Record,
    Writer,
    audit_configs,
    boolean_policy,
    etag,
    number,
    user_member,
)

# Boolean constraints the organization enforces (the ones the HIPAA pack reads).
ORG_GUARDRAILS = (
    "compute.requireOsLogin", "compute.skipDefaultNetworkCreation",
    "iam.disableServiceAccountKeyCreation", "sql.restrictPublicIp",
    "storage.publicAccessPrevention", "storage.uniformBucketLevelAccess",
)

# --- project base set (part 0) -----------------------------------------------------------------


def gen_project_base(c: Ctx) -> Iterator[None]:
    """Project records, enabled services, networks, subnets, firewalls, core SAs and keys."""
    p, w, rng = c.p, c.w, c.rng
    crm = f"//cloudresourcemanager.googleapis.com/projects/{p.number}"
    labels = {"team": p.team, "env": p.env, "cost-center": f"cc-{rng.randrange(100, 999)}"}
    if p.labelled:
        labels["data-classification"] = "phi"
    elif not p.phi:
        labels["data-classification"] = rng.choice(["internal", "confidential", "public"])
    w.add(
        crm, "cloudresourcemanager.googleapis.com/Project",
        {
            "projectNumber": p.number, "projectId": p.id, "lifecycleState": "ACTIVE",
            "name": p.id, "labels": labels, "createTime": RFC3339[rng.getrandbits(12)],
            "parent": {"type": "folder", "id": p.folder.id},
        },
        f"//cloudresourcemanager.googleapis.com/folders/{p.folder.id}", "global", p.ancestors,
    )
    yield
    bindings = [
        {"role": "roles/owner", "members": [f"group:{p.team}-admins@{DOMAIN}"]},
        {"role": "roles/viewer", "members": [f"group:{p.team}-eng@{DOMAIN}", user_member(rng)]},
        {"role": "roles/cloudsql.client", "members": [f"serviceAccount:{c.sas[0]}"]},
        {"role": "roles/storage.objectViewer", "members": [f"serviceAccount:{c.sas[2]}"]},
    ]
    if not c.ok():
        bindings.append({"role": "roles/editor", "members": [f"serviceAccount:{c.sas[1]}"]})
    if not c.ok():
        bindings.append({"role": "roles/owner", "members": [user_member(rng)]})
    if not c.ok():
        bindings.append({"role": "roles/iam.serviceAccountUser", "members": [user_member(rng)]})
    if not c.ok():
        bindings.append({"role": "roles/viewer", "members": ["user:consultant@gmail.com"]})
    policy: Record = {"version": 1, "etag": etag(rng), "bindings": bindings}
    if rng.random() < 0.5:
        policy["audit_configs"] = audit_configs(rng, c.good)
    w.add_iam(crm, "cloudresourcemanager.googleapis.com/Project", policy, p.ancestors)
    if not c.ok():  # a project exempted from one of the organization's guardrails
        w.add_org_policy(crm, "cloudresourcemanager.googleapis.com/Project",
                         [boolean_policy(rng.choice(ORG_GUARDRAILS), False)], p.ancestors)

    items = [{"key": "enable-oslogin", "value": "TRUE" if c.ok() else "FALSE"}]
    if c.ok():
        items.append({"key": "enable-oslogin-2fa", "value": "TRUE"})
    if rng.random() < 0.3:
        key = f"ops:ssh-ed25519 AAAAC3Nz{rng.getrandbits(64):x}"
        items.append({"key": "ssh-keys", "value": key})
    w.add(
        f"//compute.googleapis.com/projects/{p.id}", "compute.googleapis.com/Project",
        {
            "kind": "compute#project", "id": number(rng, 19), "name": p.id,
            "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)],
            "commonInstanceMetadata": {"kind": "compute#metadata",
                                       "fingerprint": etag(rng), "items": items},
            "defaultServiceAccount": c.sas[-1],
            "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
            "defaultNetworkTier": "PREMIUM", "selfLink": c.cpath,
        },
        crm, "global", p.ancestors,
    )
    yield

    for api in rng.sample(APIS, 30 + rng.randrange(25)):
        w.add(
            f"//serviceusage.googleapis.com/projects/{p.number}/services/{api}",
            "serviceusage.googleapis.com/Service",
            # CAI writes only these three (the bare service name): see phiguard.google
            {"name": api, "parent": f"projects/{p.number}", "state": "ENABLED"},
            crm, "global", p.ancestors,
        )
        yield

    for net in c.networks:
        short = net.rsplit("/", 1)[1]
        auto = short == "default"
        data: Record = {
            "kind": "compute#network", "id": number(rng, 19), "name": short,
            "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "selfLink": net,
            "autoCreateSubnetworks": auto, "routingConfig": {"routingMode": "REGIONAL"},
            "subnetworks": [s for s, _, n in c.subnets if n == net],
            "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL", "mtu": 1460,
        }
        if not auto and rng.random() < 0.3:
            data["peerings"] = [{
                "name": "servicenetworking-googleapis-com", "state": "ACTIVE",
                "network": "https://www.googleapis.com/compute/v1/projects/"
                           f"sn-{rng.getrandbits(32):08x}-tp/global/networks/servicenetworking",
                "exportCustomRoutes": False, "importCustomRoutes": False,
                "autoCreateRoutes": True, "exchangeSubnetRoutes": True,
            }]
        w.add(f"//compute.googleapis.com/projects/{p.id}/global/networks/{short}",
              "compute.googleapis.com/Network", data, crm, "global", p.ancestors)
        yield

    for i, (link, region, net) in enumerate(c.subnets):
        short = link.rsplit("/", 1)[1]
        data = {
            "kind": "compute#subnetwork", "id": number(rng, 19), "name": short,
            "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "network": net,
            "ipCidrRange": f"10.{(p.index * 7 + i) % 250}.{(i * 16) % 256}.0/20",
            "gatewayAddress": f"10.{(p.index * 7 + i) % 250}.{(i * 16) % 256}.1",
            "region": f"{c.cpath}/regions/{region}", "selfLink": link, "stackType": "IPV4_ONLY",
            "privateIpGoogleAccess": c.ok(), "purpose": "PRIVATE", "fingerprint": etag(rng),
        }
        if c.ok():
            data["logConfig"] = {"enable": True, "aggregationInterval": "INTERVAL_5_SEC",
                                 "flowSampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"}
        w.add(f"//compute.googleapis.com/projects/{p.id}/regions/{region}/subnetworks/{short}",
              "compute.googleapis.com/Subnetwork", data, crm, region, p.ancestors)
        yield

    for sa in c.sas[:-1]:
        yield from gen_service_account(c, sa.split("@")[0])
    for key in c.keys:
        yield from gen_crypto_key(c, key)
    for region in c.regions:
        yield from gen_snapshot_schedule(c, region)


def gen_snapshot_schedule(c: Ctx, region: str) -> Iterator[None]:
    """The `daily-snapshots` resource policy that compliant disks attach."""
    rng = c.rng
    link = f"{c.cpath}/regions/{region}/resourcePolicies/daily-snapshots"
    c.w.add(
        f"//compute.googleapis.com/projects/{c.p.id}/regions/{region}/resourcePolicies/"
        "daily-snapshots",
        "compute.googleapis.com/ResourcePolicy",
        {
            "kind": "compute#resourcePolicy", "id": number(rng, 19), "name": "daily-snapshots",
            "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)],
            "region": f"{c.cpath}/regions/{region}", "selfLink": link, "status": "READY",
            "snapshotSchedulePolicy": {
                "schedule": {"dailySchedule": {"daysInCycle": 1, "startTime": "04:00",
                                               "duration": "PT14400S"}},
                "retentionPolicy": {"maxRetentionDays": rng.choice([7, 14, 35]),
                                    "onSourceDiskDelete": "KEEP_AUTO_SNAPSHOTS"},
                "snapshotProperties": {"storageLocations": [region.split("-")[0]]},
            },
        },
        c.crm_parent(), region, c.p.ancestors,
    )
    yield


# --- weighted groups (the bulk of every project) ---------------------------------------------


def gen_firewall(c: Ctx) -> Iterator[None]:
    rng = c.rng
    name = c.uid(rng.choice(["allow-internal", "allow-hc", "allow-ingress", "deny-all", "fw"]))
    net = c.networks[rng.randrange(len(c.networks))]
    ok = c.ok()
    if ok:
        sources = ["10.0.0.0/8"] if rng.random() < 0.6 else ["35.191.0.0/16", "130.211.0.0/22"]
        allowed = [{"IPProtocol": "tcp", "ports": [rng.choice(["443", "8080", "5432", "80"])]}]
    else:
        sources = ["0.0.0.0/0"]
        allowed = [{"IPProtocol": "tcp",
                    "ports": [rng.choice(["22", "3389", "3306", "0-65535", "443", "22", "80"])]}]
        if rng.random() < 0.15:
            allowed = [{"IPProtocol": "all"}]
    data: Record = {
        "kind": "compute#firewall", "id": number(rng, 19), "name": name,
        "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "network": net,
        "priority": 1000, "direction": "INGRESS" if rng.random() < 0.9 else "EGRESS",
        "sourceRanges": sources, "allowed": allowed, "disabled": rng.random() < 0.05,
        "selfLink": f"{c.cpath}/global/firewalls/{name}",
        "logConfig": {"enable": c.ok()},
    }
    if rng.random() < 0.7:
        data["targetTags"] = [rng.choice(["web", "db", "bastion", "gke-node", "app"])]
    c.w.add(f"//compute.googleapis.com/projects/{c.p.id}/global/firewalls/{name}",
            "compute.googleapis.com/Firewall", data, c.crm_parent(), "global", c.p.ancestors)
    yield


def _instance(c: Ctx, name: str, region: str, zone: str, disks: list[str],
              template: str | None = None) -> None:
    rng = c.rng
    link, _, net = c.subnets[rng.randrange(len(c.subnets))] if c.subnets else ("", region, "")
    nic: Record = {
        "kind": "compute#networkInterface", "name": "nic0", "network": net, "subnetwork": link,
        "networkIP": f"10.{rng.randrange(250)}.{rng.randrange(256)}.{rng.randrange(2, 254)}",
        "fingerprint": etag(rng), "stackType": "IPV4_ONLY",
    }
    if not c.ok():
        nic["accessConfigs"] = [{"kind": "compute#accessConfig", "name": "External NAT",
                                 "type": "ONE_TO_ONE_NAT", "networkTier": "PREMIUM",
                                 "natIP": f"34.{rng.randrange(256)}.{rng.randrange(256)}."
                                          f"{rng.randrange(256)}"}]
    sa = c.sas[-1] if not c.ok() else c.sas[rng.randrange(len(c.sas) - 1)]
    scopes = (["https://www.googleapis.com/auth/cloud-platform"] if not c.ok() else
              ["https://www.googleapis.com/auth/logging.write",
               "https://www.googleapis.com/auth/monitoring.write"])
    items = [{"key": "startup-script", "value": "#!/bin/bash\nsystemctl start app"}]
    if rng.random() < 0.1:
        items.append({"key": "enable-oslogin", "value": "FALSE"})
    if template:
        items.append({"key": "instance-template", "value": template})
    data: Record = {
        "kind": "compute#instance", "id": number(rng, 19), "name": name,
        "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)],
        "machineType": f"{c.cpath}/zones/{zone}/machineTypes/"
                       f"{MACHINE_TYPES[rng.randrange(len(MACHINE_TYPES))]}",
        "status": "RUNNING" if rng.random() < 0.9 else "TERMINATED",
        "zone": f"{c.cpath}/zones/{zone}", "canIpForward": False,
        "networkInterfaces": [nic],
        "disks": [
            {"kind": "compute#attachedDisk", "type": "PERSISTENT", "mode": "READ_WRITE",
             "source": d, "deviceName": d.rsplit("/", 1)[1], "index": i, "boot": i == 0,
             "autoDelete": True, "interface": "SCSI", "diskSizeGb": "50"}
            for i, d in enumerate(disks)
        ],
        "metadata": {"kind": "compute#metadata", "fingerprint": etag(rng), "items": items},
        "serviceAccounts": [{"email": sa, "scopes": scopes}],
        "selfLink": f"{c.cpath}/zones/{zone}/instances/{name}",
        "scheduling": {"onHostMaintenance": "MIGRATE", "automaticRestart": True,
                       "preemptible": False, "provisioningModel": "STANDARD"},
        "deletionProtection": c.ok(), "labels": {"team": c.p.team, "env": c.p.env},
        "shieldedInstanceConfig": {"enableSecureBoot": c.ok(), "enableVtpm": True,
                                   "enableIntegrityMonitoring": True},
        "fingerprint": etag(rng), "cpuPlatform": "Intel Cascade Lake",
        "labelFingerprint": etag(rng), "startRestricted": False,
    }
    aname = f"//compute.googleapis.com/projects/{c.p.id}/zones/{zone}/instances/{name}"
    c.w.add(aname, "compute.googleapis.com/Instance", data, c.crm_parent(), zone, c.p.ancestors)
    c.maybe_iam(aname, "compute.googleapis.com/Instance", 0.02, ["roles/compute.osAdminLogin"])


def _disk(c: Ctx, name: str, zone: str, user: str | None) -> str:
    rng = c.rng
    link = f"{c.cpath}/zones/{zone}/disks/{name}"
    data: Record = {
        "kind": "compute#disk", "id": number(rng, 19), "name": name,
        "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "sizeGb": str(rng.choice(
            [10, 50, 100, 200, 500, 1000])),
        "zone": f"{c.cpath}/zones/{zone}", "status": "READY", "selfLink": link,
        "type": f"{c.cpath}/zones/{zone}/diskTypes/{rng.choice(['pd-balanced', 'pd-ssd'])}",
        "physicalBlockSizeBytes": "4096", "labelFingerprint": etag(rng),
        "lastAttachTimestamp": COMPUTE_TIMES[rng.getrandbits(12)],
    }
    if user:
        data["users"] = [user]
    if c.ok():
        key = c.keys[rng.randrange(len(c.keys))]
        data["diskEncryptionKey"] = {"kmsKeyName": f"{key}/cryptoKeyVersions/1"}
    if c.ok():
        region = zone.rsplit("-", 1)[0]
        data["resourcePolicies"] = [f"{c.cpath}/regions/{region}/resourcePolicies/daily-snapshots"]
    c.w.add(f"//compute.googleapis.com/projects/{c.p.id}/zones/{zone}/disks/{name}",
            "compute.googleapis.com/Disk", data, c.crm_parent(), zone, c.p.ancestors)
    return link


def _snapshot(c: Ctx, disk: str) -> None:
    rng = c.rng
    name = c.uid("snap")
    data: Record = {
        "kind": "compute#snapshot", "id": number(rng, 19), "name": name,
        "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "status": "READY",
        "sourceDisk": disk, "diskSizeGb": "100", "storageBytes": str(rng.getrandbits(34)),
        "storageLocations": [rng.choice(["us", "eu", "us-central1"])],
        "selfLink": f"{c.cpath}/global/snapshots/{name}", "autoCreated": rng.random() < 0.7,
        "snapshotType": "STANDARD", "labelFingerprint": etag(rng),
    }
    c.w.add(f"//compute.googleapis.com/projects/{c.p.id}/global/snapshots/{name}",
            "compute.googleapis.com/Snapshot", data, c.crm_parent(), "global", c.p.ancestors)


def gen_vm(c: Ctx) -> Iterator[None]:
    """A VM with a boot disk, sometimes a data disk, and their scheduled snapshots."""
    rng = c.rng
    region, zone = c.zone()
    name = c.uid(f"{c.p.team}-vm")
    link = f"{c.cpath}/zones/{zone}/instances/{name}"
    disks = [_disk(c, name, zone, link)]
    yield
    if rng.random() < 0.4:
        disks.append(_disk(c, f"{name}-data", zone, link))
        yield
    _instance(c, name, region, zone, disks)
    yield
    for _ in range(rng.randrange(3)):
        _snapshot(c, disks[rng.randrange(len(disks))])
        yield


def gen_mig(c: Ctx) -> Iterator[None]:
    """A managed instance group with an autoscaler and its instances."""
    rng = c.rng
    region, zone = c.zone()
    name = c.uid(f"{c.p.team}-mig")
    template = f"{c.cpath}/global/instanceTemplates/{name}-tmpl"
    regional = rng.random() < (0.7 if c.p.env == "prod" else 0.3)
    loc_path = f"regions/{region}" if regional else f"zones/{zone}"
    mig_link = f"{c.cpath}/{loc_path}/instanceGroupManagers/{name}"
    size = 2 + rng.randrange(3)
    data: Record = {
        "kind": "compute#instanceGroupManager", "id": number(rng, 19), "name": name,
        "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "baseInstanceName": name,
        "instanceTemplate": template,
        "instanceGroup": f"{c.cpath}/{loc_path}/instanceGroups/{name}",
        "targetSize": size, "selfLink": mig_link, "fingerprint": etag(rng),
        "status": {"isStable": True, "versionTarget": {"isReached": True}},
        "updatePolicy": {"type": "PROACTIVE", "minimalAction": "REPLACE",
                         "maxSurge": {"fixed": 3, "calculated": 3}},
        "versions": [{"instanceTemplate": template, "targetSize": {"calculated": size}}],
    }
    if regional:
        data["region"] = f"{c.cpath}/regions/{region}"
        zones = REGIONS[region]
        n = 1 if not c.ok() else min(len(zones), 3)
        data["distributionPolicy"] = {
            "zones": [{"zone": f"{c.cpath}/zones/{z}"} for z in zones[:n]],
            "targetShape": "EVEN",
        }
    else:
        data["zone"] = f"{c.cpath}/zones/{zone}"
    c.w.add(f"//compute.googleapis.com/projects/{c.p.id}/{loc_path}/instanceGroupManagers/{name}",
            "compute.googleapis.com/InstanceGroupManager", data, c.crm_parent(),
            region if regional else zone, c.p.ancestors)
    yield
    scaler = f"{name}-as"
    c.w.add(
        f"//compute.googleapis.com/projects/{c.p.id}/{loc_path}/autoscalers/{scaler}",
        "compute.googleapis.com/Autoscaler",
        {
            "kind": "compute#autoscaler", "id": number(rng, 19), "name": scaler,
            "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "target": mig_link,
            "autoscalingPolicy": {"minNumReplicas": 2, "maxNumReplicas": 10,
                                  "coolDownPeriodSec": 60, "mode": "ON",
                                  "cpuUtilization": {"utilizationTarget": 0.6}},
            "selfLink": f"{c.cpath}/{loc_path}/autoscalers/{scaler}", "status": "ACTIVE",
            "recommendedSize": size,
        },
        c.crm_parent(), region if regional else zone, c.p.ancestors,
    )
    yield
    for i in range(size):
        iz = REGIONS[region][rng.randrange(len(REGIONS[region]))] if regional else zone
        iname = f"{name}-{i}{rng.getrandbits(12):03x}"  # the index keeps names unique
        link = f"{c.cpath}/zones/{iz}/instances/{iname}"
        disk = _disk(c, iname, iz, link)
        yield
        _instance(c, iname, region, iz, [disk], template)
        yield


def gen_lb(c: Ctx) -> Iterator[None]:
    """An external HTTPS load balancer: SSL policy, URL map, backend, proxy, forwarding rules."""
    rng, p, crm, anc = c.rng, c.p, c.crm_parent(), c.p.ancestors
    name = c.uid(f"{p.team}-lb")
    policy_link = None
    if rng.random() < 0.8:
        pol = f"{name}-ssl"
        policy_link = f"{c.cpath}/global/sslPolicies/{pol}"
        if c.ok():
            tls, profile, custom = rng.choice(["TLS_1_2", "TLS_1_2", "TLS_1_3"]), "RESTRICTED", None
        else:
            tls = rng.choice(["TLS_1_0", "TLS_1_1", "TLS_1_2"])
            profile = rng.choice(["COMPATIBLE", "MODERN", "CUSTOM"])
            custom = (rng.sample(WEAK_CIPHERS + STRONG_CIPHERS, 3) if profile == "CUSTOM" else None)
        data: Record = {
            "kind": "compute#sslPolicy", "id": number(rng, 19), "name": pol,
            "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "profile": profile,
            "selfLink": policy_link, "fingerprint": etag(rng),
            "enabledFeatures": STRONG_CIPHERS + (WEAK_CIPHERS if profile != "RESTRICTED" else []),
        }
        if tls != "TLS_1_0" or rng.random() < 0.5:  # absent means TLS_1_0
            data["minTlsVersion"] = tls
        if custom:
            data["customFeatures"] = custom
        c.w.add(f"//compute.googleapis.com/projects/{p.id}/global/sslPolicies/{pol}",
                "compute.googleapis.com/SslPolicy", data, crm, "global", anc)
        yield
    backend = f"{c.cpath}/global/backendServices/{name}-be"
    c.w.add(
        f"//compute.googleapis.com/projects/{p.id}/global/backendServices/{name}-be",
        "compute.googleapis.com/BackendService",
        {
            "kind": "compute#backendService", "id": number(rng, 19), "name": f"{name}-be",
            "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "protocol":
                "HTTPS" if c.ok() else "HTTP", "port": 443, "portName": "https", "timeoutSec": 30,
            "loadBalancingScheme": "EXTERNAL_MANAGED", "selfLink": backend,
            "healthChecks": [f"{c.cpath}/global/healthChecks/{name}-hc"],
            "backends": [{"group": f"{c.cpath}/zones/{c.zone()[1]}/instanceGroups/{name}",
                          "balancingMode": "UTILIZATION", "capacityScaler": 1}],
            "logConfig": {"enable": c.ok(), "sampleRate": 1.0},
            "connectionDraining": {"drainingTimeoutSec": 300}, "fingerprint": etag(rng),
        },
        crm, "global", anc,
    )
    yield
    urlmap = f"{c.cpath}/global/urlMaps/{name}-map"
    c.w.add(
        f"//compute.googleapis.com/projects/{p.id}/global/urlMaps/{name}-map",
        "compute.googleapis.com/UrlMap",
        {
            "kind": "compute#urlMap", "id": number(rng, 19), "name": f"{name}-map",
            "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "selfLink": urlmap,
            "defaultService": backend, "fingerprint": etag(rng),
            "hostRules": [{"hosts": [f"{name}.{DOMAIN}"], "pathMatcher": "main"}],
            "pathMatchers": [{"name": "main", "defaultService": backend}],
        },
        crm, "global", anc,
    )
    yield
    proxy = f"{c.cpath}/global/targetHttpsProxies/{name}-proxy"
    pdata: Record = {
        "kind": "compute#targetHttpsProxy", "id": number(rng, 19), "name": f"{name}-proxy",
        "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "urlMap": urlmap,
        "sslCertificates": [f"{c.cpath}/global/sslCertificates/{name}-cert"],
        "selfLink": proxy, "quicOverride": "NONE", "fingerprint": etag(rng),
    }
    if policy_link:
        pdata["sslPolicy"] = policy_link
    c.w.add(f"//compute.googleapis.com/projects/{p.id}/global/targetHttpsProxies/{name}-proxy",
            "compute.googleapis.com/TargetHttpsProxy", pdata, crm, "global", anc)
    yield
    ip = f"34.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
    c.w.add(
        f"//compute.googleapis.com/projects/{p.id}/global/forwardingRules/{name}-https",
        "compute.googleapis.com/GlobalForwardingRule",
        {
            "kind": "compute#forwardingRule", "id": number(rng, 19), "name": f"{name}-https",
            "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "IPAddress": ip,
            "IPProtocol": "TCP", "portRange": "443-443", "target": proxy,
            "loadBalancingScheme": "EXTERNAL_MANAGED", "networkTier": "PREMIUM",
            "selfLink": f"{c.cpath}/global/forwardingRules/{name}-https",
            "fingerprint": etag(rng), "labelFingerprint": etag(rng),
        },
        crm, "global", anc,
    )
    yield
    if rng.random() < 0.6:
        yield from _http_listener(c, name, urlmap, ip)
    region = c.regions[0]
    c.w.add(
        f"//compute.googleapis.com/projects/{p.id}/regions/{region}/forwardingRules/{name}-ilb",
        "compute.googleapis.com/ForwardingRule",
        {
            "kind": "compute#forwardingRule", "id": number(rng, 19), "name": f"{name}-ilb",
            "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)],
            "region": f"{c.cpath}/regions/{region}", "IPAddress": f"10.{rng.randrange(250)}.0.9",
            "IPProtocol": "TCP", "ports": ["5432"], "loadBalancingScheme": "INTERNAL",
            "backendService": f"{c.cpath}/regions/{region}/backendServices/{name}-ilb",
            "network": c.networks[-1], "subnetwork": c.subnets[-1][0] if c.subnets else None,
            "selfLink": f"{c.cpath}/regions/{region}/forwardingRules/{name}-ilb",
            "fingerprint": etag(rng),
        },
        crm, region, anc,
    )
    yield


def _http_listener(c: Ctx, name: str, urlmap: str, ip: str) -> Iterator[None]:
    """Port 80 on the same address: a redirect-only URL map when compliant, else the content."""
    rng, p, crm, anc = c.rng, c.p, c.crm_parent(), c.p.ancestors
    if c.ok():
        urlmap = f"{c.cpath}/global/urlMaps/{name}-redirect"
        c.w.add(
            f"//compute.googleapis.com/projects/{p.id}/global/urlMaps/{name}-redirect",
            "compute.googleapis.com/UrlMap",
            {"kind": "compute#urlMap", "id": number(rng, 19), "name": f"{name}-redirect",
             "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "selfLink": urlmap,
             "defaultUrlRedirect": {"httpsRedirect": True, "stripQuery": False,
                                    "redirectResponseCode": "MOVED_PERMANENTLY_DEFAULT"},
             "fingerprint": etag(rng)},
            crm, "global", anc,
        )
        yield
    proxy = f"{c.cpath}/global/targetHttpProxies/{name}-http-proxy"
    c.w.add(
        f"//compute.googleapis.com/projects/{p.id}/global/targetHttpProxies/{name}-http-proxy",
        "compute.googleapis.com/TargetHttpProxy",
        {"kind": "compute#targetHttpProxy", "id": number(rng, 19), "name": f"{name}-http-proxy",
         "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "urlMap": urlmap,
         "selfLink": proxy, "fingerprint": etag(rng)},
        crm, "global", anc,
    )
    yield
    c.w.add(
        f"//compute.googleapis.com/projects/{p.id}/global/forwardingRules/{name}-http",
        "compute.googleapis.com/GlobalForwardingRule",
        {"kind": "compute#forwardingRule", "id": number(rng, 19), "name": f"{name}-http",
         "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)], "IPAddress": ip,
         "IPProtocol": "TCP", "portRange": "80-80", "target": proxy,
         "loadBalancingScheme": "EXTERNAL_MANAGED", "networkTier": "PREMIUM",
         "selfLink": f"{c.cpath}/global/forwardingRules/{name}-http", "fingerprint": etag(rng)},
        crm, "global", anc,
    )
    yield


def gen_redis(c: Ctx) -> Iterator[None]:
    """A Memorystore for Redis instance."""
    rng, p = c.rng, c.p
    region, zone = c.zone()
    name = f"projects/{p.id}/locations/{region}/instances/{c.uid(p.team + '-cache')}"
    data: Record = {
        "name": name, "displayName": name.rsplit("/", 1)[1], "locationId": zone,
        "redisVersion": "REDIS_7_0", "tier": "STANDARD_HA" if c.ok() else "BASIC",
        "memorySizeGb": rng.choice([1, 5, 16]), "state": "READY",
        "host": f"10.{rng.randrange(250)}.{rng.randrange(256)}.4", "port": 6379,
        "authorizedNetwork": c.networks[-1].replace("https://www.googleapis.com/compute/v1/", ""),
        "connectMode": "PRIVATE_SERVICE_ACCESS", "authEnabled": c.ok(),
        "createTime": RFC3339[rng.getrandbits(12)],
        "persistenceConfig": {"persistenceMode": "RDB", "rdbSnapshotPeriod": "TWELVE_HOURS"},
    }
    if c.ok():
        data["transitEncryptionMode"] = "SERVER_AUTHENTICATION"
    elif rng.random() < 0.5:
        data["transitEncryptionMode"] = "DISABLED"
    c.w.add(f"//redis.googleapis.com/{name}", "redis.googleapis.com/Instance", data,
            c.crm_parent(), region, p.ancestors)
    yield


def gen_sql(c: Ctx) -> Iterator[None]:
    """A Cloud SQL primary, sometimes with a cross-region read replica."""
    rng, p = c.rng, c.p
    region = c.regions[rng.randrange(len(c.regions))]
    name = c.uid(f"{p.team}-db")
    version = SQL_VERSIONS[rng.randrange(len(SQL_VERSIONS))]

    def instance(iname: str, region: str, replica_of: str | None) -> Record:
        ip_cfg: Record = {"ipv4Enabled": not c.ok(), "requireSsl": c.ok(),
                          "privateNetwork": f"projects/{p.id}/global/networks/vpc-{p.env}"}
        if rng.random() < 0.7:
            ip_cfg["sslMode"] = ("ENCRYPTED_ONLY" if c.ok()
                                 else "ALLOW_UNENCRYPTED_AND_ENCRYPTED")
        ip_cfg["authorizedNetworks"] = (
            [] if c.ok() else [{"value": rng.choice(["0.0.0.0/0", "203.0.113.0/24"]),
                                "name": "office", "kind": "sql#aclEntry"}]
        )
        flags = []
        if version.startswith("POSTGRES") and c.ok():
            flags = [{"name": "cloudsql.enable_pgaudit", "value": "on"},
                     {"name": "log_connections", "value": "on"},
                     {"name": "log_disconnections", "value": "on"}]
        settings: Record = {
            "kind": "sql#settings", "tier": rng.choice(["db-custom-2-7680", "db-custom-8-30720"]),
            "availabilityType": "REGIONAL" if c.ok() else "ZONAL",
            "backupConfiguration": {
                "kind": "sql#backupConfiguration", "enabled": c.ok(), "startTime": "03:00",
                "pointInTimeRecoveryEnabled": c.ok(), "binaryLogEnabled": False,
                "transactionLogRetentionDays": 7, "location": rng.choice(["us", region]),
                "backupRetentionSettings": {"retentionUnit": "COUNT",
                                            "retainedBackups": rng.choice([7, 14, 30])},
            },
            "ipConfiguration": ip_cfg, "databaseFlags": flags,
            "userLabels": {"team": p.team, "env": p.env},
            "deletionProtectionEnabled": c.ok(), "dataDiskSizeGb": "100",
            "dataDiskType": "PD_SSD", "pricingPlan": "PER_USE", "activationPolicy": "ALWAYS",
            "storageAutoResize": True, "settingsVersion": str(rng.randrange(1, 40)),
        }
        data: Record = {
            "kind": "sql#instance", "name": iname, "project": p.id, "region": region,
            "databaseVersion": version, "backendType": "SECOND_GEN", "state": "RUNNABLE",
            "instanceType": "READ_REPLICA_INSTANCE" if replica_of else "CLOUD_SQL_INSTANCE",
            "gceZone": REGIONS[region][0], "settings": settings,
            "connectionName": f"{p.id}:{region}:{iname}",
            "selfLink": f"https://sqladmin.googleapis.com/sql/v1beta4/projects/{p.id}"
                        f"/instances/{iname}",
            "serviceAccountEmailAddress": f"p{p.number}-{rng.getrandbits(16):x}"
                                          "@gcp-sa-cloud-sql.iam.gserviceaccount.com",
            "ipAddresses": [{"type": "PRIVATE", "ipAddress": f"10.{rng.randrange(250)}.1.5"}]
            + ([{"type": "PRIMARY", "ipAddress": "34.1.2.3"}] if ip_cfg["ipv4Enabled"] else []),
            "createTime": RFC3339[rng.getrandbits(12)],
        }
        if c.ok():
            data["diskEncryptionConfiguration"] = {"kmsKeyName": c.keys[0],
                                                   "kind": "sql#diskEncryptionConfiguration"}
        if replica_of:
            data["masterInstanceName"] = f"{p.id}:{replica_of}"
        return data

    replica = rng.random() < 0.3
    other = next((r for r in REGION_NAMES if r != region), region)
    primary = instance(name, region, None)
    if replica:
        primary["replicaNames"] = [f"{name}-replica"]
    c.w.add(f"//cloudsql.googleapis.com/projects/{p.id}/instances/{name}",
            "sqladmin.googleapis.com/Instance", primary, c.crm_parent(), region, p.ancestors)
    yield
    if replica:
        c.w.add(f"//cloudsql.googleapis.com/projects/{p.id}/instances/{name}-replica",
                "sqladmin.googleapis.com/Instance", instance(f"{name}-replica", other, name),
                c.crm_parent(), other, p.ancestors)
        yield


def gen_bucket(c: Ctx) -> Iterator[None]:
    rng, p = c.rng, c.p
    kind = rng.choice(["data", "exports", "uploads", "backups", "logs", "tmp"])
    name = f"{p.id}-{kind}-{c.uid('b')[2:]}"  # bucket names are global: project id + sequence
    loc_type = "multi-region" if c.ok() else rng.choice(["region", "dual-region", "region"])
    location = {"multi-region": "US", "dual-region": "NAM4"}.get(
        loc_type, c.regions[0].upper())
    ubla = c.ok()
    data: Record = {
        "kind": "storage#bucket", "id": name, "name": name,
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}",
        "projectNumber": p.number, "metageneration": str(rng.randrange(1, 9)),
        "location": location, "locationType": loc_type,
        "storageClass": rng.choice(["STANDARD", "NEARLINE", "COLDLINE"]),
        "etag": "CAE=", "timeCreated": RFC3339[rng.getrandbits(12)],
        "updated": RFC3339[rng.getrandbits(12)],
        "iamConfiguration": {
            "bucketPolicyOnly": {"enabled": ubla}, "uniformBucketLevelAccess": {"enabled": ubla},
            "publicAccessPrevention": "enforced" if c.ok() else "inherited",
        },
        "labels": {"team": p.team, "env": p.env},
        "rpo": "DEFAULT",
    }
    if c.ok():
        data["versioning"] = {"enabled": True}
    if c.ok():
        data["encryption"] = {"defaultKmsKeyName": c.keys[rng.randrange(len(c.keys))]}
    if rng.random() < 0.5:
        data["softDeletePolicy"] = {"retentionDurationSeconds": "604800",
                                    "effectiveTime": RFC3339[rng.getrandbits(12)]}
    if rng.random() < 0.1:
        data["retentionPolicy"] = {"retentionPeriod": "220752000", "isLocked": c.ok(),
                                   "effectiveTime": RFC3339[rng.getrandbits(12)]}
    aname = f"//storage.googleapis.com/{name}"
    c.w.add(aname, "storage.googleapis.com/Bucket", data, c.crm_parent(),
            location.lower(), p.ancestors)
    c.maybe_iam(aname, "storage.googleapis.com/Bucket", 0.4,
                ["roles/storage.objectViewer", "roles/storage.objectAdmin",
                 "roles/storage.legacyBucketReader"])
    yield


def gen_service_account(c: Ctx, account: str | None = None) -> Iterator[None]:
    """A service account and its keys (system-managed always, user-managed sometimes)."""
    rng, p = c.rng, c.p
    account = account or c.uid(rng.choice(["svc", "job", "ci", "sync"]))
    email = f"{account}@{p.id}.iam.gserviceaccount.com"
    unique = number(rng, 21)
    aname = f"//iam.googleapis.com/projects/{p.id}/serviceAccounts/{unique}"
    c.w.add(
        aname, "iam.googleapis.com/ServiceAccount",
        {"name": f"projects/{p.id}/serviceAccounts/{email}", "projectId": p.id,
         "uniqueId": unique, "email": email, "displayName": account, "etag": "MDEwMjE5MjA=",
         "oauth2ClientId": unique, "disabled": rng.random() < 0.05},
        c.crm_parent(), "global", p.ancestors,
    )
    c.maybe_iam(aname, "iam.googleapis.com/ServiceAccount", 0.2,
                ["roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"])
    yield
    for i in range(1 + rng.randrange(3)):
        key_id = f"{rng.getrandbits(160):040x}"
        user_managed = i > 0 and not c.ok()
        created = KEY_TIMES[rng.getrandbits(10)]
        c.w.add(
            f"{aname}/keys/{key_id}", "iam.googleapis.com/ServiceAccountKey",
            {"name": f"projects/{p.id}/serviceAccounts/{email}/keys/{key_id}",
             "validAfterTime": created,
             "validBeforeTime": "9999-12-31T23:59:59Z" if user_managed else KEY_TIMES[
                 rng.getrandbits(10)],
             "keyAlgorithm": "KEY_ALG_RSA_2048",
             "keyOrigin": "GOOGLE_PROVIDED",
             "keyType": "USER_MANAGED" if user_managed else "SYSTEM_MANAGED"},
            aname, "global", p.ancestors,
        )
        yield


def gen_crypto_key(c: Ctx, name: str | None = None) -> Iterator[None]:
    rng, p = c.rng, c.p
    if name is None:
        region = c.regions[rng.randrange(len(c.regions))]
        name = (f"projects/{p.id}/locations/{region}/keyRings/{p.team}-ring/cryptoKeys/"
                f"{c.uid('key')}")
    region = name.split("/")[3]
    data: Record = {
        "name": name, "purpose": "ENCRYPT_DECRYPT", "createTime": RFC3339[rng.getrandbits(12)],
        "primary": {"name": f"{name}/cryptoKeyVersions/1", "state": "ENABLED",
                    "createTime": RFC3339[rng.getrandbits(12)],
                    "protectionLevel": "SOFTWARE", "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
                    "generateTime": RFC3339[rng.getrandbits(12)]},
        "versionTemplate": {"protectionLevel": "SOFTWARE",
                            "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"},
        "destroyScheduledDuration": "2592000s",
    }
    if c.ok():
        data["rotationPeriod"] = rng.choice(["7776000s", "2592000s"])
        data["nextRotationTime"] = RFC3339[rng.getrandbits(12)]
    elif rng.random() < 0.5:
        data["rotationPeriod"] = "31536000s"
        data["nextRotationTime"] = RFC3339[rng.getrandbits(12)]
    aname = f"//cloudkms.googleapis.com/{name}"
    c.w.add(aname, "cloudkms.googleapis.com/CryptoKey", data,
            f"//cloudkms.googleapis.com/{name.rsplit('/cryptoKeys/', 1)[0]}", region, p.ancestors)
    c.maybe_iam(aname, "cloudkms.googleapis.com/CryptoKey", 0.3,
                ["roles/cloudkms.cryptoKeyEncrypterDecrypter"])
    yield


def gen_log_sink(c: Ctx) -> Iterator[None]:
    rng, p = c.rng, c.p
    name = c.uid("sink")
    dest = rng.choice([
        f"storage.googleapis.com/{p.id}-logs",
        f"bigquery.googleapis.com/projects/{p.id}/datasets/audit_logs",
        f"pubsub.googleapis.com/projects/{p.id}/topics/log-export",
    ])
    data: Record = {
        "name": name, "destination": dest,
        "filter": rng.choice(['logName:"cloudaudit.googleapis.com"', "severity>=WARNING", ""]),
        "writerIdentity": f"serviceAccount:service-{p.number}@gcp-sa-logging.iam.gserviceaccount"
                          ".com",
        "createTime": RFC3339[rng.getrandbits(12)], "updateTime": RFC3339[rng.getrandbits(12)],
        "disabled": rng.random() < 0.05,
    }
    c.w.add(f"//logging.googleapis.com/projects/{p.number}/sinks/{name}",
            "logging.googleapis.com/LogSink", data, c.crm_parent(), "global", p.ancestors)
    yield


def gen_cluster(c: Ctx) -> Iterator[None]:
    """A GKE cluster with its node-pool instance group and node VMs."""
    rng, p = c.rng, c.p
    region, zone = c.zone()
    regional = c.ok()
    location = region if regional else zone
    name = c.uid(f"{p.team}-gke")
    node_sa = c.sas[3] if c.ok() else "default"
    priv = c.ok()
    data: Record = {
        "name": name, "location": location, "zone": location,
        "locations": REGIONS[region][:3] if regional else [zone],
        "network": c.networks[-1].rsplit("/", 1)[1],
        "subnetwork": c.subnets[-1][0].rsplit("/", 1)[1] if c.subnets else "",
        "currentMasterVersion": "1.30.5-gke.1014001", "currentNodeVersion": "1.30.5-gke.1014001",
        "status": "RUNNING", "endpoint": f"34.{rng.randrange(256)}.{rng.randrange(256)}.10",
        "selfLink": f"https://container.googleapis.com/v1/projects/{p.id}/locations/{location}"
                    f"/clusters/{name}",
        "createTime": RFC3339[rng.getrandbits(12)],
        "loggingService": "logging.googleapis.com/kubernetes" if c.ok() else "none",
        "monitoringService": "monitoring.googleapis.com/kubernetes",
        "releaseChannel": {"channel": "REGULAR"},
        "privateClusterConfig": {"enablePrivateNodes": priv, "enablePrivateEndpoint": False,
                                 "masterIpv4CidrBlock": "172.16.0.0/28"},
        "masterAuthorizedNetworksConfig": {
            "enabled": c.ok(),
            "cidrBlocks": [{"cidrBlock": "10.0.0.0/8" if c.ok() else "0.0.0.0/0",
                            "displayName": "corp"}],
        },
        "databaseEncryption": ({"state": "ENCRYPTED", "keyName": c.keys[0]} if c.ok()
                               else {"state": "DECRYPTED"}),
        "nodePools": [{
            "name": "default-pool", "initialNodeCount": 1, "status": "RUNNING",
            "config": {"machineType": "e2-standard-4", "diskSizeGb": 100,
                       "serviceAccount": node_sa,
                       "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
                       "workloadMetadataConfig": {"mode": "GKE_METADATA"}},
            "locations": REGIONS[region][:3] if regional else [zone],
            "autoscaling": {"enabled": True, "minNodeCount": 1, "maxNodeCount": 5},
            "management": {"autoUpgrade": True, "autoRepair": True},
        }],
    }
    if c.ok():
        data["workloadIdentityConfig"] = {"workloadPool": f"{p.id}.svc.id.goog"}
    c.w.add(f"//container.googleapis.com/projects/{p.id}/locations/{location}/clusters/{name}",
            "container.googleapis.com/Cluster", data, c.crm_parent(), location, p.ancestors)
    yield
    for i in range(2 + rng.randrange(3)):
        iz = REGIONS[region][rng.randrange(3)] if regional else zone
        iname = f"gke-{name}-default-pool-{rng.getrandbits(28):07x}{i}"
        link = f"{c.cpath}/zones/{iz}/instances/{iname}"
        disk = _disk(c, iname, iz, link)
        yield
        _instance(c, iname, region, iz, [disk])
        yield


# --- types no rule judges (a large share of a real inventory) ----------------------------------


def gen_route(c: Ctx) -> Iterator[None]:
    rng = c.rng
    name = c.uid("route")
    net = c.networks[rng.randrange(len(c.networks))]
    c.w.add(
        f"//compute.googleapis.com/projects/{c.p.id}/global/routes/{name}",
        "compute.googleapis.com/Route",
        {"kind": "compute#route", "id": number(rng, 19), "name": name, "network": net,
         "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)],
         "destRange": f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/24", "priority": 1000,
         **({"nextHopGateway": f"{c.cpath}/global/gateways/default-internet-gateway"}
            if rng.random() < 0.3 else
            {"nextHopIp": f"10.{rng.randrange(250)}.{rng.randrange(256)}.1"}),
         "selfLink": f"{c.cpath}/global/routes/{name}", "routeType": "STATIC"},
        c.crm_parent(), "global", c.p.ancestors,
    )
    yield


def gen_address(c: Ctx) -> Iterator[None]:
    rng = c.rng
    region = c.regions[rng.randrange(len(c.regions))]
    name = c.uid("addr")
    external = rng.random() < 0.4
    c.w.add(
        f"//compute.googleapis.com/projects/{c.p.id}/regions/{region}/addresses/{name}",
        "compute.googleapis.com/Address",
        {"kind": "compute#address", "id": number(rng, 19), "name": name,
         "creationTimestamp": COMPUTE_TIMES[rng.getrandbits(12)],
         "address": (f"34.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
                     if external else f"10.{rng.randrange(250)}.{rng.randrange(256)}.7"),
         "addressType": "EXTERNAL" if external else "INTERNAL", "status": "IN_USE",
         "region": f"{c.cpath}/regions/{region}", "networkTier": "PREMIUM",
         "selfLink": f"{c.cpath}/regions/{region}/addresses/{name}",
         "labelFingerprint": etag(rng)},
        c.crm_parent(), region, c.p.ancestors,
    )
    yield


def gen_pubsub(c: Ctx) -> Iterator[None]:
    rng, p = c.rng, c.p
    topic = c.uid(rng.choice(["events", "ingest", "notifications", "hl7-feed"]))
    tname = f"projects/{p.id}/topics/{topic}"
    aname = f"//pubsub.googleapis.com/{tname}"
    c.w.add(aname, "pubsub.googleapis.com/Topic",
            {"name": tname, "labels": {"team": p.team},
             "messageStoragePolicy": {"allowedPersistenceRegions": c.regions},
             **({"kmsKeyName": c.keys[0]} if c.ok() else {})},
            c.crm_parent(), "global", p.ancestors)
    c.maybe_iam(aname, "pubsub.googleapis.com/Topic", 0.15, ["roles/pubsub.publisher"])
    yield
    for _ in range(1 + rng.randrange(2)):
        sname = f"projects/{p.id}/subscriptions/{c.uid(topic + '-sub')}"
        c.w.add(f"//pubsub.googleapis.com/{sname}", "pubsub.googleapis.com/Subscription",
                {"name": sname, "topic": tname, "ackDeadlineSeconds": 60,
                 "messageRetentionDuration": "604800s", "expirationPolicy": {"ttl": "2678400s"},
                 "state": "ACTIVE"},
                c.crm_parent(), "global", p.ancestors)
        yield


def gen_bigquery(c: Ctx) -> Iterator[None]:
    """A dataset and its tables: the largest single share of a data-heavy org's inventory."""
    rng, p = c.rng, c.p
    ds = c.uid(rng.choice(["raw", "staging", "curated", "reporting"])).replace("-", "_")
    location = "US" if rng.random() < 0.7 else c.regions[0]
    ds_name = f"//bigquery.googleapis.com/projects/{p.id}/datasets/{ds}"
    cmek = c.ok()
    data: Record = {
        "kind": "bigquery#dataset", "id": f"{p.id}:{ds}",
        "datasetReference": {"projectId": p.id, "datasetId": ds}, "location": location,
        "creationTime": str(1700000000000 + rng.getrandbits(35)),
        "lastModifiedTime": str(1750000000000 + rng.getrandbits(33)),
        "selfLink": f"https://bigquery.googleapis.com/bigquery/v2/projects/{p.id}/datasets/{ds}",
        "labels": {"team": p.team}, "etag": etag(rng),
        "access": [{"role": "OWNER", "specialGroup": "projectOwners"},
                   {"role": "READER", "specialGroup": "projectReaders"}],
    }
    if cmek:
        data["defaultEncryptionConfiguration"] = {"kmsKeyName": c.keys[0]}
    c.w.add(ds_name, "bigquery.googleapis.com/Dataset", data, c.crm_parent(), location.lower(),
            p.ancestors)
    c.maybe_iam(ds_name, "bigquery.googleapis.com/Dataset", 0.3, ["roles/bigquery.dataViewer"])
    yield
    for _ in range(6 + rng.randrange(30)):
        table = c.uid("t").replace("-", "_")
        cols = rng.sample(BQ_COLUMNS, 3 + rng.randrange(5))
        tdata: Record = {
            "kind": "bigquery#table", "id": f"{p.id}:{ds}.{table}",
            "tableReference": {"projectId": p.id, "datasetId": ds, "tableId": table},
            "type": "TABLE", "location": location,
            "creationTime": str(1700000000000 + rng.getrandbits(35)),
            "lastModifiedTime": str(1750000000000 + rng.getrandbits(33)),
            "numBytes": str(rng.getrandbits(36)), "numRows": str(rng.getrandbits(28)),
            "schema": {"fields": [{"name": n, "type": t, "mode": "NULLABLE"} for n, t in cols]},
            "selfLink": f"https://bigquery.googleapis.com/bigquery/v2/projects/{p.id}/datasets/"
                        f"{ds}/tables/{table}",
            "etag": etag(rng),
        }
        if cmek:
            tdata["encryptionConfiguration"] = {"kmsKeyName": c.keys[0]}
        if rng.random() < 0.3:
            tdata["timePartitioning"] = {"type": "DAY", "field": "event_time"}
        c.w.add(f"{ds_name}/tables/{table}", "bigquery.googleapis.com/Table", tdata, ds_name,
                location.lower(), p.ancestors)
        yield


def gen_secret(c: Ctx) -> Iterator[None]:
    rng, p = c.rng, c.p
    name = f"projects/{p.number}/secrets/{c.uid('secret')}"
    aname = f"//secretmanager.googleapis.com/{name}"
    c.w.add(aname, "secretmanager.googleapis.com/Secret",
            {"name": name, "replication": {"automatic": {}},
             "createTime": RFC3339[rng.getrandbits(12)], "etag": f'"{rng.getrandbits(48):x}"',
             "labels": {"team": p.team}},
            c.crm_parent(), "global", p.ancestors)
    c.maybe_iam(aname, "secretmanager.googleapis.com/Secret", 0.25,
                ["roles/secretmanager.secretAccessor"])
    yield


def gen_images(c: Ctx) -> Iterator[None]:
    """An Artifact Registry repository with container images (many per repository)."""
    rng, p = c.rng, c.p
    region = c.regions[0]
    repo = c.uid("images")
    rname = f"projects/{p.id}/locations/{region}/repositories/{repo}"
    c.w.add(f"//artifactregistry.googleapis.com/{rname}",
            "artifactregistry.googleapis.com/Repository",
            {"name": rname, "format": "DOCKER", "mode": "STANDARD_REPOSITORY",
             "createTime": RFC3339[rng.getrandbits(12)], "updateTime": RFC3339[rng.getrandbits(12)],
             "sizeBytes": str(rng.getrandbits(36))},
            c.crm_parent(), region, p.ancestors)
    yield
    app = rng.choice(["api", "worker", "frontend", "etl", "gateway"])
    for _ in range(5 + rng.randrange(25)):
        digest = f"sha256:{rng.getrandbits(256):064x}"
        iname = f"{rname}/dockerImages/{app}@{digest}"
        c.w.add(f"//artifactregistry.googleapis.com/{iname}",
                "artifactregistry.googleapis.com/DockerImage",
                {"name": iname,
                 "uri": f"{region}-docker.pkg.dev/{p.id}/{repo}/{app}@{digest}",
                 "tags": [f"v{rng.randrange(1, 9)}.{rng.randrange(40)}.{rng.randrange(20)}"],
                 "imageSizeBytes": str(rng.getrandbits(30)),
                 "uploadTime": RFC3339[rng.getrandbits(12)],
                 "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                 "buildTime": RFC3339[rng.getrandbits(12)],
                 "updateTime": RFC3339[rng.getrandbits(12)]},
                f"//artifactregistry.googleapis.com/{rname}", region, p.ancestors)
        yield


def gen_dns(c: Ctx) -> Iterator[None]:
    rng, p = c.rng, c.p
    zone = c.uid("zone")
    c.w.add(f"//dns.googleapis.com/projects/{p.id}/managedZones/{zone}",
            "dns.googleapis.com/ManagedZone",
            {"name": zone, "dnsName": f"{zone}.{p.team}.{DOMAIN}.",
             "id": number(rng, 19), "visibility": "private",
             "creationTime": RFC3339[rng.getrandbits(12)],
             "privateVisibilityConfig": {"networks": [{"networkUrl": n} for n in c.networks]},
             "nameServers": ["ns-gcp-private.googledomains.com."]},
            c.crm_parent(), "global", p.ancestors)
    yield


def gen_run(c: Ctx) -> Iterator[None]:
    rng, p = c.rng, c.p
    region = c.regions[0]
    svc = c.uid(f"{p.team}-svc")
    ingress = "internal-and-cloud-load-balancing" if c.ok() else "all"
    aname = f"//run.googleapis.com/projects/{p.id}/locations/{region}/services/{svc}"
    c.w.add(aname, "run.googleapis.com/Service",
            {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
             "metadata": {"name": svc, "namespace": p.number,
                          "annotations": {"run.googleapis.com/ingress": ingress},
                          "creationTimestamp": RFC3339[rng.getrandbits(12)]},
             "spec": {"template": {"spec": {"serviceAccountName": c.sas[0], "containers": [
                 {"image": f"{region}-docker.pkg.dev/{p.id}/images/{svc}:latest"}]}}},
             "status": {"url": f"https://{svc}-{rng.getrandbits(32):08x}-uc.a.run.app"}},
            c.crm_parent(), region, p.ancestors)
    c.maybe_iam(aname, "run.googleapis.com/Service", 0.5, ["roles/run.invoker"])
    yield


def gen_alert(c: Ctx) -> Iterator[None]:
    rng, p = c.rng, c.p
    name = f"projects/{p.id}/alertPolicies/{number(rng, 19)}"
    c.w.add(f"//monitoring.googleapis.com/{name}", "monitoring.googleapis.com/AlertPolicy",
            {"name": name, "displayName": rng.choice(["High CPU", "5xx rate", "IAM change"]),
             "enabled": True, "combiner": "OR",
             "conditions": [{"displayName": "c", "conditionThreshold": {
                 "filter": 'metric.type="compute.googleapis.com/instance/cpu/utilization"',
                 "comparison": "COMPARISON_GT", "thresholdValue": 0.9, "duration": "300s"}}],
             "notificationChannels": [f"projects/{p.id}/notificationChannels/123"]},
            c.crm_parent(), "global", p.ancestors)
    yield


# (generator, weight): weights are per group; groups differ in size (see the manifest's mix).
GROUPS: list[tuple[Callable[[Ctx], Iterator[None]], float]] = [
    (gen_vm, 22.0),
    (gen_bigquery, 4.0),
    (gen_images, 3.0),
    (gen_firewall, 20.0),
    (gen_route, 40.0),
    (gen_address, 22.0),
    (gen_pubsub, 14.0),
    (gen_bucket, 30.0),
    (gen_service_account, 10.0),
    (gen_crypto_key, 6.0),
    (gen_log_sink, 3.0),
    (gen_mig, 3.0),
    (gen_lb, 3.0),
    (gen_sql, 4.0),
    (gen_cluster, 0.8),
    (gen_secret, 15.0),
    (gen_dns, 3.0),
    (gen_run, 5.0),
    (gen_alert, 3.0),
    (gen_redis, 2.0),
]
_GEN = [g for g, _ in GROUPS]
_CUM: list[float] = []
_acc = 0.0
for _, _w in GROUPS:
    _acc += _w
    _CUM.append(_acc)


def pick_group(rng: random.Random) -> Callable[[Ctx], Iterator[None]]:
    x = rng.random() * _acc
    for gen, cum in zip(_GEN, _CUM, strict=True):
        if x < cum:
            return gen
    return _GEN[-1]



def gen_header(plan: OrgPlan, w: Writer) -> None:
    rng = w.rng
    org = f"organizations/{plan.org_id}"
    org_anc = (org,)
    created = RFC3339[rng.getrandbits(12)]
    customer = f"C0{rng.getrandbits(28):07x}"
    w.add(
        f"//cloudresourcemanager.googleapis.com/{org}",
        "cloudresourcemanager.googleapis.com/Organization",
        {"name": org, "displayName": DOMAIN, "lifecycleState": "ACTIVE",
         "creationTime": created, "owner": {"directoryCustomerId": customer}},
        None, "global", org_anc,
    )
    w.add_iam(
        f"//cloudresourcemanager.googleapis.com/{org}",
        "cloudresourcemanager.googleapis.com/Organization",
        {"version": 1, "etag": etag(rng),
         "bindings": [
             {"role": "roles/resourcemanager.organizationAdmin",
              "members": [f"group:gcp-org-admins@{DOMAIN}"]},
             {"role": "roles/billing.admin", "members": [f"group:gcp-billing@{DOMAIN}"]},
             {"role": "roles/iam.securityReviewer", "members": [f"group:security@{DOMAIN}"]},
             {"role": "roles/owner", "members": [f"user:breakglass@{DOMAIN}"]},
             {"role": "roles/viewer", "members": [f"domain:{DOMAIN}"]},
         ],
         "audit_configs": audit_configs(rng, 0.9)},
        org_anc,
    )
    # The organization's guardrails, as a real org sets them; one of them sometimes missing.
    guards = [boolean_policy(c, True) for c in ORG_GUARDRAILS if rng.random() < 0.9]
    guards.append({"constraint": "constraints/iam.allowedPolicyMemberDomains",
                   "list_policy": {"allowed_values": [customer]}})
    guards.append({"constraint": "constraints/gcp.resourceLocations",
                   "list_policy": {"allowed_values": ["in:us-locations"]}})
    w.add_org_policy(f"//cloudresourcemanager.googleapis.com/{org}",
                     "cloudresourcemanager.googleapis.com/Organization", guards, org_anc)
    for f in plan.folders:
        name = f"//cloudresourcemanager.googleapis.com/folders/{f.id}"
        parent = f"//cloudresourcemanager.googleapis.com/{f.parent}"
        w.add(name, "cloudresourcemanager.googleapis.com/Folder",
              {"name": f"folders/{f.id}", "parent": f.parent, "displayName": f.name,
               "lifecycleState": "ACTIVE", "createTime": RFC3339[rng.getrandbits(12)]},
              parent, "global", f.ancestors)
        w.add_iam(name, "cloudresourcemanager.googleapis.com/Folder",
                  {"version": 1, "etag": etag(rng),
                   "bindings": [{"role": "roles/resourcemanager.folderAdmin",
                                 "members": [f"group:{f.name}-admins@{DOMAIN}"]},
                                {"role": "roles/editor",
                                 "members": [f"group:{f.name}-eng@{DOMAIN}"]}]},
                  f.ancestors)
    for sink, flt in (("org-audit-logs", 'logName:"cloudaudit.googleapis.com"'),
                      ("org-all-logs", "")):
        w.add(
            f"//logging.googleapis.com/{org}/sinks/{sink}", "logging.googleapis.com/LogSink",
            {"name": sink, "destination": f"storage.googleapis.com/{sink}-{plan.org_id}",
             "filter": flt, "includeChildren": True, "disabled": False,
             "writerIdentity": f"serviceAccount:o{plan.org_id}-{rng.getrandbits(24):06x}"
                               "@gcp-sa-logging.iam.gserviceaccount.com",
             "createTime": RFC3339[rng.getrandbits(12)]},
            f"//cloudresourcemanager.googleapis.com/{org}", "global", org_anc,
        )
        # The destination: a locked-retention bucket in the first project (the logging project).
        home = plan.projects[0]
        bucket = f"{sink}-{plan.org_id}"
        w.add(
            f"//storage.googleapis.com/{bucket}", "storage.googleapis.com/Bucket",
            {"kind": "storage#bucket", "id": bucket, "name": bucket,
             "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}",
             "projectNumber": home.number, "location": "US", "locationType": "multi-region",
             "storageClass": "COLDLINE", "timeCreated": RFC3339[rng.getrandbits(12)],
             "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True},
                                  "bucketPolicyOnly": {"enabled": True},
                                  "publicAccessPrevention": "enforced"},
             "versioning": {"enabled": True},
             "retentionPolicy": {"retentionPeriod": "189216000", "isLocked": sink != "org-all-logs",
                                 "effectiveTime": RFC3339[rng.getrandbits(12)]}},
            f"//cloudresourcemanager.googleapis.com/projects/{home.number}", "us", home.ancestors,
        )
    # A log-based metric and a DNS server policy in the logging project, so that the snapshot
    # holds both types, as a real organization's export does: without any, a scan cannot tell
    # "none exist" from "not exported" and judges MON-001..008 and LOG-012 UNKNOWN (coverage per
    # asset type). Neither satisfies a rule (the metric counts 5xx responses, the policy is bound
    # to no network), so the rules' verdicts are those of an organization without them. Fixed
    # values, no draw from `rng`: every other record is as before.
    home = plan.projects[0]
    w.add(
        f"//logging.googleapis.com/projects/{home.number}/metrics/lb-5xx",
        "logging.googleapis.com/LogMetric",
        {"name": "lb-5xx", "description": "HTTP(S) load balancer 5xx responses",
         "filter": 'resource.type="http_load_balancer" AND httpRequest.status>=500',
         "metricDescriptor": {"metricKind": "DELTA", "valueType": "INT64", "unit": "1"},
         "createTime": "2025-01-15T10:00:00Z", "updateTime": "2025-01-15T10:00:00Z"},
        f"//cloudresourcemanager.googleapis.com/projects/{home.number}", "global",
        home.ancestors,
    )
    w.add(
        f"//dns.googleapis.com/projects/{home.id}/policies/inbound-forwarding",
        "dns.googleapis.com/Policy",
        {"kind": "dns#policy", "id": "4312698705529112230", "name": "inbound-forwarding",
         "description": "inbound forwarding for on-premises resolvers, not yet bound",
         "enableInboundForwarding": True, "enableLogging": False, "networks": []},
        f"//cloudresourcemanager.googleapis.com/projects/{home.number}", "global",
        home.ancestors,
    )


