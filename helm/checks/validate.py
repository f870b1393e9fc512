#!/usr/bin/env python3
"""Offline checks of the chart's rendered manifests and of its single-source files.

Run by scripts/helm-check.sh inside the tools venv (kubernetes-validate, jsonschema and PyYAML).

  validate.py manifests --kube-version V --crd-schemas DIR FILE...
      Every document of every FILE must validate: core kinds against kubernetes-validate's strict
      schemas of Kubernetes V (unknown properties rejected), the CRD kinds (ServiceMonitor,
      PrometheusRule, ScaledObject) against the hand-written schemas in DIR. A kind that neither
      knows is an error, not a warning (kubernetes-validate itself only warns).
  validate.py env-names MANIFEST CONFIG_RS
      Every SMS_TRACKER_* variable the StatefulSet sets is one that src/config.rs reads.
  validate.py rules FILE
      A Prometheus rules file: groups of alerts, each with a severity label and summary,
      description and runbook annotations; the alerts the chart promises are all there.
  validate.py dashboard FILE
      A Grafana dashboard JSON with a title and a panels list.
  validate.py workload MANIFEST VALUES...
      The rendered StatefulSet and its companions agree with the values (chart defaults first,
      then each file, as Helm merges them): replicas vs partitions, grace period = shutdown
      timeout + 15, pod name as instance id, $(VAR) references only to earlier variables, SASL
      credentials from the Secret (secretKeyRef, never in the property list), the lifecycle
      settings (submit timeout, retention, retryable statuses), receipt tracking (the delivery
      variables only when tracker.deliveryReportsTopic is set), probes, security context,
      autoscaler bounds, ServiceMonitor selecting the metrics Service.
  validate.py embedded MANIFEST --dashboard FILE --rules FILE --rule-labels JSON
      The dashboard ConfigMap holds exactly FILE, and the PrometheusRule exactly the groups of
      the rules FILE (plus the rule labels the values add).
  validate.py run-env MANIFEST [--set NAME=VALUE]... [--replace OLD=NEW]...
      Prints the tracker container's environment as NAME=VALUE lines, resolved as the kubelet
      would (fieldRef metadata.name, secrets as placeholders, $(VAR) expanded), for a test run of
      the real binary.
"""

import argparse
import json
import os
import re
import sys

import jsonschema
import yaml
from kubernetes_validate import utils as kv

CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject.json",
}

REQUIRED_ALERTS = {
    "SmsTrackerConsumerLagGrowing",
    "SmsTrackerDeadLetterRate",
    "SmsTrackerInputWithoutOutput",
    "SmsTrackerRestoreTooSlow",
    "SmsTrackerNoPartitionsAssigned",
    "SmsTrackerTransactionsAborting",
    "SmsTrackerUnmatchedDeliveryReports",
    "SmsTrackerDeliveryUnknownHigh",
    "SmsTrackerStateUnreadable",
}
SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def load_documents(path):
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def where(error):
    return ".".join(str(p) for p in error.absolute_path) or "(top)"


def cmd_manifests(args):
    failures = 0
    count = 0
    for path in args.files:
        for doc in load_documents(path):
            count += 1
            kind, api = doc.get("kind"), doc.get("apiVersion")
            name = (doc.get("metadata") or {}).get("name", "?")
            label = f"{os.path.basename(path)}: {kind}/{name}"
            crd = CRD_SCHEMAS.get((api, kind))
            try:
                if crd:
                    with open(os.path.join(args.crd_schemas, crd)) as f:
                        schema = json.load(f)
                    validator = jsonschema.Draft7Validator(schema)
                    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
                    if errors:
                        for e in errors:
                            print(f"ERROR {label} ({api}, CRD schema): {where(e)}: {e.message}")
                        failures += 1
                    else:
                        print(f"  valid {label} ({api}, structural CRD schema)")
                else:
                    version = kv.validate(doc, args.kube_version, strict=True)
                    print(f"  valid {label} ({api}, Kubernetes {version} strict)")
            except kv.ValidationError as e:
                print(f"ERROR {label} ({api}, Kubernetes {e.version} strict): {where(e)}: {e.message}")
                failures += 1
            except kv.SchemaNotFoundError as e:
                print(f"ERROR {label}: {e.message}; not a core kind and no CRD schema in {args.crd_schemas}")
                failures += 1
    if count == 0:
        print("ERROR no manifests to validate")
        return 1
    return 1 if failures else 0


