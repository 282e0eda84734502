{{/* Names: <release>-warmpod, or fullnameOverride. */}}
{{- define "warmpod.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "warmpod.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/part-of: warmpod
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "warmpod.labels" -}}
{{ include "warmpod.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one component: ctx = dict "root" $ "component" "gateway". */}}
{{- define "warmpod.selector" -}}
app.kubernetes.io/name: warmpod
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "warmpod.componentLabels" -}}
{{ include "warmpod.commonLabels" .root }}
{{ include "warmpod.selector" . }}
{{- end -}}

{{/*
Image reference. Rule 1 applies to warmpod itself: a digest wins over the tag;
global.requireDigests refuses a tag-only image; a tag is mutable, so it is
pulled Always and never IfNotPresent.
ctx = dict "root" $ "image" .Values.gateway.image "path" "gateway.image"
*/}}
{{- define "warmpod.image" -}}
{{- $img := .image -}}
{{- $registry := $img.registry | default .root.Values.global.imageRegistry -}}
{{- $repo := ternary (printf "%s/%s" $registry $img.repository) $img.repository (ne $registry "") -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else if .root.Values.global.requireDigests -}}
{{- fail (printf "%s.digest is required: global.requireDigests is on and a tag (%q) can move under a running deployment" .path ($img.tag | default .root.Chart.AppVersion)) -}}
{{- else -}}
{{- printf "%s:%s" $repo ($img.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "warmpod.pullPolicy" -}}
{{- $img := .image -}}
{{- if $img.pullPolicy -}}
{{- if and (not $img.digest) (ne $img.pullPolicy "Always") -}}
{{- fail (printf "%s.pullPolicy %s with a tag only: a tag is mutable, so a node could run a stale image; set %s.digest or pullPolicy Always" .path $img.pullPolicy .path) -}}
{{- end -}}
{{- $img.pullPolicy -}}
{{- else -}}
{{- ternary "IfNotPresent" "Always" (ne ($img.digest | default "") "") -}}
{{- end -}}
{{- end -}}

{{- define "warmpod.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The Secret holding the Redis URL and the tokens, unless existing ones are named. */}}
{{- define "warmpod.secretName" -}}
{{- printf "%s-config" (include "warmpod.fullname" .) -}}
{{- end -}}

{{/* Redis env of a service (dict root, service): the URL, and its own ACL user and the TLS CA when configured. */}}
{{- define "warmpod.redisEnv" -}}
{{- $v := .root.Values }}
- name: WARMPOD_REDIS_URL
  valueFrom:
    secretKeyRef:
      {{- if and $v.redis.existingSecret (not $v.redis.bundled.enabled) }}
      name: {{ $v.redis.existingSecret }}
      key: {{ $v.redis.existingSecretKey }}
      {{- else }}
      name: {{ include "warmpod.secretName" .root }}
      key: redis-url
      {{- end }}
{{- if $v.redis.users.existingSecret }}
- name: WARMPOD_REDIS_USERNAME
  value: {{ include "warmpod.redisUser" . | quote }}
- name: WARMPOD_REDIS_PASSWORD_FILE
  value: /etc/warmpod/redis/password
{{- end }}
{{- if $v.redis.tls.caSecret }}
- name: WARMPOD_REDIS_TLS_CA_FILE
  value: /etc/warmpod/redis-ca/ca.crt
{{- end }}
- name: WARMPOD_PREFIX
  value: {{ $v.prefix | quote }}
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: WARMPOD_METRICS
  value: {{ ternary "on" "off" $v.metrics.enabled | quote }}
- name: WARMPOD_EVENTS
  value: {{ ternary "on" "off" $v.events.enabled | quote }}
{{- end -}}

{{/* The gateway's queue door settings (gateway.intake), only when it serves some tenant. */}}
{{- define "warmpod.intakeEnv" -}}
{{- if .tenants }}
- name: INTAKE_TENANTS
  value: {{ join "," .tenants | quote }}
- name: INTAKE_MAX_IN_FLIGHT
  value: {{ .maxInFlight | quote }}
- name: INTAKE_RATE_MAX
  value: {{ .rate.max | quote }}
- name: INTAKE_RATE_DURATION_MS
  value: {{ .rate.durationMs | quote }}
{{- if .dataLimitBytes }}
- name: INTAKE_DATA_LIMIT_BYTES
  value: {{ .dataLimitBytes | quote }}
{{- end }}
- name: INTAKE_POLL_MS
  value: {{ .pollMs | quote }}
- name: INTAKE_SWEEP_MS
  value: {{ .sweepMs | quote }}
{{- if .redis.existingSecret }}
- name: INTAKE_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .redis.existingSecret }}
      key: {{ .redis.existingSecretKey }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The agent's peer blob settings (agent.peerBlobs): the fetch ones only when it asks peers; it serves them either way. */}}
{{- define "warmpod.peerBlobEnv" -}}
- name: NODE_PEER_BLOBS
  value: {{ .enabled | quote }}
{{- if .enabled }}
- name: NODE_PEER_STALL_MS
  value: {{ .stallMs | quote }}
- name: NODE_PEER_MIN_BYTES_PER_SEC
  value: {{ .minBytesPerSecond | int64 | quote }}
- name: NODE_PEER_MAX_TRIES
  value: {{ .maxTries | quote }}
{{- end }}
- name: NODE_PEER_SERVE_CONCURRENCY
  value: {{ .serveConcurrency | quote }}
{{- end -}}

{{/* A service's Redis user name: redis.users.names.<service>, or what libs/store serviceUserName makes of the prefix. */}}
{{- define "warmpod.redisUser" -}}
{{- $slug := regexReplaceAll "[^A-Za-z0-9-]+" .root.Values.prefix "-" | trimAll "-" | default "default" }}
{{- index .root.Values.redis.users.names .service | default (printf "warmpod-%s-%s" $slug .service) -}}
{{- end -}}

{{/* Mounts of a service's Redis password (its own key of redis.users.existingSecret) and of the Redis CA. */}}
{{- define "warmpod.redisMounts" -}}
{{- if .root.Values.redis.users.existingSecret }}
- name: redis-user
  mountPath: /etc/warmpod/redis
  readOnly: true
{{- end }}
{{- if .root.Values.redis.tls.caSecret }}
- name: redis-ca
  mountPath: /etc/warmpod/redis-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "warmpod.redisVolumes" -}}
{{- $r := .root.Values.redis }}
{{- if $r.users.existingSecret }}
- name: redis-user
  secret:
    secretName: {{ $r.users.existingSecret }}
    defaultMode: 0400
    items:
      - key: {{ .service }}
        path: password
{{- end }}
{{- if $r.tls.caSecret }}
- name: redis-ca
  secret:
    secretName: {{ $r.tls.caSecret }}
    items:
      - key: {{ $r.tls.caSecretKey }}
        path: ca.crt
{{- end }}
{{- end -}}

