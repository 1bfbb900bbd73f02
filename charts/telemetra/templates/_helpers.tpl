{{/* Names ------------------------------------------------------------------------------------------- */}}

{{- define "telemetra.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified prefix of every object name; the release name alone when it already contains the
chart name (`helm install telemetra charts/telemetra` gives telemetra-api, not telemetra-telemetra-api). */}}
{{- define "telemetra.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "telemetra.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels: telemetra.labels (dict "ctx" $ "component" "api") on metadata, telemetra.selectorLabels on
selectors and pod templates. app.kubernetes.io/part-of marks every Telemetra pod; NetworkPolicies use it. */}}
{{- define "telemetra.selectorLabels" -}}
app.kubernetes.io/name: {{ include "telemetra.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "telemetra.labels" -}}
{{ include "telemetra.selectorLabels" . }}
app.kubernetes.io/part-of: telemetra
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "telemetra.chart" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Images --------------------------------------------------------------------------------------------- */}}

{{/* REGISTRY/NAME:TAG of a Telemetra image: (dict "ctx" $ "image" .Values.api), for a component with
imageName and imageTag; the tag falls back to image.tag, then to the chart's appVersion. */}}
{{- define "telemetra.image" -}}
{{- $tag := .image.imageTag | default .ctx.Values.image.tag | default .ctx.Chart.AppVersion -}}
{{- if .ctx.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .ctx.Values.image.registry) .image.imageName $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.imageName $tag -}}
{{- end -}}
{{- end -}}

