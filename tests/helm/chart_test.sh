#!/usr/bin/env bash
# The Helm chart renders and lints with the default values and with every
# optional part on (values-all-on.yaml); the schema rejects wrong types; the
# rendered objects carry the hardening, RBAC and wiring the chart promises;
# the PrometheusRule and dashboard ConfigMap carry their sources unchanged.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
all_on="$root/tests/helm/values-all-on.yaml"

# --- lint
for values in "" "$all_on"; do
  args=(lint --strict "$chart")
  [ -n "$values" ] && args+=(-f "$values")
  if out=$("$helm" "${args[@]}" 2>&1); then
    pass "helm lint --strict ${values:+-f $(basename "$values")}"
  else
    fail "helm lint --strict ${values:+-f $(basename "$values")}:"$'\n'"$out"
  fi
done

# --- template: defaults
render() { # render OUT [helm args...]
  local out=$1
  shift
  "$helm" template gpupool "$chart" --namespace gpupool-system "$@" >"$out" 2>"$tmp/err" ||
    { fail "helm template $*: $(cat "$tmp/err")"; return 1; }
}
render "$tmp/default.yaml"
kinds() { grep '^kind: ' "$1" | awk '{print $2}' | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' '; }
expect_kinds() { # expect_kinds FILE "Kind=N ..."
  local got
  got=$(kinds "$1")
  if [ "$got" = "$2 " ]; then pass "$(basename "$1") renders $2"; else fail "$(basename "$1") renders $got, want $2"; fi
}
expect_kinds "$tmp/default.yaml" \
  "ClusterRole=1 ClusterRoleBinding=3 Deployment=1 Role=3 RoleBinding=3 Service=1 ServiceAccount=1"

has() { # has FILE REGEX WHAT
  if grep -Eq -- "$2" "$1"; then pass "$3"; else fail "$3 (no match for /$2/ in $(basename "$1"))"; fi
}
hasnt() {
  if grep -Eq -- "$2" "$1"; then fail "$3 (unexpected /$2/ in $(basename "$1"))"; else pass "$3"; fi
}

doc_of "$tmp/default.yaml" Deployment >"$tmp/deploy.yaml"
d="$tmp/deploy.yaml"
has "$d" 'runAsNonRoot: true' "pod and container run as non-root"
has "$d" 'readOnlyRootFilesystem: true' "read-only root file system"
has "$d" 'allowPrivilegeEscalation: false' "no privilege escalation"
has "$d" '^ +- ALL$' "all capabilities dropped"
has "$d" 'type: RuntimeDefault' "seccomp RuntimeDefault"
has "$d" '^ +requests:' "resource requests"
has "$d" '^ +limits:' "resource limits"
has "$d" 'path: /healthz' "liveness probe on /healthz"
has "$d" 'path: /readyz' "readiness probe on /readyz"
has "$d" '--health-addr=0.0.0.0:8081' "health address flag"
has "$d" '--metrics-addr=0.0.0.0:8080' "metrics address flag"
has "$d" '--leader-elect=true' "leader election on by default"
has "$d" '--lease-namespace=gpupool-system' "Lease in the release namespace"
has "$d" '--leader-elect-lease-duration=15s' "lease duration from values"
has "$d" '--leader-elect-renew-deadline=10s' "renew deadline from values"
has "$d" '--leader-elect-retry-period=2s' "retry period from values"

# Least privilege: no wildcards, Secrets never cluster-wide.
hasnt "$tmp/default.yaml" "(verbs|resources|apiGroups): \[[^]]*['\"]?\*" "no wildcard RBAC"
doc_of "$tmp/default.yaml" ClusterRole >"$tmp/clusterrole.yaml"
hasnt "$tmp/clusterrole.yaml" 'secrets' "the ClusterRole grants no Secrets"
hasnt "$tmp/clusterrole.yaml" 'leases' "the ClusterRole grants no Leases"
has "$tmp/clusterrole.yaml" 'resources: \[gpupools/status, gpupools/finalizers\]' "pool status and finalizers"
# Endpoint mode: each pool's Service and EndpointSlices.
has "$tmp/clusterrole.yaml" 'resources: \[services\]' "Services for Endpoint pools"
has "$tmp/clusterrole.yaml" 'apiGroups: \[discovery.k8s.io\]' "EndpointSlices' API group"
has "$tmp/clusterrole.yaml" 'resources: \[endpointslices\]' "EndpointSlices for Endpoint pools"