{{- define "warmpod.redisUrl" -}}
{{- if .Values.redis.bundled.enabled -}}
{{- printf "redis://%s-redis:6379" (include "warmpod.fullname" .) -}}
{{- else if .Values.redis.url -}}
{{- .Values.redis.url -}}
{{- else if not .Values.redis.existingSecret -}}
{{- fail "redis.url is required (redis://host:port of an external Redis), or redis.existingSecret, or redis.bundled.enabled=true to try warmpod out" -}}
{{- end -}}
{{- end -}}

{{- define "warmpod.schedulerGrpcUrl" -}}
{{- printf "grpc://%s-scheduler.%s.svc:%d" (include "warmpod.fullname" .) .Release.Namespace (int .Values.scheduler.grpcPort) -}}
{{- end -}}

{{/* extra env of a component: a map name -> value, rendered sorted. */}}
{{- define "warmpod.extraEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Security context of the control-plane containers: non-root, nothing writable but /tmp. */}}
{{- define "warmpod.restrictedContainer" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* NODE_LABELS: a map rendered as k=v,k=v (sorted). */}}
{{- define "warmpod.labelList" -}}
{{- $pairs := list -}}
{{- range $k, $v := . }}{{ $pairs = append $pairs (printf "%s=%s" $k $v) }}{{ end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* The Secret holding a service's cluster certificate: the operator's, or the one the chart generates. */}}
{{- define "warmpod.tlsSecret" -}}
{{- $own := index .root.Values.tls (printf "%sSecret" .service) -}}
{{- if $own }}{{ $own }}{{ else }}{{ printf "%s-%s-tls" (include "warmpod.fullname" .root) .service }}{{ end -}}
{{- end -}}

{{/* The WARMPOD_TLS_* variables pointing at a mounted certificate directory. */}}
{{- define "warmpod.tlsEnv" -}}
- name: WARMPOD_TLS_CA_FILE
  value: {{ printf "%s/ca.crt" .dir | quote }}
- name: WARMPOD_TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" .dir | quote }}
- name: WARMPOD_TLS_KEY_FILE
  value: {{ printf "%s/tls.key" .dir | quote }}
- name: WARMPOD_TLS_RELOAD_MS
  value: {{ .root.Values.tls.reloadMs | quote }}
{{- end -}}

{{/* A Secret volume of a service's certificate (items listed: the apps read these three files). */}}
{{- define "warmpod.tlsVolume" -}}
- name: cluster-tls
  secret:
    secretName: {{ include "warmpod.tlsSecret" . }}
    items:
      - key: ca.crt
        path: ca.crt
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end -}}
