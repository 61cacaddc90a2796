{{/* Names ----------------------------------------------------------------------------- */}}

{{- define "battery-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "battery-hub.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<component>", kept within the 63 characters of a DNS label. */}}
{{- define "battery-hub.componentName" -}}
{{- printf "%s-%s" (include "battery-hub.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-") .component }}
{{- end }}

{{- define "battery-hub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "battery-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "battery-hub.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "battery-hub.secretName" -}}
{{- default (include "battery-hub.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Labels: call with (dict "root" $ "component" "webhook-gateway") -------------------- */}}

{{- define "battery-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "battery-hub.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "battery-hub.labels" -}}
helm.sh/chart: {{ include "battery-hub.chart" .root }}
{{ include "battery-hub.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: battery-hub
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* The release's pods, whatever their component (network policies). */}}
{{- define "battery-hub.releaseSelector" -}}
app.kubernetes.io/name: {{ include "battery-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Images: call with (dict "root" $ "repository" "query-api") ------------------------ */}}

{{- define "battery-hub.image" -}}
{{- $image := .root.Values.image }}
{{- $repository := printf "%s/%s" (trimSuffix "/" $image.registry) .repository | trimPrefix "/" }}
{{- if $image.digest }}
{{- printf "%s@%s" $repository $image.digest }}
{{- else }}
{{- $tag := default .root.Chart.AppVersion $image.tag }}
{{- if eq $tag "latest" }}{{ fail "image.tag: `latest` is not allowed; pin a version or a digest" }}{{ end }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{/* Environment ------------------------------------------------------------------------ */}}

{{- define "battery-hub.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
{{- end }}

{{/* What every process reads (ServiceSettings). Call with (dict "root" $ "secret" NAME). */}}
{{- define "battery-hub.commonEnv" -}}
{{- $v := .root.Values }}
- name: BATTERYHUB_PROFILE
  value: production
- name: BATTERYHUB_LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: BATTERYHUB_KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required (host:port[,host:port])" $v.kafka.bootstrapServers | quote }}
- name: BATTERYHUB_KAFKA_SECURITY_PROTOCOL
  value: {{ $v.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL_" $v.kafka.securityProtocol }}
- name: BATTERYHUB_KAFKA_SASL_MECHANISM
  value: {{ required "kafka.saslMechanism is required with a SASL_* securityProtocol" $v.kafka.saslMechanism | quote }}
- name: BATTERYHUB_KAFKA_SASL_USERNAME
  value: {{ required "kafka.saslUsername is required with a SASL_* securityProtocol" $v.kafka.saslUsername | quote }}
{{ include "battery-hub.secretEnv" (dict "name" "BATTERYHUB_KAFKA_SASL_PASSWORD" "secret" .secret "key" "kafka-sasl-password") }}
{{- end }}
{{- if $v.kafka.caSecret.name }}
- name: SSL_CERT_FILE
  value: /etc/battery-hub/kafka-ca/{{ $v.kafka.caSecret.key }}
{{- end }}
- name: BATTERYHUB_TOPIC_PREFIX
  value: {{ $v.topics.prefix | quote }}
- name: BATTERYHUB_PRODUCE_TIMEOUT_S
  value: {{ $v.kafka.produceTimeoutSeconds | quote }}
- name: BATTERYHUB_PRODUCE_COMPRESSION
  value: {{ $v.kafka.compression | quote }}
{{- end }}

{{- define "battery-hub.databaseEnv" -}}
{{ include "battery-hub.secretEnv" (dict "name" "BATTERYHUB_DATABASE_URL" "secret" .secret "key" "database-url") }}
- name: BATTERYHUB_DATABASE_POOL_SIZE
  value: {{ .root.Values.database.poolSize | quote }}
{{- end }}

{{/* Pods ------------------------------------------------------------------------------- */}}

{{- define "battery-hub.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/battery-hub/kafka-ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "battery-hub.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.kafka.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.caSecret.name }}
    items:
      - key: {{ .Values.kafka.caSecret.key }}
        path: {{ .Values.kafka.caSecret.key }}
{{- end }}
{{- end }}

{{/* Scheduling shared by all workloads; a component's own settings win. */}}
{{- define "battery-hub.scheduling" -}}
{{- $c := .values }}
{{- $v := .root.Values }}
{{- with (default $v.nodeSelector $c.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $v.tolerations $c.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $v.affinity $c.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $v.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "battery-hub.selectorLabels" (dict "root" .root "component" .component) | nindent 8 }}
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "battery-hub.selectorLabels" (dict "root" .root "component" .component) | nindent 8 }}
{{- end }}
{{- end }}

{{/*
One long-running process. Call with (dict "root" $ "component" NAME "values" VALUES
"repository" IMAGE_REPOSITORY "factory" MODULE:FACTORY "env" YAML_LIST "http" BOOL).
*/}}
{{- define "battery-hub.deployment" -}}
{{- $root := .root }}
{{- $c := .values }}
{{- $labels := dict "root" $root "component" .component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "battery-hub.componentName" $labels }}
  labels:
    {{- include "battery-hub.labels" $labels | nindent 4 }}
spec:
  {{- if not (and $c.autoscaling $c.autoscaling.enabled) }}
  replicas: {{ $c.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "battery-hub.selectorLabels" $labels | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- include "battery-hub.labels" $labels | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ toJson (list $root.Values.kafka $root.Values.topics $root.Values.database $c) | sha256sum }}
        checksum/secret: {{ toJson $root.Values.secrets | sha256sum }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "battery-hub.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: 30
      {{- include "battery-hub.scheduling" (dict "root" $root "values" $c "component" .component) | trim | nindent 6 }}
      containers:
        - name: {{ .component }}
          image: {{ include "battery-hub.image" (dict "root" $root "repository" .repository) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command:
            - uvicorn
            - --factory
            - {{ .factory }}
            - --host=0.0.0.0
            - --port=8000
            - --no-access-log
            - --loop=uvloop
            - --http=httptools
            - --timeout-graceful-shutdown=10
          ports:
            - name: http
              containerPort: 8000
              protocol: TCP
          env:
            {{- .env | trim | nindent 12 }}
            {{- with $c.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          resources:
            {{- toYaml $c.resources | nindent 12 }}
          startupProbe:
            httpGet: {path: /health, port: http}
            periodSeconds: 2
            timeoutSeconds: 2
            failureThreshold: 60
          livenessProbe:
            httpGet: {path: /health, port: http}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet: {path: /ready, port: http}
            periodSeconds: 5
            timeoutSeconds: 8
            failureThreshold: 3
          {{- if .http }}
          lifecycle:
            preStop:
              # Let the endpoints controller drop this pod before uvicorn stops accepting.
              exec:
                command: [sleep, "5"]
          {{- end }}
          volumeMounts:
            {{- include "battery-hub.volumeMounts" $root | nindent 12 }}
      volumes:
        {{- include "battery-hub.volumes" $root | nindent 8 }}
{{- end }}

{{/* A consumer group cannot use more replicas than its topics have partitions. */}}
{{- define "battery-hub.checkConsumerReplicas" -}}
{{- if gt (int .values.replicaCount) (int .root.Values.topics.partitions) }}
{{- fail (printf "%s.replicaCount (%d) exceeds topics.partitions (%d): the extra consumers would idle" .key (int .values.replicaCount) (int .root.Values.topics.partitions)) }}
{{- end }}
{{- end }}

{{- /* A consumer's group id: its groupId, else the service's name under the topic prefix (as
the services derive it when BATTERYHUB_GROUP_ID / BATTERYHUB_PROJECTOR_GROUP_ID is unset). */}}
{{- define "battery-hub.consumerGroup" -}}
{{- (index .root.Values .key).groupId | default (print .root.Values.topics.prefix .name) }}
{{- end }}

{{- define "battery-hub.checkConsumerGroups" -}}
{{- $ids := dict }}
{{- range $key, $name := dict "errorDecoder" "error-decoder" "notifier" "notifier" "queryProjector" "query-projector" }}
{{- $id := include "battery-hub.consumerGroup" (dict "root" $ "key" $key "name" $name) }}
{{- if hasKey $ids $id }}
{{- fail (printf "%s and %s would both join the consumer group %q (set their groupId apart): two services in one group split its topics' partitions, and each would process only some of them" (index $ids $id) $key $id) }}
{{- end }}
{{- $_ := set $ids $id $key }}
{{- end }}
{{- end }}