def cmd_env_names(args):
    with open(args.config_rs) as f:
        known = set(re.findall(r'env\s*=\s*"(SMS_TRACKER_[A-Z0-9_]+)"', f.read()))
    if not known:
        print(f"ERROR no SMS_TRACKER_* variables found in {args.config_rs}")
        return 1
    used = set()
    for doc in load_documents(args.manifest):
        if doc.get("kind") != "StatefulSet":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if env["name"].startswith("SMS_TRACKER_"):
                    used.add(env["name"])
    unknown = sorted(used - known)
    if unknown:
        print(f"ERROR the chart sets variables the tracker does not read: {', '.join(unknown)}")
        return 1
    unset = sorted(known - used)
    print(f"  {len(used)} SMS_TRACKER_* variables set, all read by the tracker; left at the tracker's default: {', '.join(unset) or 'none'}")
    return 0


def cmd_rules(args):
    with open(args.file) as f:
        rules = yaml.safe_load(f)
    problems = []
    if not isinstance(rules, dict) or set(rules) != {"groups"} or not isinstance(rules["groups"], list):
        print(f"ERROR {args.file}: expected a Prometheus rules file with only a 'groups' list")
        return 1
    seen = set()
    for group in rules["groups"]:
        if not group.get("name"):
            problems.append("a group without a name")
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record") or "?"
            if "record" in rule:
                continue
            seen.add(name)
            if not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
                problems.append(f"{name}: no expr")
            if "for" in rule and not DURATION.match(str(rule["for"])):
                problems.append(f"{name}: 'for' is not a duration: {rule['for']!r}")
            severity = (rule.get("labels") or {}).get("severity")
            if severity not in SEVERITIES:
                problems.append(f"{name}: severity label {severity!r} not one of {sorted(SEVERITIES)}")
            annotations = rule.get("annotations") or {}
            for key in ("summary", "description", "runbook"):
                if not annotations.get(key):
                    problems.append(f"{name}: no {key} annotation")
            for key in set(rule) - {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}:
                problems.append(f"{name}: unknown key {key!r}")
    for missing in sorted(REQUIRED_ALERTS - seen):
        problems.append(f"alert {missing} is missing")
    for p in problems:
        print(f"ERROR {args.file}: {p}")
    if not problems:
        print(f"  {len(seen)} alerts: {', '.join(sorted(seen))}")
    return 1 if problems else 0


def cmd_dashboard(args):
    try:
        with open(args.file) as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        print(f"ERROR {args.file}: {e}")
        return 1
    if not isinstance(dashboard, dict) or not isinstance(dashboard.get("title"), str):
        print(f"ERROR {args.file}: a Grafana dashboard needs a string 'title'")
        return 1
    if not isinstance(dashboard.get("panels"), list):
        print(f"ERROR {args.file}: a Grafana dashboard needs a 'panels' list")
        return 1
    print(f"  dashboard {dashboard['title']!r}, {len(dashboard['panels'])} panels")
    return 0


