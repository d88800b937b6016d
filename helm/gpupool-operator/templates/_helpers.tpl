{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "gpupool-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; the release name alone when it already holds the chart name. */}}
{{- define "gpupool-operator.fullname" -}}
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

{{- define "gpupool-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gpupool-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gpupool-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gpupool-operator.labels" -}}
helm.sh/chart: {{ include "gpupool-operator.chart" . }}
{{ include "gpupool-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gpupool-operator
{{- end }}

{{- define "gpupool-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gpupool-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Leader election is on when asked for, and always with more than one replica. */}}
{{- define "gpupool-operator.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ else }}false{{ end }}
{{- end }}

{{/* The Secret a provider entry's credentials live in: "namespace/name", or "" for none. */}}
{{- define "gpupool-operator.providerSecret" -}}
{{- $p := .provider }}
{{- if $p.existingSecret }}
{{- printf "%s/%s" (default .root.Release.Namespace $p.existingSecretNamespace) $p.existingSecret }}
{{- else if $p.credentials }}
{{- printf "%s/%s" .root.Release.Namespace (printf "%s-%s-credentials" .root.Release.Name $p.name | trunc 253) }}
{{- end }}
{{- end }}

{{/* Namespaces whose Secrets the operator may read: the release's, the
     providers' existing Secrets', and rbac.secrets.extraNamespaces. */}}
{{- define "gpupool-operator.secretNamespaces" -}}
{{- $nss := list .Release.Namespace }}
{{- range .Values.providers }}
{{- if and .existingSecret .existingSecretNamespace }}{{ $nss = append $nss .existingSecretNamespace }}{{ end }}
{{- end }}
{{- range .Values.rbac.secrets.extraNamespaces }}{{ $nss = append $nss . }}{{ end }}
{{- $nss | uniq | toJson }}
{{- end }}

{{/* RBAC rules for GpuPools and GpuInstances (see rbac.yaml). */}}
{{- define "gpupool-operator.poolRules" -}}
- apiGroups: [gpupool.io]
  resources: [gpupools]
  verbs: [get, list, watch, update]
- apiGroups: [gpupool.io]
  resources: [gpupools/status, gpupools/finalizers]
  verbs: [update]
- apiGroups: [gpupool.io]
  resources: [gpuinstances]
  verbs: [get, list, watch, create, update, delete]
- apiGroups: [gpupool.io]
  resources: [gpuinstances/status]
  verbs: [update]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, update, delete]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch, create, update, delete]
{{- end }}
