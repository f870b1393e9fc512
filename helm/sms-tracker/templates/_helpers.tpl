{{/*
Names and labels.
*/}}
{{- define "sms-tracker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name. StatefulSet pod names are <fullname>-<ordinal> and become the tracker's
instance id, so keep it short (pod names ≤ 63 characters for the hostname).
*/}}
{{- define "sms-tracker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sms-tracker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sms-tracker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sms-tracker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sms-tracker.labels" -}}
helm.sh/chart: {{ include "sms-tracker.chart" . }}
{{ include "sms-tracker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sms-tracker
{{- end }}

{{- define "sms-tracker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sms-tracker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sms-tracker.headlessServiceName" -}}
{{- printf "%s-headless" (include "sms-tracker.fullname" .) }}
{{- end }}

{{- define "sms-tracker.metricsServiceName" -}}
{{- printf "%s-metrics" (include "sms-tracker.fullname" .) }}
{{- end }}

{{- define "sms-tracker.apiServiceName" -}}
{{- printf "%s-api" (include "sms-tracker.fullname" .) }}
{{- end }}

{{- define "sms-tracker.apiTokenMountPath" -}}
/etc/sms-tracker/api-token
{{- end }}

{{- define "sms-tracker.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The autoscaler's upper bound: autoscaling.maxReplicas, defaulting to the partition count.
*/}}
{{- define "sms-tracker.maxReplicas" -}}
{{- if kindIs "invalid" .Values.autoscaling.maxReplicas }}
{{- int .Values.partitions }}
{{- else }}
{{- int .Values.autoscaling.maxReplicas }}
{{- end }}
{{- end }}

{{/*
Refuses configurations that cannot work, with a message saying what to do. Included by the
StatefulSet template, so every render runs it.
*/}}
{{- define "sms-tracker.validate" -}}
{{- $partitions := int .Values.partitions }}
{{- if lt $partitions 1 }}
{{- fail (printf "partitions (%d) must be at least 1: set it to the input topics' partition count" $partitions) }}
{{- end }}
{{- $replicas := int .Values.replicas }}
{{- if gt $replicas $partitions }}
{{- fail (printf "replicas (%d) exceeds partitions (%d): idle consumers are waste; each input partition is processed by exactly one instance, so at most %d instances get work. Lower replicas to at most %d, or first add partitions to both input topics (%s, %s) and set partitions to the new count." $replicas $partitions $partitions $partitions .Values.topics.sent .Values.topics.responses) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- $max := int (include "sms-tracker.maxReplicas" .) }}
{{- $min := int .Values.autoscaling.minReplicas }}
{{- if gt $max $partitions }}
{{- fail (printf "autoscaling.maxReplicas (%d) exceeds partitions (%d): idle consumers are waste; the autoscaler must not add instances that get no partition. Lower autoscaling.maxReplicas to at most %d (or leave it unset: it defaults to partitions)." $max $partitions $partitions) }}
{{- end }}
{{- if gt $min $max }}
{{- fail (printf "autoscaling.minReplicas (%d) exceeds autoscaling.maxReplicas (%d)" $min $max) }}
{{- end }}
{{- end }}
{{- if eq .Values.applicationId "" }}
{{- fail "applicationId must not be empty: it is the consumer group id" }}
{{- end }}
{{- if eq .Values.kafka.bootstrapServers "" }}
{{- fail "kafka.bootstrapServers must not be empty" }}
{{- end }}
{{- with .Values.tracker.deliveryReportsTopic }}
{{- $topics := $.Values.topics }}
{{- if has . (list $topics.sent $topics.responses $topics.status $topics.deadLetter) }}
{{- fail (printf "tracker.deliveryReportsTopic (%s) is also one of topics.*: receipts need a topic of their own (the gateway's delivery reports), or \"\" to turn receipt tracking off" .) }}
{{- end }}
{{- end }}
{{- if .Values.api.enabled }}
{{- if eq .Values.api.tokenSecret.name "" }}
{{- fail "api.enabled needs api.tokenSecret.name: the lookup API answers with message state and personal data, so every request must carry a bearer token (a Secret with the token under api.tokenSecret.key)" }}
{{- end }}
{{- if eq (int .Values.api.port) 8080 }}
{{- fail "api.port must not be 8080: that port serves /metrics and the probes, which must stay apart from the API" }}
{{- end }}
{{- end }}
{{- if .Values.api.ingress.enabled }}
{{- if not .Values.api.enabled }}
{{- fail "api.ingress.enabled needs api.enabled" }}
{{- end }}
{{- if eq .Values.api.ingress.host "" }}
{{- fail "api.ingress.enabled needs api.ingress.host" }}
{{- end }}
{{- end }}
{{- $reserved := list "RUST_LOG" }}
{{- range .Values.tracker.extraEnv }}
{{- if or (hasPrefix "SMS_TRACKER_" .name) (has .name $reserved) }}
{{- fail (printf "tracker.extraEnv: %s is set by the chart; use the chart's value for it instead" .name) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The pass-through librdkafka properties as one comma-separated `key=value` list, for
SMS_TRACKER_KAFKA_PROPERTIES: the user's `kafka.properties` (sorted by key), then the property
the chart derives from the CA Secret. Refuses keys the chart or the tracker owns and values with a
comma (the list separator). The SASL credentials of `kafka.existingSecret` are not in this list:
they go to SMS_TRACKER_SASL_USERNAME/PASSWORD straight from the Secret.
*/}}
{{- define "sms-tracker.kafkaProperties" -}}
{{- $owned := dict
  "bootstrap.servers" "kafka.bootstrapServers"
  "group.id" "applicationId"
  "group.instance.id" "kafka.staticMembership (the instance id is the pod name)"
  "transactional.id" "nothing: the tracker derives it from applicationId and the pod name"
  "client.id" "nothing: the tracker sets <applicationId>-<pod name>"
-}}
{{- $props := list }}
{{- range $key, $value := .Values.kafka.properties }}
{{- if hasKey $owned $key }}
{{- fail (printf "kafka.properties.%s cannot be set: set %s" $key (get $owned $key)) }}
{{- end }}
{{- $text := toString $value }}
{{- if kindIs "float64" $value }}
{{- $text = toString (int64 $value) }}
{{- end }}
{{- if contains "," $text }}
{{- fail (printf "kafka.properties.%s: the value %q contains a comma, which SMS_TRACKER_KAFKA_PROPERTIES uses as its separator" $key $text) }}
{{- end }}
{{- $props = append $props (printf "%s=%s" $key $text) }}
{{- end }}
{{- if .Values.kafka.existingSecret.name }}
{{- range list "sasl.username" "sasl.password" }}
{{- if hasKey $.Values.kafka.properties . }}
{{- fail (printf "kafka.properties.%s cannot be set together with kafka.existingSecret: the chart takes it from the Secret (SMS_TRACKER_SASL_USERNAME/PASSWORD)" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.kafka.caSecret.name }}
{{- if hasKey .Values.kafka.properties "ssl.ca.location" }}
{{- fail "kafka.properties.ssl.ca.location cannot be set together with kafka.caSecret: the chart points it at the mounted certificate" }}
{{- end }}
{{- $props = append $props (printf "ssl.ca.location=%s/%s" (include "sms-tracker.caMountPath" .) .Values.kafka.caSecret.key) }}
{{- end }}
{{- join "," $props }}
{{- end }}

{{- define "sms-tracker.caMountPath" -}}
/etc/sms-tracker/kafka-ca
{{- end }}

{{/*
tracker.deliveryIdFormats as SMS_TRACKER_DELIVERY_ID_FORMATS: `SUPPLIER=FORMAT` items sorted by
supplier, comma-separated (a supplier name with a comma is refused here). The tracker splits an
item at its last `=`, so a supplier name may contain `=` and may be empty.
*/}}
{{- define "sms-tracker.deliveryIdFormats" -}}
{{- $items := list }}
{{- range $supplier, $format := .Values.tracker.deliveryIdFormats }}
{{- if contains "," $supplier }}
{{- fail (printf "tracker.deliveryIdFormats: supplier %q contains a comma, the separator of SMS_TRACKER_DELIVERY_ID_FORMATS" $supplier) }}
{{- end }}
{{- $items = append $items (printf "%s=%s" $supplier $format) }}
{{- end }}
{{- join "," $items }}
{{- end }}
