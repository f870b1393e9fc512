#!/usr/bin/env bash
# Offline checks of the Kubernetes deployment artefacts (helm/sms-tracker), with no cluster and no
# container engine: lint, render, validate every manifest against the Kubernetes schemas, check
# that the chart refuses what cannot work, and that the dashboard and alert rules have one source.
#
# Installs its tools on first use, pinned, under target/tools (idempotent):
#   helm        built from the Go module proxy (`go install`; needs Go >= 1.26)
#   Python venv kubernetes-validate and its dependencies (helm/checks/requirements.txt)
# Prints one "ok: ..." line per check; exits non-zero at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

HELM_VERSION=v3.22.0
# Helm's own default Kubernetes version is set at build time from its client-go (v0.37 for
# v3.22.0), as Helm's release Makefile does; without it `helm template` assumes v1.20.
HELM_KUBE_MINOR=37
KUBE_VERSION=1.30.0 # the Kubernetes version manifests are rendered for and validated against

TOOLS=$ROOT/target/tools
HELM=$TOOLS/bin/helm
VENV=$TOOLS/venv
PY=$VENV/bin/python
CHART=helm/sms-tracker
CHECKS=helm/checks
OUT=$ROOT/target/helm-check

ok() { printf 'ok: %s\n' "$*"; }
note() { printf 'note: %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
# Runs a command quietly; on failure shows its output and fails with the given description.
run() {
    local what=$1 log
    shift
    log=$(mktemp "$OUT/log.XXXXXX")
    if ! "$@" >"$log" 2>&1; then
        grep -v 'found symbolic link in path' "$log" >&2 || true
        fail "$what"
    fi
    rm -f "$log"
}

rm -rf "$OUT"
mkdir -p "$OUT" "$TOOLS/bin"

# --- tools --------------------------------------------------------------------------------------

if [[ -x $HELM && $("$HELM" version --template '{{.Version}}' 2>/dev/null) == "$HELM_VERSION" ]]; then
    ok "helm $HELM_VERSION (already built)"
else
    command -v go >/dev/null || fail "Go is needed to build helm $HELM_VERSION (go install from the module proxy)"
    echo "building helm $HELM_VERSION from the Go module proxy (once, ~2 min)..."
    pkg=helm.sh/helm/v3
    CGO_ENABLED=0 GOBIN=$TOOLS/bin go install -trimpath -ldflags "-s -w \
        -X $pkg/internal/version.version=$HELM_VERSION \
        -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$HELM_KUBE_MINOR \
        -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$HELM_KUBE_MINOR" \
        "$pkg/cmd/helm@$HELM_VERSION"
    [[ $("$HELM" version --template '{{.Version}}') == "$HELM_VERSION" ]] || fail "helm build did not report $HELM_VERSION"
    ok "helm $HELM_VERSION (built)"
fi

requirements=$CHECKS/requirements.txt
stamp=$VENV/.requirements
if [[ -x $PY ]] && cmp -s "$requirements" "$stamp"; then
    ok "python tools (already installed: $(grep -m1 '^kubernetes-validate==' "$requirements"))"
else
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        # Debian ships venv's ensurepip separately.
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
            apt-get install -y -q "python3.$(python3 -c 'import sys; print(sys.version_info.minor)')-venv" >/dev/null ||
                apt-get install -y -q python3-venv >/dev/null
            rm -rf "$VENV"
            python3 -m venv "$VENV"
        else
            fail "python3 -m venv does not work: install python3-venv"
        fi
    fi
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$stamp"
    ok "python tools (installed: $(grep -m1 '^kubernetes-validate==' "$requirements"))"
fi

# --- single sources: dashboard and alert rules -------------------------------------------------

# The chart's file must be the repository's file: a symlink resolving to it, or (should a
# packaging step ever replace the symlink) an identical copy.
check_single_source() {
    local in_chart=$1 source=$2
    [[ -f $source ]] || {
        echo "$source is missing"
        return 1
    }
    [[ -e $in_chart ]] || {
        echo "$in_chart is missing (it must be a symlink to $source)"
        return 1
    }
    if [[ -L $in_chart ]]; then
        [[ $(realpath "$in_chart") == $(realpath "$source") ]] || {
            echo "$in_chart links to $(realpath "$in_chart"), not $source"
            return 1
        }
    else
        cmp -s "$in_chart" "$source" || {
            echo "$in_chart is a copy that differs from $source"
            return 1
        }
    fi
}

# The check itself must catch a drifted copy.
mkdir -p "$OUT/selftest"
printf '{"title":"a","panels":[]}\n' >"$OUT/selftest/source.json"
cp "$OUT/selftest/source.json" "$OUT/selftest/copy.json"
ln -s source.json "$OUT/selftest/link.json"
check_single_source "$OUT/selftest/copy.json" "$OUT/selftest/source.json" >/dev/null || fail "single-source check rejects an identical copy"
check_single_source "$OUT/selftest/link.json" "$OUT/selftest/source.json" >/dev/null || fail "single-source check rejects a symlink"
printf '{"title":"b","panels":[]}\n' >"$OUT/selftest/copy.json"
if check_single_source "$OUT/selftest/copy.json" "$OUT/selftest/source.json" >/dev/null; then
    fail "single-source check accepts a copy that differs"
fi

for pair in "$CHART/dashboards/sms-tracker.json:dashboards/sms-tracker.json" "$CHART/dashboards/alerts.yaml:dashboards/alerts.yaml"; do
    problem=$(check_single_source "${pair%%:*}" "${pair#*:}") || fail "$problem"
done
# No second copy anywhere in the chart: no other dashboard JSON, no inline rules or panels.
strays=$(grep -rlE '"panels"[[:space:]]*:' "$CHART" --exclude-dir=dashboards || true)
[[ -z $strays ]] || fail "the chart holds dashboard JSON outside dashboards/sms-tracker.json: $strays"
strays=$(grep -rlE '^[[:space:]]*-?[[:space:]]*alert:' "$CHART" --exclude-dir=dashboards || true)
[[ -z $strays ]] || fail "the chart holds alert rules outside dashboards/alerts.yaml: $strays"
extra=$(find "$CHART/dashboards" -mindepth 1 ! -name sms-tracker.json ! -name alerts.yaml)
[[ -z $extra ]] || fail "unexpected files in $CHART/dashboards: $extra"
for file in sms-tracker.json alerts.yaml; do
    if [[ -L $CHART/dashboards/$file ]]; then how="symlink to"; else how="identical copy of"; fi
    ok "single source: $CHART/dashboards/$file is a $how dashboards/$file; no other copy in the chart"
done
run "dashboards/sms-tracker.json is not a valid Grafana dashboard" "$PY" $CHECKS/validate.py dashboard dashboards/sms-tracker.json
ok "dashboards/sms-tracker.json: valid dashboard JSON with a title and panels list"
run "dashboards/alerts.yaml is not a valid rules file" "$PY" $CHECKS/validate.py rules dashboards/alerts.yaml
ok "dashboards/alerts.yaml: every required alert present, each with severity, summary, description and runbook"

# --- lint ---------------------------------------------------------------------------------------

run "helm lint --strict (default values)" "$HELM" lint --strict "$CHART"
ok "helm lint --strict (default values)"
for values in "$CHART"/ci/*.yaml; do
    run "helm lint --strict -f $values" "$HELM" lint --strict "$CHART" -f "$values"
    ok "helm lint --strict -f $values"
done

# --- render and validate --------------------------------------------------------------------------

render() { # name, then helm template arguments
    local name=$1
    shift
    run "helm template ($name)" "$HELM" template sms-tracker "$CHART" --namespace messaging \
        --kube-version "$KUBE_VERSION" "$@" --output-dir "$OUT/render-$name"
    find "$OUT/render-$name" -name '*.yaml' -print0 | sort -z | xargs -0 cat >"$OUT/$name.yaml"
}
render default
render minimal -f "$CHART/ci/minimal-values.yaml"
render full -f "$CHART/ci/full-values.yaml"
render full-hpa -f "$CHART/ci/full-values.yaml" --set autoscaling.mode=hpa
# Receipt tracking is on by default; the variant with it off must render no delivery setting.
printf 'tracker:\n  deliveryReportsTopic: ""\n' >"$OUT/receipts-off-values.yaml"
render receipts-off -f "$CHART/ci/full-values.yaml" -f "$OUT/receipts-off-values.yaml"
# SASL_SSL as tests/security.rs runs the tracker: login from a Secret, CA certificate from another.
cat >"$OUT/sasl-ssl-values.yaml" <<'VALUES'
kafka:
  properties:
    security.protocol: SASL_SSL
    sasl.mechanism: SCRAM-SHA-512
  existingSecret:
    name: kafka-login
    usernameKey: sasl-username
    passwordKey: sasl-password
  caSecret:
    name: kafka-ca
    key: ca.crt
VALUES
render sasl-ssl -f "$OUT/sasl-ssl-values.yaml"
ok "helm template: default, minimal, full (KEDA), full with HPA, full with receipts off, SASL_SSL (Kubernetes $KUBE_VERSION)"

for name in default minimal full full-hpa receipts-off sasl-ssl; do
    run "manifests of $name do not validate" "$PY" $CHECKS/validate.py manifests \
        --kube-version "$KUBE_VERSION" --crd-schemas $CHECKS/crd-schemas "$OUT/$name.yaml"
    kinds=$(grep -h '^kind:' "$OUT/$name.yaml" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s%s×%s", sep, $2, $1; sep=", "}')
    ok "kubernetes-validate --strict, Kubernetes $KUBE_VERSION ($name): $kinds"
done
note "ServiceMonitor, PrometheusRule (monitoring.coreos.com/v1) and ScaledObject (keda.sh/v1alpha1) are not core kinds: validated against the structural schemas in $CHECKS/crd-schemas instead"

run "the workload does not match its values (default)" "$PY" $CHECKS/validate.py workload "$OUT/default.yaml" "$CHART/values.yaml"
run "the workload does not match its values (minimal)" "$PY" $CHECKS/validate.py workload "$OUT/minimal.yaml" "$CHART/values.yaml" "$CHART/ci/minimal-values.yaml"
run "the workload does not match its values (full)" "$PY" $CHECKS/validate.py workload "$OUT/full.yaml" "$CHART/values.yaml" "$CHART/ci/full-values.yaml"
printf 'autoscaling:\n  mode: hpa\n' >"$OUT/hpa-values.yaml"
run "the workload does not match its values (full-hpa)" "$PY" $CHECKS/validate.py workload "$OUT/full-hpa.yaml" "$CHART/values.yaml" "$CHART/ci/full-values.yaml" "$OUT/hpa-values.yaml"
run "the workload does not match its values (receipts-off)" "$PY" $CHECKS/validate.py workload "$OUT/receipts-off.yaml" "$CHART/values.yaml" "$CHART/ci/full-values.yaml" "$OUT/receipts-off-values.yaml"
ok "workloads agree with their values: grace period = shutdown timeout + 15, instance id = pod name, \$(VAR) order, SASL from secretKeyRef, lifecycle settings, receipt tracking (delivery variables only when on; KEDA trigger on the receipts topic), lookup API (listen port, token file from its Secret, Service, headless port, Ingress; nothing when off), probes, security, autoscaler ≤ partitions"
run "the embedded dashboard or rules differ from dashboards/" "$PY" $CHECKS/validate.py embedded "$OUT/full.yaml" \
    --dashboard dashboards/sms-tracker.json --rules dashboards/alerts.yaml --rule-labels '{"team": "messaging"}'
ok "rendered dashboard ConfigMap = dashboards/sms-tracker.json; PrometheusRule = groups of dashboards/alerts.yaml"
wiring=$("$PY" $CHECKS/security_wiring.py "$OUT/sasl-ssl.yaml" "$OUT/sasl-ssl-values.yaml" tests/security.rs 2>&1) ||
    fail "the chart's SASL_SSL settings differ from tests/security.rs: $wiring"
ok "SASL_SSL wiring = tests/security.rs: $wiring"
run "the chart sets SMS_TRACKER_* variables that src/config.rs does not read" "$PY" $CHECKS/validate.py env-names "$OUT/full.yaml" src/config.rs
ok "every SMS_TRACKER_* variable the chart sets is one src/config.rs reads"

# The packaged chart (what a registry serves) carries the symlinks' contents.
run "helm package" "$HELM" package "$CHART" --destination "$OUT/package"
mkdir -p "$OUT/unpacked"
tar -xmzf "$OUT"/package/sms-tracker-*.tgz -C "$OUT/unpacked"
for file in sms-tracker.json alerts.yaml; do
    cmp -s "$OUT/unpacked/sms-tracker/dashboards/$file" "dashboards/$file" ||
        fail "the packaged chart does not carry dashboards/$file unchanged"
done
ok "helm package: the .tgz carries dashboards/sms-tracker.json and alerts.yaml unchanged"

# NOTES.txt is not rendered by `helm template` and `helm install --dry-run` needs a cluster: render
# it through tpl in a scratch copy of the chart.
cp -rL "$CHART" "$OUT/notes-chart"
mkdir -p "$OUT/notes-chart/files"
cp "$CHART/templates/NOTES.txt" "$OUT/notes-chart/files/NOTES.txt"
printf 'notes: {{ tpl (.Files.Get "files/NOTES.txt") . | toJson }}\n' >"$OUT/notes-chart/templates/notes-check.yaml"
for name in minimal full; do
    "$HELM" template sms-tracker "$OUT/notes-chart" --kube-version "$KUBE_VERSION" -f "$CHART/ci/$name-values.yaml" \
        --show-only templates/notes-check.yaml >"$OUT/notes-$name.yaml" 2>"$OUT/notes-$name.err" || {
        grep -v 'found symbolic link in path' "$OUT/notes-$name.err" >&2
        fail "NOTES.txt does not render ($name)"
    }
done
grep -q 'application id: sms-tracker-eu1' "$OUT/notes-full.yaml" || fail "NOTES.txt does not show the applicationId"
grep -q 'receipts: *on, from gateway.delivery-reports' "$OUT/notes-full.yaml" || fail "NOTES.txt does not show the receipts topic"
ok "NOTES.txt renders (minimal, full)"

# --- refusals -------------------------------------------------------------------------------------

# helm template must fail, and its error must contain the text.
expect_refusal() {
    local what=$1 text=$2 log
    shift 2
    log=$OUT/refusal.log
    if "$HELM" template sms-tracker "$CHART" --kube-version "$KUBE_VERSION" "$@" >"$log" 2>&1; then
        fail "$what: helm template succeeded, expected a refusal containing: $text"
    fi
    if ! grep -qF -- "$text" "$log"; then
        grep -v 'found symbolic link in path' "$log" >&2 || true
        fail "$what: helm template failed without the expected message: $text"
    fi
    ok "refused: $what -> \"$(grep -F -m1 -o -- "$text" "$log")\""
}
expect_refusal "replicas > partitions" \
    "replicas (5) exceeds partitions (4): idle consumers are waste" \
    --set partitions=4 --set replicas=5
expect_refusal "autoscaling.maxReplicas > partitions (HPA)" \
    "autoscaling.maxReplicas (6) exceeds partitions (4): idle consumers are waste" \
    --set partitions=4 --set replicas=2 --set autoscaling.enabled=true --set autoscaling.maxReplicas=6
expect_refusal "autoscaling.maxReplicas > partitions (KEDA)" \
    "autoscaling.maxReplicas (16) exceeds partitions (12): idle consumers are waste" \
    -f "$CHART/ci/full-values.yaml" --set autoscaling.maxReplicas=16
printf 'replicaCount: 3\n' >"$OUT/typo.yaml"
expect_refusal "schema: misspelt key replicaCount" "additional properties 'replicaCount' not allowed" -f "$OUT/typo.yaml"
printf 'kafka:\n  bootstrapServer: kafka:9092\n' >"$OUT/typo-nested.yaml"
expect_refusal "schema: misspelt nested key kafka.bootstrapServer" "additional properties 'bootstrapServer' not allowed" -f "$OUT/typo-nested.yaml"
printf 'partitions: "eight"\n' >"$OUT/wrong-type.yaml"
expect_refusal "schema: partitions: \"eight\"" "at '/partitions': got string, want integer" -f "$OUT/wrong-type.yaml"
printf 'partitions: 0\n' >"$OUT/zero.yaml"
expect_refusal "schema: partitions: 0" "at '/partitions': minimum" -f "$OUT/zero.yaml"
printf 'tracker:\n  retryableCommandStatuses: [0x58]\n' >"$OUT/unquoted-status.yaml"
expect_refusal "schema: an unquoted command status (a YAML number)" "at '/tracker/retryableCommandStatuses/0': got number, want string" -f "$OUT/unquoted-status.yaml"
expect_refusal "schema: tracker.deliveryReceiptParts: middle" "at '/tracker/deliveryReceiptParts': value must be one of 'all', 'first', 'last'" \
    --set tracker.deliveryReceiptParts=middle
expect_refusal "schema: an unknown delivery id format" "at '/tracker/deliveryIdFormats/supplier-a': value must be one of 'same', 'hex-in-response', 'hex-in-report'" \
    --set tracker.deliveryIdFormats.supplier-a=hex
expect_refusal "schema: tracker.deliveryTimeoutSeconds: 0" "at '/tracker/deliveryTimeoutSeconds': minimum" --set tracker.deliveryTimeoutSeconds=0
printf 'tracker:\n  deliveryReportTopic: dlr\n' >"$OUT/typo-receipts.yaml"
expect_refusal "schema: misspelt key tracker.deliveryReportTopic" "additional properties 'deliveryReportTopic' not allowed" -f "$OUT/typo-receipts.yaml"
printf 'tracker:\n  deliveryIdFormats:\n    "supplier-a,supplier-b": same\n' >"$OUT/comma-supplier.yaml"
expect_refusal "a delivery id format for a supplier name with a comma" 'supplier "supplier-a,supplier-b" contains a comma' -f "$OUT/comma-supplier.yaml"
expect_refusal "the receipts topic is another input or output topic" "tracker.deliveryReportsTopic (submit-responses) is also one of topics.*" \
    --set tracker.deliveryReportsTopic=submit-responses
expect_refusal "a kafka property value with a comma" "contains a comma" --set-string 'kafka.properties.debug=broker\,topic'
expect_refusal "a kafka property the chart owns" "kafka.properties.bootstrap.servers cannot be set: set kafka.bootstrapServers" \
    --set-string 'kafka.properties.bootstrap\.servers=other:9092'
expect_refusal "the lookup API without a token Secret" "api.enabled needs api.tokenSecret.name" --set api.enabled=true
expect_refusal "the lookup API on the metrics port" "at '/api/port'" --set api.enabled=true --set api.tokenSecret.name=t --set api.port=8080
expect_refusal "an Ingress without the API" "api.ingress.enabled needs api.enabled" --set api.ingress.enabled=true --set api.ingress.host=x.example.com
expect_refusal "an Ingress without a host" "api.ingress.enabled needs api.ingress.host" --set api.enabled=true --set api.tokenSecret.name=t --set api.ingress.enabled=true
expect_refusal "sasl.username next to kafka.existingSecret" "cannot be set together with kafka.existingSecret" \
    --set kafka.existingSecret.name=creds --set-string 'kafka.properties.sasl\.username=me'

# --- the real binary accepts the rendered configuration --------------------------------------------

binary=""
for candidate in target/release/sms-tracker target/debug/sms-tracker; do
    if [[ -x $candidate ]]; then
        binary=$candidate
        break
    fi
done
if [[ -z $binary ]]; then
    note "skipped running the tracker with the rendered environment: no target/{release,debug}/sms-tracker built yet"
else
    # A throwaway CA so that ssl.ca.location points at a readable certificate.
    mkdir -p "$OUT/kafka-ca"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=helm-check-ca \
        -keyout "$OUT/kafka-ca/ca.key" -out "$OUT/kafka-ca/ca.crt" >/dev/null 2>&1 ||
        fail "openssl could not make a test CA certificate"
    mkdir -p "$OUT/api-token"
    printf 'helm-check-token\n' >"$OUT/api-token/token"
    for name in minimal full receipts-off; do
        mapfile -t environment < <("$PY" $CHECKS/validate.py run-env "$OUT/$name.yaml" \
            --replace "/etc/sms-tracker/kafka-ca=$OUT/kafka-ca" --replace "/etc/sms-tracker/api-token=$OUT/api-token" \
            --set SMS_TRACKER_BOOTSTRAP_SERVERS=127.0.0.1:9 --set SMS_TRACKER_HTTP_LISTEN=127.0.0.1:0 \
            --set SMS_TRACKER_API_LISTEN=127.0.0.1:0)
        ((${#environment[@]} > 10)) || fail "could not derive the container environment from $name"
        # Nothing listens on 127.0.0.1:9: a tracker that accepted its configuration keeps waiting
        # for the broker until the timeout; a rejected flag (clap, exit 2) or librdkafka property
        # ("Client config error", "Client creation error") shows at once.
        status=0
        env -i PATH="$PATH" "${environment[@]}" timeout 4 "$binary" >"$OUT/run-$name.log" 2>&1 || status=$?
        if [[ $status == 2 ]] || grep -qE 'Client (config|creation) error|^error:' "$OUT/run-$name.log"; then
            cat "$OUT/run-$name.log" >&2
            fail "$binary rejects the configuration rendered from $name values (exit $status)"
        fi
        ok "$binary accepts the environment rendered from $name values (flags and librdkafka properties)"
    done
    # The acceptance above means something only if the binary reads the receipt variables: an
    # unknown environment variable is ignored, so a binary built before receipt tracking would
    # pass. A bad value must be refused (clap, exit 2).
    status=0
    env -i PATH="$PATH" "${environment[@]}" SMS_TRACKER_DELIVERY_REPORTS_TOPIC=delivery-reports \
        SMS_TRACKER_DELIVERY_RECEIPT_PARTS=middle timeout 4 "$binary" >"$OUT/run-bad-receipt-parts.log" 2>&1 || status=$?
    if [[ $status != 2 ]] || ! grep -q 'expected all, first or last' "$OUT/run-bad-receipt-parts.log"; then
        cat "$OUT/run-bad-receipt-parts.log" >&2
        fail "$binary accepts SMS_TRACKER_DELIVERY_RECEIPT_PARTS=middle (exit $status): is it older than receipt tracking? rebuild it"
    fi
    ok "$binary refuses SMS_TRACKER_DELIVERY_RECEIPT_PARTS=middle: it reads the receipt variables the chart renders"
    # The same for the lookup API's variables.
    status=0
    env -i PATH="$PATH" "${environment[@]}" SMS_TRACKER_API_LISTEN=nowhere timeout 4 "$binary" >"$OUT/run-bad-api-listen.log" 2>&1 || status=$?
    if [[ $status != 2 ]] || ! grep -q 'api-listen' "$OUT/run-bad-api-listen.log"; then
        cat "$OUT/run-bad-api-listen.log" >&2
        fail "$binary accepts SMS_TRACKER_API_LISTEN=nowhere (exit $status): is it older than the lookup API? rebuild it"
    fi
    ok "$binary refuses SMS_TRACKER_API_LISTEN=nowhere: it reads the API variables the chart renders"
fi

echo "helm-check: all checks passed"