# Node bootstrap tokens: Secrets in kube-system only, create/list/delete.
has "$tmp/default.yaml" 'name: [a-z-]*-bootstrap-tokens' "a Role for bootstrap tokens"
awk '/^kind: Role$/{r=1} /^---/{r=0} r' "$tmp/default.yaml" | grep -q 'namespace: kube-system' ||
  fail "the bootstrap-token Role is in kube-system"
has "$tmp/default.yaml" 'verbs: \[create, list, delete\]' "bootstrap tokens: create, list, delete"
render "$tmp/notokens.yaml" --set rbac.bootstrapTokens=false
hasnt "$tmp/notokens.yaml" 'bootstrap-tokens' "no token Role when rbac.bootstrapTokens is false"
hasnt "$tmp/notokens.yaml" 'system:bootstrappers:gpupool' "no join bindings without tokens"
# The joining kubelet's group: CSR creation and auto-approval, as kubeadm's.
has "$tmp/default.yaml" 'name: system:node-bootstrapper' "the token group may create its CSR"
has "$tmp/default.yaml" 'name: system:certificates.k8s.io:certificatesigningrequests:nodeclient' \
  "the token group's node-client CSR is auto-approved"
[ "$(grep -c 'name: system:bootstrappers:gpupool' "$tmp/default.yaml")" = 2 ] ||
  fail "two bindings for system:bootstrappers:gpupool by default"
hasnt "$tmp/default.yaml" 'kubeadm:' "no kubeadm Role bindings unless asked"
render "$tmp/kubeadm.yaml" --set rbac.nodeBootstrappers.kubeadm=true
for role in kubeadm:get-nodes kubeadm:nodes-kubeadm-config kubeadm:kubelet-config; do
  has "$tmp/kubeadm.yaml" "name: $role\$" "kubeadm join: the token group is bound to $role"
done
render "$tmp/nojoin.yaml" --set rbac.nodeBootstrappers.create=false
hasnt "$tmp/nojoin.yaml" 'system:bootstrappers:gpupool' "no join bindings when not asked"

# One replica without leader election: no Lease Role, flag off.
render "$tmp/single.yaml" --set leaderElection.enabled=false
has "$tmp/single.yaml" '--leader-elect=false' "leader election off when asked, with one replica"
hasnt "$tmp/single.yaml" 'leases' "no Lease permissions without leader election"
# More than one replica forces it on.
render "$tmp/two.yaml" --set leaderElection.enabled=false --set replicaCount=2
has "$tmp/two.yaml" '--leader-elect=true' "leader election forced on with 2 replicas"

# --- template: every optional part on
render "$tmp/all.yaml" -f "$all_on"
expect_kinds "$tmp/all.yaml" \
  "ClusterRole=1 ClusterRoleBinding=3 ConfigMap=1 Deployment=1 GpuProvider=4 PrometheusRule=1 Role=5 RoleBinding=5 Secret=1 Service=1 ServiceAccount=1 ServiceMonitor=1"
has "$tmp/all.yaml" '--leader-elect=true' "replicaCount 2 turns leader election on"
has "$tmp/all.yaml" '--namespace=ml-serving' "watch namespace flag"
has "$tmp/all.yaml" 'resourceNames: \["shared-registry","gpupool-fluence-credentials","runpod-credentials"\]' \
  "Secrets restricted to the providers' names in the release namespace"
has "$tmp/all.yaml" 'resourceNames: \["shared-registry","aws-credentials"\]' "and in team-secrets"
has "$tmp/all.yaml" 'verbs: \[get, list, watch\]' \
  "credential Secrets can be watched by name (a fixed Secret is picked up at once)"
