{{/* Names and labels shared by every template. */}}
{{- define "linli.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "linli.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "linli.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "linli.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "linli.secretName" -}}
{{- .Values.existingSecret | default (include "linli.fullname" .) -}}
{{- end -}}

{{/*
Environment of a Linli container: the ConfigMap, the Secret every workload shares (LINLI_SECRET_KEY,
Redis, MQTT admin) and its workload's own Secret (`<secret>-api` or `<secret>-worker`: the database
URLs and keys only that workload uses). Called with (dict "root" . "workload" "api").
*/}}
{{- define "linli.envFrom" -}}
- configMapRef:
    name: {{ include "linli.fullname" .root }}
- secretRef:
    name: {{ include "linli.secretName" .root }}
- secretRef:
    name: {{ include "linli.secretName" .root }}-{{ .workload }}
{{- end -}}

{{/*
Probes of the workloads without an HTTP port (called with "worker" or "ingest"): `linli health <workload>`
exits 1 when the process's own loop has not reported in time (the arq worker's health key in Redis, the
ingest worker's heartbeat file); with `--ready`, also when it cannot work (database, broker connections).
*/}}
{{- define "linli.execProbes" -}}
startupProbe:
  exec: {command: ["linli", "health", {{ . | quote }}]}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 24
livenessProbe:
  exec: {command: ["linli", "health", {{ . | quote }}]}
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  exec: {command: ["linli", "health", {{ . | quote }}, "--ready"]}
  periodSeconds: 20
  timeoutSeconds: 10
  failureThreshold: 2
{{- end -}}

{{- define "linli.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "linli.volumes" -}}
- name: tmp
  emptyDir: {}
{{- if eq .Values.storage.backend "local" }}
- name: storage
{{- if .Values.storage.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.storage.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end }}
{{- end -}}

{{- define "linli.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if eq .Values.storage.backend "local" }}
- name: storage
  mountPath: {{ .Values.settings.storageDir }}
{{- end }}
{{- end -}}

{{/* The Secret holding the S3 keys the API loads, or nothing (boto3's credential chain then). */}}
{{- define "linli.s3SecretName" -}}
{{- $s3 := .Values.storage.s3 -}}
{{- if eq .Values.storage.backend "s3" -}}
{{- if $s3.existingSecret -}}
{{- $s3.existingSecret -}}
{{- else if $s3.accessKeyId -}}
{{- include "linli.fullname" . }}-s3
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A NetworkPolicy egress rule to one external service: its port, on its address blocks if given. */}}
{{- define "linli.egressTo" -}}
- ports:
    - {protocol: TCP, port: {{ .port }}}
  {{- with .cidrs }}
  to:
    {{- range . }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  {{- end }}
{{- end -}}
