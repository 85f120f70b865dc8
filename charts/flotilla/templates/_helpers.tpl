{{/* Name of the release's objects: <release>-flotilla unless the release name holds "flotilla". */}}
{{- define "flotilla.fullname" -}}
{{- if contains "flotilla" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-flotilla" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "flotilla.labels" -}}
app.kubernetes.io/name: flotilla
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component: include "flotilla.selector" (list $ "apiserver") */}}
{{- define "flotilla.selector" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: flotilla
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Image of one component: include "flotilla.image" (list $ $.Values.images.apiserver) */}}
{{- define "flotilla.image" -}}
{{- $ := index . 0 -}}
{{- $img := index . 1 -}}
{{- printf "%s:%s" $img.repository (default (default $.Chart.AppVersion $.Values.images.tag) $img.tag) -}}
{{- end -}}

{{/* Prometheus scrape annotations: include "flotilla.scrape" (list $ port) */}}
{{- define "flotilla.scrape" -}}
{{- $ := index . 0 -}}
{{- if $.Values.metrics.scrape }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ index . 1 | quote }}
prometheus.io/path: {{ $.Values.metrics.path | quote }}
{{- end }}
{{- end -}}

{{- define "flotilla.pkiSecret" -}}
{{- default (printf "%s-pki" (include "flotilla.fullname" .)) .Values.pki.existingSecret -}}
{{- end -}}

{{- define "flotilla.tokenSecret" -}}
{{- default (printf "%s-tokens" (include "flotilla.fullname" .)) .Values.tokens.existingSecret -}}
{{- end -}}

{{/* The apiserver as its clients reach it. */}}
{{- define "flotilla.apiserverAddress" -}}
{{- printf "%s-apiserver.%s.svc:%v" (include "flotilla.fullname" .) .Release.Namespace .Values.apiserver.service.port -}}
{{- end -}}

{{/* Flags every API client (scheduler, controller-manager, kubelet, proxy, dns) takes: include "flotilla.clientArgs" (list $ "scheduler") */}}
{{- define "flotilla.clientArgs" -}}
{{- $ := index . 0 }}
- --server={{ include "flotilla.apiserverAddress" $ }}
- --certificate-authority=/etc/flotilla/pki/ca.crt
- --token-file=/etc/flotilla/tokens/{{ index . 1 }}.token
- --log-format={{ $.Values.log.format }}
- --log-level={{ $.Values.log.level }}
{{- end -}}

{{/* Volumes holding the CA and one component's token: include "flotilla.clientVolumes" (list $ "scheduler") */}}
{{- define "flotilla.clientVolumes" -}}
{{- $ := index . 0 }}
- name: pki
  secret:
    secretName: {{ include "flotilla.pkiSecret" $ }}
    defaultMode: 0400
    items:
      - {key: ca.crt, path: ca.crt}
- name: token
  secret:
    secretName: {{ include "flotilla.tokenSecret" $ }}
    defaultMode: 0400
    items:
      - {key: {{ index . 1 }}.token, path: {{ index . 1 }}.token}
{{- end -}}

{{- define "flotilla.clientMounts" -}}
- {name: pki, mountPath: /etc/flotilla/pki, readOnly: true}
- {name: token, mountPath: /etc/flotilla/tokens, readOnly: true}
{{- end -}}

{{/* Leader election flags: include "flotilla.leaderElect" .Values.scheduler.leaderElection */}}
{{- define "flotilla.leaderElect" -}}
- --leader-elect
- --leader-elect-lease-duration={{ .leaseDuration }}
- --leader-elect-renew-deadline={{ .renewDeadline }}
- --leader-elect-retry-period={{ .retryPeriod }}
{{- end -}}

{{/* Probes on a component's admin port. */}}
{{- define "flotilla.probes" -}}
readinessProbe:
  httpGet: {path: /readyz, port: admin}
  periodSeconds: 5
livenessProbe:
  httpGet: {path: /healthz, port: admin}
  initialDelaySeconds: 10
  periodSeconds: 10
  failureThreshold: 6
{{- end -}}

{{/* What a node agent needs instead of privileged (../shared/MACHINE-NOTES.md):
every capability but CAP_SYS_RESOURCE, no seccomp or AppArmor confinement,
an unmasked /proc. */}}
{{- define "flotilla.nodeSecurity" -}}
capabilities:
  add: [ALL]
  drop: [SYS_RESOURCE]
seccompProfile: {type: Unconfined}
appArmorProfile: {type: Unconfined}
procMount: Unmasked
{{- end -}}
