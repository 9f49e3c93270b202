{{/* The chart's name. */}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object's name: the release name, followed by the chart's name unless the release name
already contains it. `helm install gatehouse` gives the names of deploy/manifests (gatehouse-proxy, ...).
*/}}
{{- define "gatehouse.fullname" -}}
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

{{- define "gatehouse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the pods of one release; add app.kubernetes.io/component next to them. */}}
{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ include "gatehouse.chart" . }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gatehouse
{{- end -}}

{{/* Name of cluster-scoped objects (ClusterRole, ClusterRoleBinding): unique per release and namespace. */}}
{{- define "gatehouse.clusterName" -}}
{{- printf "%s-%s-ingress" .Release.Namespace (include "gatehouse.fullname" .) | trunc 253 -}}
{{- end -}}

{{- define "gatehouse.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString (.Values.image.tag | default .Chart.AppVersion)) -}}
{{- end -}}

{{- define "gatehouse.controllerServiceAccount" -}}
{{- printf "%s-ingress" (include "gatehouse.fullname" .) -}}
{{- end -}}

{{/* --- Database connection --- */}}

{{- define "gatehouse.database.host" -}}
{{- if .Values.postgresql.enabled -}}
{{- printf "%s-postgresql.%s.svc" (include "gatehouse.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- required "externalDatabase.host is required when postgresql.enabled is false" .Values.externalDatabase.host -}}
{{- end -}}
{{- end -}}

{{- define "gatehouse.database.port" -}}
{{- if .Values.postgresql.enabled -}}5432{{- else -}}{{ .Values.externalDatabase.port }}{{- end -}}
{{- end -}}

{{- define "gatehouse.database.user" -}}
{{- if .Values.postgresql.enabled -}}{{ .Values.postgresql.auth.username }}{{- else -}}{{ .Values.externalDatabase.user }}{{- end -}}
{{- end -}}

{{- define "gatehouse.database.name" -}}
{{- if .Values.postgresql.enabled -}}{{ .Values.postgresql.auth.database }}{{- else -}}{{ .Values.externalDatabase.database }}{{- end -}}
{{- end -}}

{{/* The Secret holding the password, and its key. */}}
{{- define "gatehouse.database.secretName" -}}
{{- if .Values.postgresql.enabled -}}
{{- .Values.postgresql.auth.existingSecret | default (printf "%s-postgresql" (include "gatehouse.fullname" .)) -}}
{{- else -}}
{{- .Values.externalDatabase.existingSecret | default (printf "%s-database" (include "gatehouse.fullname" .)) -}}
{{- end -}}
{{- end -}}

{{- define "gatehouse.database.secretKey" -}}
{{- if .Values.postgresql.enabled -}}
{{- .Values.postgresql.auth.passwordKey | default "password" -}}
{{- else -}}
{{- .Values.externalDatabase.passwordKey | default "password" -}}
{{- end -}}
{{- end -}}

{{/*
The bundled PostgreSQL's password: the value given, else the one already stored by an earlier release, else
a new random one.
*/}}
{{- define "gatehouse.postgresql.password" -}}
{{- if .Values.postgresql.auth.password -}}
{{- .Values.postgresql.auth.password -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (printf "%s-postgresql" (include "gatehouse.fullname" .)) -}}
{{- if and $existing $existing.data (hasKey $existing.data "password") -}}
{{- index $existing.data "password" | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The environment that points `gatehouse` at the database (a list of env entries). */}}
{{- define "gatehouse.databaseEnv" -}}
- name: KONG_DATABASE
  value: postgres
- name: KONG_PG_HOST
  value: {{ include "gatehouse.database.host" . | quote }}
- name: KONG_PG_PORT
  value: {{ include "gatehouse.database.port" . | quote }}
- name: KONG_PG_USER
  value: {{ include "gatehouse.database.user" . | quote }}
- name: KONG_PG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "gatehouse.database.secretName" . }}
      key: {{ include "gatehouse.database.secretKey" . }}
- name: KONG_PG_DATABASE
  value: {{ include "gatehouse.database.name" . | quote }}
{{- if not .Values.postgresql.enabled }}
- name: KONG_PG_SSL
  value: {{ ternary "on" "off" .Values.externalDatabase.ssl | quote }}
- name: KONG_PG_SSL_VERIFY
  value: {{ ternary "on" "off" .Values.externalDatabase.sslVerify | quote }}
{{- end }}
- name: KONG_PREFIX
  value: /gatehouse
{{- end -}}

{{/* The volumes every gatehouse container mounts (the root filesystem is read-only). */}}
{{- define "gatehouse.volumeMounts" -}}
- name: prefix
  mountPath: /gatehouse
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "gatehouse.volumes" -}}
- name: prefix
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end -}}

{{/* Prefer spreading the replicas of one component over nodes; takes (dict "ctx" $ "component" "..."). */}}
{{- define "gatehouse.spreadAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "gatehouse.selectorLabels" .ctx | nindent 12 }}
            app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Checks of values that templates cannot express otherwise. */}}
{{- define "gatehouse.validate" -}}
{{- if not (has .Values.controller.electionLock (list "lease" "configmap")) -}}
{{- fail (printf "controller.electionLock must be lease or configmap, not %v" .Values.controller.electionLock) -}}
{{- end -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.existingSecret) (not .Values.externalDatabase.password) -}}
{{- fail "with postgresql.enabled false, set externalDatabase.existingSecret or externalDatabase.password" -}}
{{- end -}}
{{- end -}}
