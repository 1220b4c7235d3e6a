"""Converter tables for Compute Engine: load balancing (SSL policies, proxies, URL maps,
forwarding rules, backend services), VPC (networks, subnetworks, peerings, firewalls), firewall
policies (hierarchical, global and regional network ones, their rules and associations), VMs,
disks and their snapshot schedules, instance groups and autoscalers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from phiguard.inventory.refs import ref_key
from phiguard.terraform.convert import (
    ABSENT,
    Context,
    Converter,
    Field,
    Part,
    Transform,
    each,
    kv_items,
    register,
)
from phiguard.terraform.tables._refs import (
    NETWORK,
    known,
)
from phiguard.terraform.tables.iam import iam_parts
from phiguard.terraform.values import AFTER_APPLY, is_unknown, tf_get

NETWORK_TYPE = "compute.googleapis.com/Network"
INSTANCE_TYPE = "compute.googleapis.com/Instance"

COMPUTE_PROJECT = "//compute.googleapis.com/projects/{project}"  # CAI name prefix
GLOBAL = "projects/{project}/global"
REGION = "projects/{project}/regions/{region}"
SUBNET = REGION + "/subnetworks/{}"
COMPUTE_URL = "https://www.googleapis.com/compute/v1/"



def zone_url(value: Any, ctx: Context) -> Any:
    if isinstance(value, str) and "/" not in value and ctx.change is not None:
        project = ctx.project_of(ctx.change, ctx.values(ctx.change))
        return f"{COMPUTE_URL}projects/{project}/zones/{value}"
    return value


def region_url(value: Any, ctx: Context) -> Any:
    if isinstance(value, str) and "/" not in value and ctx.change is not None:
        project = ctx.project_of(ctx.change, ctx.values(ctx.change))
        return f"{COMPUTE_URL}projects/{project}/regions/{value}"
    return value


def _ports(value: Any, ctx: Context) -> Any:
    return ABSENT if value == [] else value


def ref_list(value: Any, ctx: Context) -> Any:
    return [value] if isinstance(value, str) else value


def scopes(value: Any, ctx: Context) -> Any:
    if not isinstance(value, list):
        return value
    return [s if not isinstance(s, str) or s.startswith("https://")
            else "https://www.googleapis.com/auth/" + s for s in value]


def _ssl(regional: bool) -> Converter:
    where = "/regions/{region}" if regional else "/global"
    return Converter(
        tf_type="google_compute_region_ssl_policy" if regional else "google_compute_ssl_policy",
        asset_type="compute.googleapis.com/SslPolicy",
        name=COMPUTE_PROJECT + where + "/sslPolicies/{name}",
        location="{region}" if regional else "global",
        constants={"kind": "compute#sslPolicy"},
        fields=(Field("name", "name"), Field("profile", "profile", api_default="COMPATIBLE"),
                Field("min_tls_version", "minTlsVersion", api_default="TLS_1_0"),
                Field("custom_features", "customFeatures"), Field("description", "description"),
                *((Field("region", "region", region_url),) if regional else ())))


def _proxy(tf_type: str, collection: str, kind_name: str, regional: bool, *extra: Field,
           kind: str = "") -> Converter:
    where = "/regions/{region}" if regional else "/global"
    policy_ref = (REGION if regional else GLOBAL) + "/sslPolicies/{}"
    map_ref = (REGION if regional else GLOBAL) + "/urlMaps/{}"
    fields = [Field("name", "name"), Field("ssl_policy", "sslPolicy", ref=policy_ref),
              Field("ssl_certificates", "sslCertificates"), Field("url_map", "urlMap", ref=map_ref),
              *extra]
    if regional:
        fields.append(Field("region", "region", region_url))
    return Converter(tf_type=tf_type, asset_type=f"compute.googleapis.com/{kind_name}",
                     name=COMPUTE_PROJECT + where + f"/{collection}/{{name}}",
                     location="{region}" if regional else "global",
                     constants={"kind": kind} if kind else {},
                     fields=tuple(fields))


REDIRECT_FIELDS = (Field("https_redirect", "httpsRedirect"),
                   Field("redirect_response_code", "redirectResponseCode"),
                   Field("strip_query", "stripQuery"))


def _url_map(regional: bool) -> Converter:
    base = REGION if regional else GLOBAL
    svc = base + "/backendServices/{}"
    return Converter(
        tf_type="google_compute_region_url_map" if regional else "google_compute_url_map",
        asset_type="compute.googleapis.com/UrlMap",
        name=COMPUTE_PROJECT + ("/regions/{region}" if regional else "/global") + "/urlMaps/{name}",
        location="{region}" if regional else "global",
        fields=(Field("name", "name"), Field("default_service", "defaultService", ref=svc),
                Field("default_url_redirect", "defaultUrlRedirect", each(*REDIRECT_FIELDS)),
                Field("path_matcher", "pathMatchers", each(
                    Field("name", "name"), Field("default_service", "defaultService", ref=svc),
                    Field("default_url_redirect.https_redirect",
                          "defaultUrlRedirect.httpsRedirect"),
                    Field("path_rule", "pathRules", each(Field("paths", "paths"),
                                                          Field("service", "service", ref=svc))),
                    Field("route_rules", "routeRules", each(Field("priority", "priority"),
                                                             Field("service", "service", ref=svc))),
                )),
                Field("host_rule", "hostRules", each(Field("hosts", "hosts"),
                                                     Field("path_matcher", "pathMatcher")))),
        build=_first_redirect)


def _first_redirect(data: dict[str, Any], values: Any, ctx: Context) -> None:
    # a block list in Terraform, one object in REST
    redirect = data.get("defaultUrlRedirect")
    if isinstance(redirect, list):
        if redirect:
            data["defaultUrlRedirect"] = redirect[0]
        else:
            del data["defaultUrlRedirect"]


def _forwarding(regional: bool) -> Converter:
    return Converter(
        tf_type="google_compute_forwarding_rule" if regional
        else "google_compute_global_forwarding_rule",
        asset_type="compute.googleapis.com/" + ("ForwardingRule" if regional
                                                 else "GlobalForwardingRule"),
        name=COMPUTE_PROJECT + ("/regions/{region}" if regional else "/global")
        + "/forwardingRules/{name}",
        location="{region}" if regional else "global",
        fields=(Field("name", "name"), Field("target", "target", ref="{}"),
                Field("backend_service", "backendService", ref="{}"),
                Field("ip_address", "IPAddress"), Field("ip_protocol", "IPProtocol"),
                Field("port_range", "portRange"), Field("ports", "ports"),
                Field("load_balancing_scheme", "loadBalancingScheme"),
                Field("network", "network", ref=NETWORK),
                Field("subnetwork", "subnetwork", ref=SUBNET)))


def _backend_service(regional: bool) -> Converter:
    return Converter(
        tf_type="google_compute_region_backend_service" if regional
        else "google_compute_backend_service",
        asset_type="compute.googleapis.com/" + ("RegionBackendService" if regional
                                                 else "BackendService"),
        name=COMPUTE_PROJECT + ("/regions/{region}" if regional else "/global")
        + "/backendServices/{name}",
        location="{region}" if regional else "global",
        fields=(Field("name", "name"), Field("protocol", "protocol"),
                Field("load_balancing_scheme", "loadBalancingScheme"),
                Field("health_checks", "healthChecks", ref_list, ref="{}"),
                Field("backend", "backends", each(Field("group", "group", ref="{}"),
                                                  Field("balancing_mode", "balancingMode"))),
                Field("security_policy", "securityPolicy", ref="{}"),
                Field("log_config.enable", "logConfig.enable")))


def _flow_logs_on(data: dict[str, Any], values: Any, ctx: Context) -> None:
    # the provider has no `enable`: a log_config block turns flow logs on (the API's
    # logConfig.enable), its absence turns them off (enable false, as Google's converter writes)
    block = tf_get(values, "log_config")
    if isinstance(block, list):
        data.setdefault("logConfig", {})["enable"] = bool(block)


def _firewall_logging(data: dict[str, Any], values: Any, ctx: Context) -> None:
    # a log_config block turns firewall rule logging on; without one Google's converter writes
    # enable false (its enable_logging, false when unset), and so does phiguard
    block = tf_get(values, "log_config")
    if isinstance(block, list) or block is None:
        data.setdefault("logConfig", {})["enable"] = bool(block)


def _peering_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    network = _resolved(values, "network", ctx)
    if not isinstance(network, str):
        return None
    return NETWORK_TYPE, "//compute.googleapis.com/" + ref_key(network)


def _resolved(values: Any, attr: str, ctx: Context) -> Any:
    value = tf_get(values, attr)
    if is_unknown(value) and ctx.change is not None:
        value = ctx.resolve(ctx.change, attr, True)
    return value


def _peering_piece(values: Any, ctx: Context) -> Any:
    change = ctx.change
    network = _resolved(values, "network", ctx)
    peer = _resolved(values, "peer_network", ctx)
    # ACTIVE once both sides exist; phiguard knows that only if the other side is planned too
    state: Any = AFTER_APPLY
    if isinstance(network, str) and isinstance(peer, str):
        for other in ctx.plan.of_types("google_compute_network_peering"):
            if other.exists_after and other is not change:
                ctx.change = other
                theirs = ctx.values(other)
                mine, their_peer = (_resolved(theirs, "network", ctx),
                                    _resolved(theirs, "peer_network", ctx))
                if isinstance(mine, str) and isinstance(their_peer, str) and \
                        ref_key(mine) == ref_key(peer) and ref_key(their_peer) == ref_key(network):
                    state = "ACTIVE"
        ctx.change = change
    return {"name": tf_get(values, "name"), "network": peer, "state": state,
            "exportCustomRoutes": tf_get(values, "export_custom_routes", False),
            "importCustomRoutes": tf_get(values, "import_custom_routes", False)}


def _instance_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    nics = data.get("networkInterfaces")
    blocks = values.get("network_interface") if isinstance(values, dict) else None
    for i, nic in enumerate(nics if isinstance(nics, list) else ()):
        if not isinstance(nic, dict):
            continue
        # a bare subnetwork name lives in `subnetwork_project` when that is set (Shared VPC)
        block = blocks[i] if isinstance(blocks, list) and i < len(blocks) else None
        host = block.get("subnetwork_project") if isinstance(block, dict) else None
        bare = block.get("subnetwork") if isinstance(block, dict) else None
        if isinstance(host, str) and host and isinstance(bare, str) and bare and "/" not in bare \
                and ctx.change is not None:
            region = ctx.scope(ctx.change, values)["region"]
            nic["subnetwork"] = f"projects/{host}/regions/{region}/subnetworks/{bare}"
        # A NIC given only a subnetwork gets that subnetwork's network from the API.
        if is_unknown(nic.get("network")) or "network" not in nic:
            subnet = ctx.find_planned(nic.get("subnetwork"), ("google_compute_subnetwork",))
            if subnet is not None and isinstance(subnet.data.get("network"), str):
                nic["network"] = subnet.data["network"]
        # an access config's type is fixed by its kind: the API's only IPv4 type is
        # ONE_TO_ONE_NAT (an external address), the only IPv6 one DIRECT_IPV6
        for key, kind in (("accessConfigs", "ONE_TO_ONE_NAT"),
                          ("ipv6AccessConfigs", "DIRECT_IPV6")):
            configs = nic.get(key)
            if configs == []:  # the API leaves an interface without access configs bare
                del nic[key]
            for config in configs if isinstance(configs, list) else ():
                if isinstance(config, dict):
                    config.setdefault("type", kind)
    # `metadata_startup_script` is the `startup-script` metadata item (as the API shows it)
    script = tf_get(values, "metadata_startup_script")
    if isinstance(script, str):
        items = tf_get(data, "metadata.items")
        items = list(items) if isinstance(items, list) else []
        items.append({"key": "startup-script", "value": script})
        data.setdefault("metadata", {})["items"] = items
    # Every instance has a boot disk, which the Compute API lists first in `disks` with
    # `boot: true` (IAM-005 tells the API's shape by it); the plan's `boot_disk` block is it.
    boot = tf_get(values, "boot_disk")
    if "disks" not in data and isinstance(boot, list) and boot and isinstance(boot[0], dict):
        data["disks"] = [{"boot": True}]
    _default_account(data, values, ctx)


def _default_account(data: dict[str, Any], values: Any, ctx: Context) -> None:
    """A `service_account` block without `email` runs the VM as the project's default compute
    account, `NUMBER-compute@developer.gserviceaccount.com`: set when the configuration shows
    the email is not given (the number stands in as `(number of P)` when unknown)."""
    accounts = data.get("serviceAccounts")
    change = ctx.change
    if not isinstance(accounts, list) or change is None or \
            ctx.configured(change, "service_account.email") is not False:
        return
    project = ctx.project_of(change, values)
    number = ctx.project_numbers.get(project) or f"(number of {project})"
    for account in accounts:
        if isinstance(account, dict) and (is_unknown(account.get("email"))
                                          or "email" not in account):
            account["email"] = f"{number}-compute@developer.gserviceaccount.com"


def _disk(regional: bool) -> Converter:
    return Converter(
        tf_type="google_compute_region_disk" if regional else "google_compute_disk",
        asset_type="compute.googleapis.com/" + ("RegionDisk" if regional else "Disk"),
        name=COMPUTE_PROJECT + ("/regions/{region}" if regional else "/zones/{zone}")
        + "/disks/{name}",
        location="{region}" if regional else "{zone}",
        constants={"kind": "compute#disk"},
        fields=(Field("name", "name"), Field("type", "type"), Field("size", "sizeGb"),
                Field("zone" if not regional else "region", "zone" if not regional else "region",
                      zone_url if not regional else region_url),
                Field("replica_zones", "replicaZones"),
                Field("disk_encryption_key.kms_key_self_link", "diskEncryptionKey.kmsKeyName",
                      ref="{}"),
                Field("disk_encryption_key.kms_key_name", "diskEncryptionKey.kmsKeyName",
                      ref="{}"),
                Field("disk_encryption_key.sha256", "diskEncryptionKey.sha256", api_default=None),
                Field("resource_policies", "resourcePolicies", ref="{}", api_default=None),
                Field("labels", "labels")))


def _attachment(regional: bool) -> Part:
    def parent(values: Any, ctx: Context) -> tuple[str, str] | None:
        change = ctx.change
        if change is None:
            return None
        scope = ctx.scope(change, values)
        disk = tf_get(values, "disk")
        if not isinstance(disk, str):
            return None
        disk = disk.rsplit("/", 1)[-1]
        where = f"regions/{scope['region']}" if regional else f"zones/{scope['zone']}"
        return ("compute.googleapis.com/" + ("RegionDisk" if regional else "Disk"),
                f"//compute.googleapis.com/projects/{scope['project']}/{where}/disks/{disk}")

    def piece(values: Any, ctx: Context) -> Any:
        scope = ctx.scope(ctx.change, values) if ctx.change else {}
        name = tf_get(values, "name")
        return (f"projects/{scope.get('project')}/regions/{scope.get('region')}"
                f"/resourcePolicies/{name}")

    return Part(tf_type="google_compute_region_disk_resource_policy_attachment" if regional
                else "google_compute_disk_resource_policy_attachment", kind="append",
                target="resourcePolicies", parent=parent, piece=piece)


def _igm(regional: bool) -> Converter:
    fields: list[Field] = [Field("name", "name"), Field("base_instance_name", "baseInstanceName"),
                           Field("target_size", "targetSize"),
                           Field("version", "versions", each(
                               Field("instance_template", "instanceTemplate", ref="{}"),
                               Field("name", "name")))]
    if regional:
        fields += [Field("region", "region", region_url),
                   Field("distribution_policy_zones", "distributionPolicy.zones",
                         lambda v, ctx: [{"zone": zone_url(z, ctx)} for z in v]
                         if isinstance(v, list) else v),
                   Field("distribution_policy_target_shape", "distributionPolicy.targetShape")]
    else:
        fields.append(Field("zone", "zone", zone_url))
    return Converter(
        tf_type="google_compute_region_instance_group_manager" if regional
        else "google_compute_instance_group_manager",
        # CAI lists regional managers under the one type, told apart by their regions/ name
        asset_type="compute.googleapis.com/InstanceGroupManager",
        name=COMPUTE_PROJECT + ("/regions/{region}" if regional else "/zones/{zone}")
        + "/instanceGroupManagers/{name}",
        location="{region}" if regional else "{zone}",
        fields=tuple(fields))


def _autoscaler(regional: bool) -> Converter:
    p = "autoscaling_policy."
    return Converter(
        tf_type="google_compute_region_autoscaler" if regional else "google_compute_autoscaler",
        asset_type="compute.googleapis.com/Autoscaler",  # regional ones too, as CAI lists them
        name=COMPUTE_PROJECT + ("/regions/{region}" if regional else "/zones/{zone}")
        + "/autoscalers/{name}",
        location="{region}" if regional else "{zone}",
        fields=(Field("name", "name"), Field("target", "target", ref="{}"),
                Field(p + "min_replicas", "autoscalingPolicy.minNumReplicas"),
                Field(p + "max_replicas", "autoscalingPolicy.maxNumReplicas"),
                Field(p + "cooldown_period", "autoscalingPolicy.coolDownPeriodSec"),
                Field(p + "mode", "autoscalingPolicy.mode", api_default="ON"),
                Field(p + "cpu_utilization.target",
                      "autoscalingPolicy.cpuUtilization.utilizationTarget", api_default=0.6)))


# Firewall policies. Cloud Asset lists hierarchical, global network and regional network
# firewall policies under one type, told apart by the name (Google's terraform-google-conversion,
# pkg/services/compute/compute_*firewall_policy_tfplan2cai.go and cai2hcl's convert_resource.go):
# //compute.googleapis.com/locations/global/firewallPolicies/<number> (hierarchical: the name
# is a number Google allocates), .../projects/P/global/firewallPolicies/N and
# .../projects/P/regions/R/firewallPolicies/N. Its data is the Compute API's FirewallPolicy,
# whose `rules` and `associations` hold what the provider's separate rule and association
# resources declare, so those are parts of the policy's asset.
FIREWALL_POLICY_TYPE = "compute.googleapis.com/FirewallPolicy"
_HIERARCHICAL = "//compute.googleapis.com/locations/global/firewallPolicies/"


def _listed(value: Any, ctx: Context) -> Any:
    # the plan shows an unset list attribute as []; the API shows no such field
    return ABSENT if value == [] else value


def _match(layer4: str, src_tags: str) -> Transform:
    inner = each(
        Field("src_ip_ranges", "srcIpRanges", _listed),
        Field("dest_ip_ranges", "destIpRanges", _listed),
        Field("src_region_codes", "srcRegionCodes", _listed),
        Field("dest_region_codes", "destRegionCodes", _listed),
        Field("src_fqdns", "srcFqdns", _listed), Field("dest_fqdns", "destFqdns", _listed),
        Field("src_address_groups", "srcAddressGroups", _listed),
        Field("dest_address_groups", "destAddressGroups", _listed),
        Field("src_threat_intelligences", "srcThreatIntelligences", _listed),
        Field("dest_threat_intelligences", "destThreatIntelligences", _listed),
        # compute v1 names the network context srcNetworkContext (the provider's
        # src_network_scope writes the beta API's srcNetworkScope, which v1 does not define)
        Field("src_network_context", "srcNetworkContext"),
        Field("dest_network_context", "destNetworkContext"),
        Field("src_networks", "srcNetworks", _listed),
        Field(layer4, "layer4Configs", each(Field("ip_protocol", "ipProtocol"),
                                            Field("ports", "ports", _ports))),
        Field(src_tags, "srcSecureTags", each(Field("name", "name"))))

    def first(value: Any, ctx: Context) -> Any:
        got = inner(value, ctx)  # a block list in Terraform, one object in REST
        if isinstance(got, list):
            return got[0] if got else ABSENT
        return got  # known only after apply: stays unknown
    return first


def _rule_fields(layer4: str, src_tags: str, target_tags: str) -> tuple[Field, ...]:
    return (Field("description", "description"), Field("rule_name", "ruleName"),
            Field("priority", "priority"), Field("action", "action"),
            Field("direction", "direction"), Field("disabled", "disabled"),
            Field("enable_logging", "enableLogging"),
            Field("match", "match", _match(layer4, src_tags)),
            Field("target_resources", "targetResources", _listed),
            Field("target_service_accounts", "targetServiceAccounts", _listed),
            Field(target_tags, "targetSecureTags", each(Field("name", "name"))),
            Field("security_profile_group", "securityProfileGroup"),
            Field("tls_inspect", "tlsInspect"))


_RULE = each(*_rule_fields("layer4_configs", "src_secure_tags", "target_secure_tags"))


def _policy_of(kind: str) -> Callable[[Any, Context], tuple[str, str] | None]:
    """The policy a rule or association resource belongs to (its `firewall_policy`): kind
    "org" (hierarchical), "global" or "region" (network firewall policies)."""
    def parent(values: Any, ctx: Context) -> tuple[str, str] | None:
        policy = known(values, "firewall_policy", ctx)
        if not isinstance(policy, str) or not policy or ctx.change is None:
            return None
        key = ref_key(policy)
        if "firewallPolicies/" in key and (kind == "org") == key.startswith("locations/"):
            return FIREWALL_POLICY_TYPE, "//compute.googleapis.com/" + key
        short = key.rsplit("/", 1)[-1]
        if kind == "org":
            return FIREWALL_POLICY_TYPE, _HIERARCHICAL + short
        scope = ctx.scope(ctx.change, values)
        where = "global" if kind == "global" else f"regions/{scope['region']}"
        return (FIREWALL_POLICY_TYPE,
                f"//compute.googleapis.com/projects/{scope['project']}/{where}"
                f"/firewallPolicies/{short}")
    return parent


def _rule_piece(values: Any, ctx: Context) -> Any:
    got = _RULE([values], ctx)
    return got[0] if isinstance(got, list) and got else {}


def _association_piece(network: bool) -> Callable[[Any, Context], Any]:
    def piece(values: Any, ctx: Context) -> Any:
        target = known(values, "attachment_target", ctx)
        if network and isinstance(target, str) and target and "/" not in target \
                and ctx.change is not None:
            project = ctx.scope(ctx.change, values)["project"]
            target = f"projects/{project}/global/networks/{target}"
        out: dict[str, Any] = {"attachmentTarget": target}
        name = tf_get(values, "name")
        if name is not None:
            out["name"] = name
        return out
    return piece


def _firewall_policy(kind: str, with_rules: bool = False) -> Converter:
    tf = {"org": "google_compute_firewall_policy",
          "global": "google_compute_network_firewall_policy",
          "region": "google_compute_region_network_firewall_policy"}[kind]
    fields: list[Field] = [Field("description", "description")]
    if kind == "org":
        fields += [Field("short_name", "shortName"), Field("parent", "parent")]
    else:
        fields += [Field("name", "name"), Field("policy_type", "policyType")]
    if kind == "region":
        fields.append(Field("region", "region", region_url))
    if with_rules:
        fields.append(Field("rule", "rules", each(
            *_rule_fields("layer4_config", "src_secure_tag", "target_secure_tag"))))
    return Converter(
        tf_type=tf + ("_with_rules" if with_rules else ""), asset_type=FIREWALL_POLICY_TYPE,
        name=(_HIERARCHICAL + "{name}" if kind == "org" else COMPUTE_PROJECT + (
            "/global" if kind == "global" else "/regions/{region}") + "/firewallPolicies/{name}"),
        location="{region}" if kind == "region" else "global",
        constants={"kind": "compute#firewallPolicy"}, fields=tuple(fields))


def _firewall_policy_parts() -> tuple[Part, ...]:
    parts = []
    for kind, prefix in (("org", "google_compute_firewall_policy"),
                         ("global", "google_compute_network_firewall_policy"),
                         ("region", "google_compute_region_network_firewall_policy")):
        parts += [Part(tf_type=prefix + "_rule", kind="append", target="rules", key="priority",
                       parent=_policy_of(kind), piece=_rule_piece),
                  Part(tf_type=prefix + "_association", kind="append", target="associations",
                       key="name", parent=_policy_of(kind),
                       piece=_association_piece(kind != "org"))]
    return tuple(parts)


def _instance_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    name = known(values, "instance_name", ctx, want_ref=False)
    zone = tf_get(values, "zone")
    if not isinstance(name, str) or ctx.change is None:
        return None
    if "/" not in name:
        if not isinstance(zone, str):
            return None
        name = f"projects/{ctx.project_of(ctx.change, values)}/zones/{zone}/instances/{name}"
    return INSTANCE_TYPE, "//compute.googleapis.com/" + ref_key(name)


register(
    *iam_parts("google_compute_instance", _instance_parent),
    _ssl(False), _ssl(True),
    _proxy("google_compute_target_https_proxy", "targetHttpsProxies", "TargetHttpsProxy", False,
           Field("quic_override", "quicOverride"), kind="compute#targetHttpsProxy"),
    _proxy("google_compute_region_target_https_proxy", "targetHttpsProxies", "TargetHttpsProxy",
           True, kind="compute#targetHttpsProxy"),
    _proxy("google_compute_target_ssl_proxy", "targetSslProxies", "TargetSslProxy", False,
           Field("backend_service", "service", ref="{}")),
    _proxy("google_compute_target_http_proxy", "targetHttpProxies", "TargetHttpProxy", False),
    _proxy("google_compute_region_target_http_proxy", "targetHttpProxies", "TargetHttpProxy", True),
    _url_map(False), _url_map(True), _forwarding(False), _forwarding(True),
    _backend_service(False), _backend_service(True),
    Converter(
        tf_type="google_compute_firewall", asset_type="compute.googleapis.com/Firewall",
        name=COMPUTE_PROJECT + "/global/firewalls/{name}", location="global",
        constants={"kind": "compute#firewall"},
        fields=(Field("name", "name"), Field("network", "network", ref=NETWORK),
                Field("direction", "direction", api_default="INGRESS"),
                Field("disabled", "disabled", api_default=False),
                Field("priority", "priority", api_default=1000),
                Field("source_ranges", "sourceRanges", api_default=None),
                Field("destination_ranges", "destinationRanges", api_default=None),
                Field("source_tags", "sourceTags"), Field("target_tags", "targetTags"),
                Field("source_service_accounts", "sourceServiceAccounts"),
                Field("target_service_accounts", "targetServiceAccounts"),
                # `ports = []` is every port: the API then shows no `ports` at all
                Field("allow", "allowed", each(Field("protocol", "IPProtocol"),
                                               Field("ports", "ports", _ports))),
                Field("deny", "denied", each(Field("protocol", "IPProtocol"),
                                             Field("ports", "ports", _ports))),
                Field("log_config.metadata", "logConfig.metadata")),
        build=_firewall_logging),
    Converter(
        tf_type="google_compute_network", asset_type=NETWORK_TYPE,
        name=COMPUTE_PROJECT + "/global/networks/{name}", location="global",
        constants={"kind": "compute#network"},
        fields=(Field("name", "name"),
                Field("auto_create_subnetworks", "autoCreateSubnetworks", api_default=True),
                Field("routing_mode", "routingConfig.routingMode", api_default="REGIONAL"),
                Field("mtu", "mtu")),
        build=lambda data, values, ctx: data.setdefault(
            "selfLink", COMPUTE_URL + f"projects/{ctx.project_of(ctx.change, values)}"
            f"/global/networks/{data.get('name')}") if ctx.change and isinstance(
                data.get("name"), str) else None),
    Converter(
        tf_type="google_compute_subnetwork", asset_type="compute.googleapis.com/Subnetwork",
        name=COMPUTE_PROJECT + "/regions/{region}/subnetworks/{name}", location="{region}",
        fields=(Field("name", "name"), Field("network", "network", ref=NETWORK),
                Field("ip_cidr_range", "ipCidrRange"), Field("region", "region", region_url),
                Field("secondary_ip_range", "secondaryIpRanges", each(
                    Field("range_name", "rangeName"), Field("ip_cidr_range", "ipCidrRange"))),
                Field("private_ip_google_access", "privateIpGoogleAccess"),
                Field("purpose", "purpose"),
                Field("log_config.aggregation_interval", "logConfig.aggregationInterval"),
                Field("log_config.flow_sampling", "logConfig.flowSampling"),
                Field("log_config.metadata", "logConfig.metadata"),
                Field("log_config.filter_expr", "logConfig.filterExpr")),
        build=_flow_logs_on),
    Part(tf_type="google_compute_network_peering", kind="append", target="peerings",
         parent=_peering_parent, piece=_peering_piece),
    Converter(
        tf_type="google_compute_instance", asset_type=INSTANCE_TYPE,
        name=COMPUTE_PROJECT + "/zones/{zone}/instances/{name}", location="{zone}",
        constants={"kind": "compute#instance"},
        fields=(Field("name", "name"), Field("zone", "zone", zone_url),
                Field("machine_type", "machineType"),
                Field("deletion_protection", "deletionProtection", api_default=False),
                Field("can_ip_forward", "canIpForward", api_default=False),
                Field("labels", "labels"),
                Field("metadata", "metadata.items", kv_items),
                Field("network_interface", "networkInterfaces", each(
                    Field("network", "network", ref=NETWORK),
                    Field("subnetwork", "subnetwork", ref=SUBNET),
                    Field("network_ip", "networkIP"),
                    Field("access_config", "accessConfigs", each(
                        Field("nat_ip", "natIP"), Field("network_tier", "networkTier"))),
                    Field("ipv6_access_config", "ipv6AccessConfigs", each(
                        Field("external_ipv6", "externalIpv6"),
                        Field("network_tier", "networkTier"))))),
                # the provider's defaults are the API's: Secure Boot off, vTPM and integrity
                # monitoring on (for an image that supports Shielded VM)
                Field("shielded_instance_config.enable_secure_boot",
                      "shieldedInstanceConfig.enableSecureBoot", api_default=False),
                Field("shielded_instance_config.enable_vtpm",
                      "shieldedInstanceConfig.enableVtpm", api_default=True),
                Field("shielded_instance_config.enable_integrity_monitoring",
                      "shieldedInstanceConfig.enableIntegrityMonitoring", api_default=True),
                Field("service_account", "serviceAccounts", each(
                    Field("email", "email"), Field("scopes", "scopes", scopes))),
                Field("confidential_instance_config.enable_confidential_compute",
                      "confidentialInstanceConfig.enableConfidentialCompute"),
                Field("confidential_instance_config.confidential_instance_type",
                      "confidentialInstanceConfig.confidentialInstanceType")),
        build=_instance_build),
    _firewall_policy("org"), _firewall_policy("global"), _firewall_policy("region"),
    _firewall_policy("org", with_rules=True), _firewall_policy("global", with_rules=True),
    *_firewall_policy_parts(),
    _disk(False), _disk(True), _attachment(False), _attachment(True),
    Converter(
        tf_type="google_compute_resource_policy",
        asset_type="compute.googleapis.com/ResourcePolicy",
        name=COMPUTE_PROJECT + "/regions/{region}/resourcePolicies/{name}", location="{region}",
        fields=(Field("name", "name"), Field("region", "region", region_url),
                Field("snapshot_schedule_policy.retention_policy.max_retention_days",
                      "snapshotSchedulePolicy.retentionPolicy.maxRetentionDays"),
                Field("snapshot_schedule_policy.retention_policy.on_source_disk_delete",
                      "snapshotSchedulePolicy.retentionPolicy.onSourceDiskDelete"),
                Field("snapshot_schedule_policy.schedule.daily_schedule.days_in_cycle",
                      "snapshotSchedulePolicy.schedule.dailySchedule.daysInCycle"),
                Field("snapshot_schedule_policy.schedule.hourly_schedule.hours_in_cycle",
                      "snapshotSchedulePolicy.schedule.hourlySchedule.hoursInCycle"))),
    _igm(False), _igm(True), _autoscaler(False), _autoscaler(True),
    Converter(
        tf_type="google_compute_region_network_endpoint_group",
        asset_type="compute.googleapis.com/NetworkEndpointGroup",
        name=COMPUTE_PROJECT + "/regions/{region}/networkEndpointGroups/{name}",
        location="{region}",
        fields=(Field("name", "name"),
                Field("network_endpoint_type", "networkEndpointType", api_default="GCE_VM_IP_PORT"),
                Field("region", "region", region_url))),
    Converter(
        tf_type="google_compute_project_metadata", asset_type="compute.googleapis.com/Project",
        name=COMPUTE_PROJECT, location="global",
        fields=(Field("metadata", "commonInstanceMetadata.items", kv_items),)),
)
