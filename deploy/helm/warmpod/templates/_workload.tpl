{{/* Pod-spec tail shared by the Deployments: scheduling constraints of a component. */}}
{{- define "warmpod.placement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A PodDisruptionBudget: ctx = dict "root" $ "component" "scheduler" "pdb" .Values.scheduler.pdb */}}
{{- define "warmpod.pdb" -}}
{{- if .pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ printf "%s-%s" (include "warmpod.fullname" .root) .component }}
  labels:
    {{- include "warmpod.componentLabels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "warmpod.selector" . | nindent 6 }}
{{- end }}
{{- end -}}