{{- define "telemetra.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Backends: which Secret and key hold each URL --------------------------------------------------------- */}}

{{- define "telemetra.postgresql.name" -}}
{{- printf "%s-postgresql" (include "telemetra.fullname" .) -}}
{{- end -}}

{{- define "telemetra.redis.name" -}}
{{- printf "%s-redis" (include "telemetra.fullname" .) -}}
{{- end -}}

{{/* Secret holding TELEMETRA_STORE_URL, and its key. */}}
{{- define "telemetra.store.secretName" -}}
{{- if not .Values.postgresql.enabled -}}
{{- .Values.externalDatabase.existingSecret -}}
{{- else if eq .Values.postgresql.mode "cnpg" -}}
{{- printf "%s-app" (include "telemetra.postgresql.name" .) -}}
{{- else -}}
{{- default (include "telemetra.postgresql.name" .) .Values.postgresql.auth.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "telemetra.store.secretKey" -}}
{{- if not .Values.postgresql.enabled -}}
{{- .Values.externalDatabase.urlKey -}}
{{- else if eq .Values.postgresql.mode "cnpg" -}}
uri
{{- else -}}
url
{{- end -}}
{{- end -}}

{{/* Secret holding TELEMETRA_CACHE_URL, and its key. */}}
{{- define "telemetra.cache.secretName" -}}
{{- if not .Values.redis.enabled -}}
{{- .Values.externalRedis.existingSecret -}}
{{- else -}}
{{- default (include "telemetra.redis.name" .) .Values.redis.auth.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "telemetra.cache.secretKey" -}}
{{- if .Values.redis.enabled -}}
url
{{- else -}}
{{- .Values.externalRedis.urlKey -}}
{{- end -}}
{{- end -}}

{{/* A generated password that survives upgrades: the value already stored in the Secret when it exists
(lookup), a new random one otherwise. (dict "ctx" $ "secret" NAME "key" KEY) */}}
{{- define "telemetra.persistentPassword" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $existing (index ($existing.data | default dict) .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}

{{/* Kafka ---------------------------------------------------------------------------------------------- */}}

{{- define "telemetra.kafka.name" -}}
{{- if .Values.kafka.enabled -}}
{{- default (printf "%s-kafka" (include "telemetra.fullname" .)) .Values.kafka.name -}}
{{- else -}}
{{- .Values.externalKafka.clusterName -}}
{{- end -}}
{{- end -}}

{{- define "telemetra.kafka.namespace" -}}
{{- if .Values.kafka.enabled -}}
{{- .Release.Namespace -}}
{{- else -}}
{{- default .Release.Namespace .Values.externalKafka.namespace -}}
{{- end -}}
{{- end -}}

{{/* Strimzi's name for the bootstrap Service, which the statefulset mode gives its own too; the TLS listener's
port with kafka.security.tls. */}}
{{- define "telemetra.kafka.bootstrap" -}}
{{- if .Values.kafka.enabled -}}
{{- printf "%s-kafka-bootstrap.%s.svc:%d" (include "telemetra.kafka.name" .) .Release.Namespace (ternary 9093 9092 .Values.kafka.security.tls) -}}
{{- else -}}
{{- .Values.externalKafka.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{/* How clients connect to the in-release Kafka (kafka.security): PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL,
Kafka's security.protocol (TELEMETRA_OPERATOR_KAFKA_SECURITY_PROTOCOL). */}}
{{- define "telemetra.kafka.securityProtocol" -}}
{{- $security := .Values.kafka.security -}}
{{- $sasl := and .Values.kafka.enabled (ne $security.authentication "none") -}}
{{- $tls := and .Values.kafka.enabled $security.tls -}}
{{- printf "%s%s" (ternary "SASL_" "" $sasl) (ternary "SSL" "PLAINTEXT" $tls) -}}
{{- end -}}

{{/* The KafkaUser of a client (strimzi mode, SCRAM), which is also its SCRAM username and the name of the Secret
holding its password: (dict "ctx" $ "role" "producer"). */}}
{{- define "telemetra.kafka.user" -}}
{{- printf "%s-%s" (include "telemetra.fullname" .ctx) .role -}}
{{- end -}}

{{/* How the operator manages each stream's topics (TELEMETRA_OPERATOR_TOPICS): strimzi (KafkaTopics) for the
in-release Strimzi cluster or an external one named by externalKafka.clusterName; admin (the Kafka Admin API)
for the statefulset mode and for any other external Kafka. */}}
{{- define "telemetra.kafka.topics" -}}
{{- if .Values.kafka.enabled -}}
{{- ternary "admin" "strimzi" (eq .Values.kafka.mode "statefulset") -}}
{{- else -}}
{{- ternary "strimzi" "admin" (ne .Values.externalKafka.clusterName "") -}}
{{- end -}}
{{- end -}}

{{/* The broker configuration of both modes, as JSON (fromJson it): kafka.config over the chart's replication
settings, which follow kafka.replicas. */}}
{{- define "telemetra.kafka.config" -}}
{{- $rf := min 3 (int .Values.kafka.replicas) -}}
{{- $isr := max 1 (sub $rf 1) -}}
{{- $config := dict
  "auto.create.topics.enable" false
  "offsets.topic.replication.factor" $rf
  "transaction.state.log.replication.factor" $rf
  "transaction.state.log.min.isr" $isr
  "default.replication.factor" $rf
  "min.insync.replicas" $isr
-}}
{{- toJson (merge (deepCopy .Values.kafka.config) $config) -}}
{{- end -}}

{{/* The telemetra-kafka image (statefulset mode): kafka.image, or REGISTRY/telemetra-kafka:TAG like the other
Telemetra images. */}}
{{- define "telemetra.kafka.image" -}}
{{- .Values.kafka.image | default (include "telemetra.image" (dict "ctx" . "image" (dict "imageName" "telemetra-kafka" "imageTag" ""))) -}}
{{- end -}}

{{/* The KRaft cluster id (statefulset mode): 22 characters of base64url (16 bytes), derived from the namespace
and the cluster's name, so it survives upgrades and a reinstall next to the retained volumes. */}}
{{- define "telemetra.kafka.clusterId" -}}
{{- printf "%s/%s" .Release.Namespace (include "telemetra.kafka.name" .) | sha256sum | trunc 16 | b64enc | replace "+" "-" | replace "/" "_" | trimSuffix "==" -}}
{{- end -}}

{{/* Identities ----------------------------------------------------------------------------------------- */}}

{{- define "telemetra.spark.serviceAccountName" -}}
{{- default (printf "%s-spark" (include "telemetra.fullname" .)) .Values.spark.serviceAccount.name -}}
{{- end -}}

{{- define "telemetra.spark.checkpointClaim" -}}
{{- printf "%s-checkpoints" (include "telemetra.fullname" .) -}}
{{- end -}}

{{/* Pod scaffolding ------------------------------------------------------------------------------------ */}}

{{/* The writable scratch space every read-only-root container gets at /tmp. */}}
{{- define "telemetra.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{/* What TelemetraStreams may run -------------------------------------------------------------------------- */}}

{{/* The registries a stream's spark.image may come from, as a JSON list (the operator's
TELEMETRA_OPERATOR_ALLOWED_REGISTRIES and the admission policy's list): operator.allowedImageRegistries, else
image.registry, else the Spark image's repository (the operator's own default for its Spark image). */}}
{{- define "telemetra.allowedImageRegistries" -}}
{{- $allowed := list -}}
{{- range .Values.operator.allowedImageRegistries -}}
{{- $allowed = append $allowed (trimSuffix "/" .) -}}
{{- end -}}
{{- if not $allowed -}}
{{- $allowed = list (.Values.image.registry | trimSuffix "/" | default .Values.spark.imageName) -}}
{{- end -}}
{{- toJson $allowed -}}
{{- end -}}

{{/* NetworkPolicies -------------------------------------------------------------------------------------- */}}

{{/* Labels of the PostgreSQL pods: the chart's StatefulSet, or the instances of the CloudNativePG Cluster. */}}
{{- define "telemetra.postgresql.podLabels" -}}
{{- if eq .Values.postgresql.mode "cnpg" -}}
cnpg.io/cluster: {{ include "telemetra.postgresql.name" . }}
{{- else -}}
{{- include "telemetra.selectorLabels" (dict "ctx" . "component" "postgresql") -}}
{{- end -}}
{{- end -}}

{{/* A peer (list item) of the Telemetra pods of some components in the release namespace: the chart's pods and
the operator's (producer; processor: Spark drivers and executors), which have no instance label.
(list "api" "processor") */}}
{{- define "telemetra.networkPolicy.components" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/part-of: telemetra
    matchExpressions:
      - key: app.kubernetes.io/component
        operator: In
        values: [{{ join ", " . }}]
{{- end -}}

{{/* An egress rule as JSON: (dict "to" PEERS "ports" PORTS), TCP ports; no `to` (any address) when PEERS is
empty. */}}
{{- define "telemetra.networkPolicy.rule" -}}
{{- $ports := list -}}
{{- range .ports -}}
{{- $ports = append $ports (dict "port" (int .) "protocol" "TCP") -}}
{{- end -}}
{{- $rule := dict "ports" $ports -}}
{{- with .to -}}
{{- $_ := set $rule "to" . -}}
{{- end -}}
{{- toJson $rule -}}
{{- end -}}

{{/* Egress destinations, each an egress rule as JSON ("{}": none). */}}

{{/* The API server, which no selector can name: networkPolicy.kubeApiServer's addresses and ports. */}}
{{- define "telemetra.networkPolicy.to.kubeApiServer" -}}
{{- $api := .Values.networkPolicy.kubeApiServer -}}
{{- $to := list -}}
{{- range $api.cidrs -}}
{{- $to = append $to (dict "ipBlock" (dict "cidr" .)) -}}
{{- end -}}
{{- include "telemetra.networkPolicy.rule" (dict "to" $to "ports" $api.ports) -}}
{{- end -}}

{{/* Kafka's brokers, on the ports of the bootstrap address: the release's Kafka pods, networkPolicy.externalKafka.to,
or else the brokers of the external Strimzi cluster (in any namespace: its Topic Operator may watch another). */}}
{{- define "telemetra.networkPolicy.to.kafka" -}}
{{- $ports := list -}}
{{- range splitList "," (include "telemetra.kafka.bootstrap" .) -}}
{{- $ports = append $ports (regexFind "[0-9]+$" .) -}}
{{- end -}}
{{- $name := include "telemetra.kafka.name" . -}}
{{- $brokers := dict "podSelector" (dict "matchLabels" (dict "strimzi.io/cluster" $name "strimzi.io/broker-role" "true")) -}}
{{- $to := .Values.networkPolicy.externalKafka.to -}}
{{- if and .Values.kafka.enabled (eq .Values.kafka.mode "statefulset") -}}
{{- $labels := include "telemetra.selectorLabels" (dict "ctx" . "component" "kafka") | fromYaml -}}
{{- $to = list (dict "podSelector" (dict "matchLabels" $labels)) -}}
{{- else if .Values.kafka.enabled -}}
{{- $to = list $brokers -}}
{{- else if and (not $to) $name -}}
{{- $to = list (set $brokers "namespaceSelector" dict) -}}
{{- end -}}
{{- include "telemetra.networkPolicy.rule" (dict "to" $to "ports" (uniq $ports)) -}}
{{- end -}}

{{/* The Spark drivers' metrics port (the operator reads a pool's events/s and lag there). */}}
{{- define "telemetra.networkPolicy.to.sparkDriverMetrics" -}}
{{- $labels := dict "app.kubernetes.io/part-of" "telemetra" "app.kubernetes.io/component" "processor" "telemetra.io/spark-role" "driver" -}}
{{- include "telemetra.networkPolicy.rule" (dict "to" (list (dict "podSelector" (dict "matchLabels" $labels))) "ports" (list 9108)) -}}
{{- end -}}

{{- define "telemetra.networkPolicy.to.postgresql" -}}
{{- if .Values.postgresql.enabled -}}
{{- $pods := dict "podSelector" (dict "matchLabels" (include "telemetra.postgresql.podLabels" . | fromYaml)) -}}
{{- include "telemetra.networkPolicy.rule" (dict "to" (list $pods) "ports" (list 5432)) -}}
{{- else -}}
{{- include "telemetra.networkPolicy.rule" .Values.networkPolicy.externalDatabase -}}
{{- end -}}
{{- end -}}

{{- define "telemetra.networkPolicy.to.redis" -}}
{{- if .Values.redis.enabled -}}
{{- $labels := include "telemetra.selectorLabels" (dict "ctx" . "component" "redis") | fromYaml -}}
{{- $pods := dict "podSelector" (dict "matchLabels" $labels) -}}
{{- include "telemetra.networkPolicy.rule" (dict "to" (list $pods) "ports" (list 6379)) -}}
{{- else -}}
{{- include "telemetra.networkPolicy.rule" .Values.networkPolicy.externalRedis -}}
{{- end -}}
{{- end -}}

{{/* The OTLP collector of api.otelEndpoint, on the URL's port. */}}
{{- define "telemetra.networkPolicy.to.otelCollector" -}}
{{- with .Values.api.otelEndpoint -}}
{{- $url := urlParse . -}}
{{- $port := regexFind ":[0-9]+$" $url.host | trimPrefix ":" -}}
{{- $port = $port | default (ternary "443" "80" (eq $url.scheme "https")) -}}
{{- include "telemetra.networkPolicy.rule" (dict "to" $.Values.networkPolicy.otelCollector.to "ports" (list $port)) -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/* The internet, for the producers' Twitch and replay-URL sources. */}}
{{- define "telemetra.networkPolicy.to.internet" -}}
{{- with .Values.networkPolicy.producerInternet -}}
{{- if .ports -}}
{{- include "telemetra.networkPolicy.rule" . -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The alert destinations (webhooks, Discord, Slack) the dispatcher sends to: alerts.egress. */}}
{{- define "telemetra.networkPolicy.to.alertWebhooks" -}}
{{- with .Values.alerts.egress -}}
{{- if .ports -}}
{{- include "telemetra.networkPolicy.rule" . -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The egress rules of a component, as a YAML list: DNS, then the named destinations above, then
networkPolicy.extraEgress.<component>. (dict "ctx" $ "component" "api" "to" (list "postgresql" "redis")) */}}
{{- define "telemetra.networkPolicy.egress" -}}
{{- $np := .ctx.Values.networkPolicy -}}
{{- $dns := list (dict "port" 53 "protocol" "UDP") (dict "port" 53 "protocol" "TCP") -}}
{{- $rules := list (dict "to" $np.dns.to "ports" $dns) -}}
{{- range .to -}}
{{- $rule := include (printf "telemetra.networkPolicy.to.%s" .) $.ctx | fromJson -}}
{{- if $rule -}}
{{- $rules = append $rules $rule -}}
{{- end -}}
{{- end -}}
{{- toYaml (concat $rules (index $np.extraEgress .component)) -}}
{{- end -}}