doc_of "$tmp/all.yaml" ConfigMap >"$tmp/cm.yaml"
has "$tmp/cm.yaml" 'grafana_dashboard: "1"' "dashboard ConfigMap has the Grafana sidecar label"
has "$tmp/cm.yaml" 'namespace: monitoring' "dashboard ConfigMap in the configured namespace"
doc_of "$tmp/all.yaml" ServiceMonitor >"$tmp/sm.yaml"
has "$tmp/sm.yaml" 'jobLabel: app.kubernetes.io/name' "ServiceMonitor sets job=gpupool-operator"
has "$tmp/sm.yaml" 'port: metrics' "ServiceMonitor scrapes the metrics port"

# The PrometheusRule's spec and the ConfigMap's data are the sources, unchanged.
doc_of "$tmp/all.yaml" PrometheusRule | sed -n '/^spec:$/,$p' | sed '1d; s/^  //' >"$tmp/rules.yaml"
if cmp -s <(sed -e '$a\' "$root/metrics/alerts/gpupool-rules.yaml") "$tmp/rules.yaml"; then
  pass "PrometheusRule spec is metrics/alerts/gpupool-rules.yaml"
else
  fail "PrometheusRule spec differs from metrics/alerts/gpupool-rules.yaml:"$'\n'"$(diff "$root/metrics/alerts/gpupool-rules.yaml" "$tmp/rules.yaml" | head -20)"
fi
sed -n '/^  gpupool.json: |-$/,$p' "$tmp/cm.yaml" | sed '1d; s/^    //' >"$tmp/dashboard.json"
if cmp -s <(sed -e '$a\' "$root/metrics/dashboards/gpupool.json") "$tmp/dashboard.json"; then
  pass "dashboard ConfigMap data is metrics/dashboards/gpupool.json"
else
  fail "dashboard ConfigMap data differs from metrics/dashboards/gpupool.json:"$'\n'"$(diff "$root/metrics/dashboards/gpupool.json" "$tmp/dashboard.json" | head -20)"
fi

# Every flag the chart passes is one the operator knows: the flags listed in
# run's usage text (operator/cmd/run_cmd.cpp, lines "  --flag...").
known=$(grep -oE '^  --[a-z-]+' "$root/operator/cmd/run_cmd.cpp" | sed 's/^  --//' | paste -sd'|')
[ -n "$known" ] || fail "no flags found in operator/cmd/run_cmd.cpp's usage text"
for file in "$tmp/default.yaml" "$tmp/all.yaml"; do
  unknown=$(grep -oE -- '^ +- --[a-z-]+' "$file" | sed 's/.*--//' | grep -vxE "$known" || true)
  [ -z "$unknown" ] && pass "only known operator flags" || fail "unknown operator flags: $unknown"
done

has "$tmp/default.yaml" '- --health-check-workers=4' "health checks run on their own threads (--health-check-workers)"
has "$tmp/default.yaml" '- --provider-concurrency=0' "provider calls in flight default to workers / 2 (--provider-concurrency)"

# A provider without credentials is refused with a clear message.
if "$helm" template gpupool "$chart" --set 'providers[0].name=x' --set 'providers[0].type=aws' >/dev/null 2>"$tmp/err"; then
  fail "a non-fake provider without credentials renders"
elif grep -q 'set credentials or existingSecret' "$tmp/err"; then
  pass "a non-fake provider without credentials is refused"
else
  fail "a provider without credentials fails with: $(cat "$tmp/err")"
fi

# --- wrong types: the schema rejects each file of bad-values/, in lint and template.
for bad in "$root"/tests/helm/bad-values/*.yaml; do
  name=$(basename "$bad")
  for cmd in lint template; do
    if "$helm" "$cmd" "$chart" -f "$bad" >"$tmp/out" 2>&1; then
      fail "helm $cmd accepts bad-values/$name"
    elif grep -q "don't meet the specifications of the schema" "$tmp/out"; then
      pass "helm $cmd rejects bad-values/$name: $(grep -m1 -- '- at ' "$tmp/out" | sed 's/^ *//')"
    else
      fail "helm $cmd fails on bad-values/$name, but not on the schema: $(cat "$tmp/out")"
    fi
  done
done

finish