def deep_merge(base, override):
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def tracker_container(statefulset):
    containers = statefulset["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "sms-tracker")


REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def cmd_workload(args):
    values = {}
    for path in args.values:
        with open(path) as f:
            values = deep_merge(values, yaml.safe_load(f) or {})
    docs = load_documents(args.manifest)
    problems = []

    def check(condition, message):
        if not condition:
            problems.append(message)

    statefulsets = by_kind(docs, "StatefulSet")
    if len(statefulsets) != 1:
        print(f"ERROR expected one StatefulSet, found {len(statefulsets)}")
        return 1
    sts = statefulsets[0]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    container = tracker_container(sts)
    partitions = values["partitions"]
    autoscaling = values["autoscaling"]["enabled"]

    check(spec.get("podManagementPolicy") == "Parallel", "podManagementPolicy is not Parallel")
    headless = [s for s in by_kind(docs, "Service") if s["metadata"]["name"] == spec["serviceName"]]
    check(len(headless) == 1 and headless[0]["spec"].get("clusterIP") == "None",
          f"serviceName {spec['serviceName']} is not a headless Service of the release")
    check(not spec.get("volumeClaimTemplates"), "state lives in Kafka: no volumeClaimTemplates expected")
    if autoscaling:
        check("replicas" not in spec, "the StatefulSet sets replicas although an autoscaler owns them")
    else:
        check(spec.get("replicas") == values["replicas"], f"replicas {spec.get('replicas')} != values {values['replicas']}")
        check(spec.get("replicas", 1) <= partitions, "replicas exceed partitions")
    grace = values["tracker"]["shutdownTimeoutSeconds"] + 15
    check(pod.get("terminationGracePeriodSeconds") == grace,
          f"terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds')} != shutdownTimeoutSeconds + 15 = {grace}")

    env = container.get("env", [])
    names = [e["name"] for e in env]
    check(len(names) == len(set(names)), f"duplicate env names: {names}")
    by_name = {e["name"]: e for e in env}
    instance = by_name.get("SMS_TRACKER_INSTANCE_ID", {})
    check(instance.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
          "SMS_TRACKER_INSTANCE_ID is not the pod name (fieldRef metadata.name)")
    check(by_name.get("SMS_TRACKER_HTTP_LISTEN", {}).get("value") == "0.0.0.0:8080", "SMS_TRACKER_HTTP_LISTEN is not 0.0.0.0:8080")
    check(by_name.get("SMS_TRACKER_SHUTDOWN_TIMEOUT_SECONDS", {}).get("value") == str(values["tracker"]["shutdownTimeoutSeconds"]),
          "SMS_TRACKER_SHUTDOWN_TIMEOUT_SECONDS does not match tracker.shutdownTimeoutSeconds")
    check(by_name.get("SMS_TRACKER_CREATE_TOPICS", {}).get("value") == str(values["kafka"]["createTopics"]).lower(),
          "SMS_TRACKER_CREATE_TOPICS does not match kafka.createTopics")
    check(by_name.get("SMS_TRACKER_STATIC_MEMBERSHIP", {}).get("value") == str(values["kafka"]["staticMembership"]).lower(),
          "SMS_TRACKER_STATIC_MEMBERSHIP does not match kafka.staticMembership")
    check(by_name.get("SMS_TRACKER_LOG_FORMAT", {}).get("value") == values["tracker"]["logFormat"], "SMS_TRACKER_LOG_FORMAT does not match")
    check(by_name.get("SMS_TRACKER_SUBMIT_TIMEOUT_SECONDS", {}).get("value") == str(values["tracker"]["submitTimeoutSeconds"]),
          "SMS_TRACKER_SUBMIT_TIMEOUT_SECONDS does not match tracker.submitTimeoutSeconds")
    check(by_name.get("SMS_TRACKER_RETENTION_SECONDS", {}).get("value") == str(values["tracker"]["retentionSeconds"]),
          "SMS_TRACKER_RETENTION_SECONDS does not match tracker.retentionSeconds")
    check(by_name.get("SMS_TRACKER_RETRYABLE_COMMAND_STATUSES", {}).get("value") == ",".join(values["tracker"]["retryableCommandStatuses"]),
          "SMS_TRACKER_RETRYABLE_COMMAND_STATUSES is not tracker.retryableCommandStatuses comma-joined")
    delivery = {name for name in by_name if name.startswith("SMS_TRACKER_DELIVERY_")}
    topic = values["tracker"]["deliveryReportsTopic"]
    if topic:
        check(by_name.get("SMS_TRACKER_DELIVERY_REPORTS_TOPIC", {}).get("value") == topic,
              "SMS_TRACKER_DELIVERY_REPORTS_TOPIC does not match tracker.deliveryReportsTopic")
        formats = ",".join(f"{supplier}={fmt}" for supplier, fmt in sorted(values["tracker"]["deliveryIdFormats"].items()))
        if formats:
            check(by_name.get("SMS_TRACKER_DELIVERY_ID_FORMATS", {}).get("value") == formats,
                  f"SMS_TRACKER_DELIVERY_ID_FORMATS is not {formats!r} (tracker.deliveryIdFormats, sorted by supplier)")
        else:
            check("SMS_TRACKER_DELIVERY_ID_FORMATS" not in by_name, "SMS_TRACKER_DELIVERY_ID_FORMATS is set without tracker.deliveryIdFormats")
        check(by_name.get("SMS_TRACKER_DELIVERY_RECEIPT_PARTS", {}).get("value") == values["tracker"]["deliveryReceiptParts"],
              "SMS_TRACKER_DELIVERY_RECEIPT_PARTS does not match tracker.deliveryReceiptParts")
        check(by_name.get("SMS_TRACKER_DELIVERY_TIMEOUT_SECONDS", {}).get("value") == str(values["tracker"]["deliveryTimeoutSeconds"]),
              "SMS_TRACKER_DELIVERY_TIMEOUT_SECONDS does not match tracker.deliveryTimeoutSeconds")
    else:
        # Off: the delivery settings would have no effect, and the topic variable turns it on.
        check(not delivery, f"receipt tracking is off (tracker.deliveryReportsTopic empty) but {sorted(delivery)} are set")
    properties = by_name.get("SMS_TRACKER_KAFKA_PROPERTIES", {}).get("value", "")
    check("SMS_TRACKER_KAFKA_PROPERTIES" in by_name or not (values["kafka"]["properties"] or values["kafka"]["existingSecret"]["name"]
          or values["kafka"]["caSecret"]["name"]), "SMS_TRACKER_KAFKA_PROPERTIES missing")
    check(by_name.get("SMS_TRACKER_KAFKA_PROPERTIES", {"value": "x"}).get("value") != "", "SMS_TRACKER_KAFKA_PROPERTIES is empty (the tracker rejects an empty item)")
    for key, value in values["kafka"]["properties"].items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        check(f"{key}={text}" in properties.split(","), f"kafka.properties.{key} missing from SMS_TRACKER_KAFKA_PROPERTIES")
    for prop in ("sasl.username", "sasl.password"):
        check(not any(item.startswith(prop + "=") for item in properties.split(",")),
              f"{prop} is in SMS_TRACKER_KAFKA_PROPERTIES; credentials go to SMS_TRACKER_SASL_USERNAME/PASSWORD")
    if values["kafka"]["existingSecret"]["name"]:
        for var, key in (("SMS_TRACKER_SASL_USERNAME", "usernameKey"), ("SMS_TRACKER_SASL_PASSWORD", "passwordKey")):
            ref = by_name.get(var, {}).get("valueFrom", {}).get("secretKeyRef", {})
            check(ref == {"name": values["kafka"]["existingSecret"]["name"], "key": values["kafka"]["existingSecret"][key]},
                  f"{var} does not come from the existing Secret (secretKeyRef)")
    else:
        check("SMS_TRACKER_SASL_USERNAME" not in by_name and "SMS_TRACKER_SASL_PASSWORD" not in by_name,
              "SASL variables are set without kafka.existingSecret")
    if values["kafka"]["caSecret"]["name"]:
        mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mount = mounts.get("kafka-ca")
        check(mount is not None and mount.get("readOnly") is True, "the CA Secret is not mounted read-only")
        check(volumes.get("kafka-ca", {}).get("secret", {}).get("secretName") == values["kafka"]["caSecret"]["name"], "the CA volume is not the caSecret")
        if mount:
            check(f"ssl.ca.location={mount['mountPath']}/{values['kafka']['caSecret']['key']}" in properties.split(","),
                  "ssl.ca.location does not point at the mounted CA certificate")
    api = values["api"]
    api_env = {name for name in by_name if name.startswith("SMS_TRACKER_API_")}
    api_services = [s for s in by_kind(docs, "Service") if s["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "api"]
    ingresses = by_kind(docs, "Ingress")
    if api["enabled"]:
        port = api["port"]
        check(by_name.get("SMS_TRACKER_API_LISTEN", {}).get("value") == f"0.0.0.0:{port}", f"SMS_TRACKER_API_LISTEN is not 0.0.0.0:{port}")
        check({p["name"]: p.get("containerPort") for p in container.get("ports", [])}.get("api") == port,
              f"container port {port} is not named api")
        mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mount = mounts.get("api-token")
        check(mount is not None and mount.get("readOnly") is True, "the API token Secret is not mounted read-only")
        check(volumes.get("api-token", {}).get("secret", {}).get("secretName") == api["tokenSecret"]["name"],
              "the API token volume is not api.tokenSecret")
        if mount:
            check(by_name.get("SMS_TRACKER_API_TOKEN_FILE", {}).get("value") == f"{mount['mountPath']}/{api['tokenSecret']['key']}",
                  "SMS_TRACKER_API_TOKEN_FILE does not point at the mounted token")
        check(by_name.get("SMS_TRACKER_API_REVEAL_CONTENT", {}).get("value") == str(api["revealContent"]).lower(),
              "SMS_TRACKER_API_REVEAL_CONTENT does not match api.revealContent")
        advertised = f"$(SMS_TRACKER_INSTANCE_ID).{spec['serviceName']}.{sts['metadata'].get('namespace', 'default')}.svc:{port}"
        check(by_name.get("SMS_TRACKER_ADVERTISED_ADDRESS", {}).get("value") == advertised,
              f"SMS_TRACKER_ADVERTISED_ADDRESS is not {advertised} (the pod's name under the headless Service)")
        check(len(api_services) == 1 and [p["port"] for p in api_services[0]["spec"]["ports"]] == [port],
              f"expected one API Service on port {port}")
        check(any(p["name"] == "api" for h in headless for p in h["spec"]["ports"]), "the headless Service lacks the api port (each pod's own address)")
        check(len(ingresses) == (1 if api["ingress"]["enabled"] else 0), "Ingress presence does not match api.ingress.enabled")
        for ingress in ingresses:
            backends = [path["backend"]["service"] for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
            check(all(b["name"] == api_services[0]["metadata"]["name"] and b["port"].get("name") == "api" for b in backends if api_services),
                  "the Ingress does not route to the API Service's api port")
    else:
        check(not api_env and not api_services and not ingresses, f"the API is off but {sorted(api_env)} or its Service/Ingress are rendered")
    # Kubernetes expands $(NAME) only for variables defined earlier in the list.
    for index, e in enumerate(env):
        for ref in REFERENCE.findall(e.get("value", "")):
            check(ref in names[:index], f"{e['name']} references $({ref}), which is not defined before it")

    ports = {p["name"]: p for p in container.get("ports", [])}
    check(ports.get("http", {}).get("containerPort") == 8080, "container port 8080 is not named http")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
        get = container.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") == "http", f"{probe} is not GET {path} on port http")
    startup = container.get("startupProbe", {})
    check(startup.get("periodSeconds", 0) * startup.get("failureThreshold", 0) >= 120, "startupProbe allows less than 2 minutes")

    pod_security = pod.get("securityContext", {})
    security = container.get("securityContext", {})
    check(pod_security.get("runAsNonRoot") is True and pod_security.get("runAsUser") == 65532, "pod does not run as non-root uid 65532")
    check(pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccompProfile is not RuntimeDefault")
    check(security.get("readOnlyRootFilesystem") is True, "root filesystem is writable")
    check(security.get("allowPrivilegeEscalation") is False, "privilege escalation allowed")
    check(security.get("capabilities", {}).get("drop") == ["ALL"], "capabilities are not dropped")
    check(pod.get("automountServiceAccountToken") is False, "the service account token is mounted")
    check(pod.get("enableServiceLinks") is False, "service links inject SMS_TRACKER_* variables")
    resources = container.get("resources", {})
    check(bool(resources.get("requests", {}).get("cpu")) and bool(resources.get("limits", {}).get("memory")),
          "no cpu request or memory limit")
    spread_keys = [c["topologyKey"] for c in pod.get("topologySpreadConstraints", [])]
    if values["topologySpread"]["nodes"]["enabled"]:
        check("kubernetes.io/hostname" in spread_keys, "pods are not spread across nodes")

    pdbs = by_kind(docs, "PodDisruptionBudget")
    if values["podDisruptionBudget"]["enabled"]:
        check(len(pdbs) == 1 and pdbs[0]["spec"].get("maxUnavailable") == values["podDisruptionBudget"]["maxUnavailable"],
              "PodDisruptionBudget missing or wrong maxUnavailable")

    hpas, scaled = by_kind(docs, "HorizontalPodAutoscaler"), by_kind(docs, "ScaledObject")
    if autoscaling:
        mode = values["autoscaling"]["mode"]
        scalers = hpas if mode == "hpa" else scaled
        check(len(scalers) == 1 and len(hpas) + len(scaled) == 1, f"expected exactly one {mode} autoscaler")
        if scalers:
            s = scalers[0]["spec"]
            maximum = s.get("maxReplicas", s.get("maxReplicaCount"))
            check(maximum is not None and maximum <= partitions, f"autoscaler max {maximum} exceeds partitions {partitions}")
            check(s["scaleTargetRef"].get("kind") == "StatefulSet" and s["scaleTargetRef"]["name"] == sts["metadata"]["name"],
                  "the autoscaler does not target the StatefulSet")
            if mode == "keda":
                topics = sorted(t["metadata"].get("topic") for t in s["triggers"])
                inputs = [values["topics"]["sent"], values["topics"]["responses"]] + [topic] * bool(topic)
                check(topics == sorted(inputs), f"KEDA triggers cover {topics}, not the input topics {sorted(inputs)}")
                check(all(t["metadata"].get("consumerGroup") == values["applicationId"] for t in s["triggers"]),
                      "KEDA consumerGroup is not applicationId")
    else:
        check(not hpas and not scaled, "an autoscaler is rendered although autoscaling is disabled")

    monitors = by_kind(docs, "ServiceMonitor")
    check(len(monitors) == (1 if values["metrics"]["serviceMonitor"]["enabled"] else 0), "ServiceMonitor presence does not match the values")
    for monitor in monitors:
        wanted = monitor["spec"]["selector"]["matchLabels"]
        selected = [s for s in by_kind(docs, "Service") if wanted.items() <= s["metadata"].get("labels", {}).items()]
        check(len(selected) == 1, f"the ServiceMonitor selects {len(selected)} Services, expected the metrics Service only")
        for service in selected:
            port_names = {p["name"] for p in service["spec"]["ports"]}
            check(all(e["port"] in port_names for e in monitor["spec"]["endpoints"]), "a ServiceMonitor endpoint names a port the Service lacks")
    dashboards = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]
    check(len(dashboards) == (1 if values["metrics"]["dashboard"]["enabled"] else 0), "dashboard ConfigMap presence does not match the values")
    for cm in dashboards:
        key, value = values["metrics"]["dashboard"]["labelKey"], values["metrics"]["dashboard"]["labelValue"]
        check(cm["metadata"]["labels"].get(key) == value, f"dashboard ConfigMap lacks the label {key}={value}")
    rules = by_kind(docs, "PrometheusRule")
    check(len(rules) == (1 if values["metrics"]["prometheusRule"]["enabled"] else 0), "PrometheusRule presence does not match the values")

    for p in problems:
        print(f"ERROR {os.path.basename(args.manifest)}: {p}")
    if not problems:
        kinds = sorted({d["kind"] for d in docs})
        print(f"  {os.path.basename(args.manifest)}: workload agrees with its values ({', '.join(kinds)})")
    return 1 if problems else 0


def cmd_embedded(args):
    docs = load_documents(args.manifest)
    problems = []
    with open(args.dashboard) as f:
        dashboard = f.read()
    cms = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]
    if len(cms) != 1:
        problems.append(f"expected one dashboard ConfigMap, found {len(cms)}")
    else:
        embedded = cms[0]["data"].get(os.path.basename(args.dashboard))
        if embedded is None or embedded.strip() != dashboard.strip():
            problems.append(f"the dashboard ConfigMap does not hold {args.dashboard} unchanged")
    with open(args.rules) as f:
        source = yaml.safe_load(f)["groups"]
    rule_labels = json.loads(args.rule_labels)
    for group in source:
        for rule in group.get("rules", []):
            rule["labels"] = {**rule_labels, **rule.get("labels", {})}
    prs = by_kind(docs, "PrometheusRule")
    if len(prs) != 1:
        problems.append(f"expected one PrometheusRule, found {len(prs)}")
    elif prs[0]["spec"]["groups"] != source:
        problems.append(f"the PrometheusRule's groups differ from {args.rules}")
    for p in problems:
        print(f"ERROR {os.path.basename(args.manifest)}: {p}")
    if not problems:
        print(f"  {os.path.basename(args.manifest)}: ConfigMap = {args.dashboard}, PrometheusRule = groups of {args.rules}")
    return 1 if problems else 0


def cmd_run_env(args):
    docs = load_documents(args.manifest)
    sts = by_kind(docs, "StatefulSet")[0]
    container = tracker_container(sts)
    overrides = dict(item.split("=", 1) for item in args.set)
    replacements = [item.split("=", 1) for item in args.replace]
    resolved = {}
    for e in container.get("env", []):
        name = e["name"]
        if "value" in e:
            # The kubelet's expansion: $(NAME) of an earlier variable, $$ for a literal $.
            value = re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                           lambda m: "$" if m.group(0) == "$$" else resolved.get(m.group(1), m.group(0)), e["value"])
        elif "fieldRef" in e.get("valueFrom", {}):
            assert e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", e
            value = f"{sts['metadata']['name']}-0"
        elif "secretKeyRef" in e.get("valueFrom", {}):
            value = f"placeholder-{e['valueFrom']['secretKeyRef']['key']}"
        else:
            raise SystemExit(f"cannot resolve env {name}: {e}")
        for old, new in replacements:
            value = value.replace(old, new)
        resolved[name] = overrides.pop(name, value)
    resolved.update(overrides)
    for name, value in resolved.items():
        print(f"{name}={value}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("manifests")
    p.add_argument("--kube-version", required=True)
    p.add_argument("--crd-schemas", required=True)
    p.add_argument("files", nargs="+")
    p.set_defaults(run=cmd_manifests)
    p = sub.add_parser("env-names")
    p.add_argument("manifest")
    p.add_argument("config_rs")
    p.set_defaults(run=cmd_env_names)
    p = sub.add_parser("rules")
    p.add_argument("file")
    p.set_defaults(run=cmd_rules)
    p = sub.add_parser("dashboard")
    p.add_argument("file")
    p.set_defaults(run=cmd_dashboard)
    p = sub.add_parser("workload")
    p.add_argument("manifest")
    p.add_argument("values", nargs="+")
    p.set_defaults(run=cmd_workload)
    p = sub.add_parser("embedded")
    p.add_argument("manifest")
    p.add_argument("--dashboard", required=True)
    p.add_argument("--rules", required=True)
    p.add_argument("--rule-labels", default="{}")
    p.set_defaults(run=cmd_embedded)
    p = sub.add_parser("run-env")
    p.add_argument("manifest")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--replace", action="append", default=[])
    p.set_defaults(run=cmd_run_env)
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
