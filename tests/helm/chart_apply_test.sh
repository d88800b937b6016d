#!/usr/bin/env bash
# The rendered chart goes through the real kubectl into the test API server
# (gpupool-test-apiserver, loopback, a port of its own choosing).
#
#   chart_apply_test.sh GPUPOOL_TEST_APISERVER [GPUPOOL_OPERATOR]
#
# With the operator binary, it first runs it with the exact arguments the
# chart's Deployment passes (listen addresses moved to 127.0.0.1, port 0, and
# --kubeconfig added, as there is no in-cluster configuration here): the
# flags parse, /healthz and /readyz (the probes' paths) answer 200, it takes
# the Lease in the release namespace and /metrics says it leads. No
# GpuProvider exists yet then, so it calls no provider.
#
# The chart's CRDs, credential Secrets, GpuProviders, metrics Service and
# dashboard ConfigMap are applied for real (after a server-side dry run) and
# read back; so are the ServiceMonitor and PrometheusRule, against stand-in
# CRDs (testdata/monitoring-crds-stub.yaml) that keep any field.
# The test server serves no RBAC or apps kinds, and `kubectl apply
# --dry-run=client` still needs the server to map a kind to a resource, so
# those are checked offline with kubectl's --local commands, which decode the
# file into kubectl's typed objects (a wrong field type fails):
#   Deployment                      kubectl set image --local
#   RoleBinding, ClusterRoleBinding kubectl set subject --local
#   ServiceAccount, Role, ClusterRole kubectl label --local (parsed, not typed)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

apiserver=${1:?usage: $0 GPUPOOL_TEST_APISERVER [GPUPOOL_OPERATOR]}
operator=${2:-}
[ -x "$apiserver" ] || { echo "FAIL: no test API server at $apiserver" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "FAIL: kubectl is not installed" >&2; exit 1; }

tmp=$(mktemp -d /tmp/gpupool-helm-apply-XXXXXX)
server_pid=
operator_pid=
cleanup() {
  if [ -n "$operator_pid" ]; then
    kill -TERM "$operator_pid" 2>/dev/null || true
    wait "$operator_pid" 2>/dev/null || true
  fi
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# A private kubectl: its own HOME, discovery cache and kubeconfig.
export HOME="$tmp/home" KUBECACHEDIR="$tmp/home/cache" KUBECONFIG="$tmp/kubeconfig"
mkdir -p "$HOME"
kc() { timeout --kill-after=5 60 kubectl "$@"; }

"$apiserver" --host 127.0.0.1 --port 0 --kubeconfig-out "$KUBECONFIG" >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 200); do
  grep -q '^listening on ' "$tmp/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { echo "FAIL: the test API server exited: $(cat "$tmp/server.err")" >&2; exit 1; }
  sleep 0.1
done
grep -q '^listening on ' "$tmp/server.out" || { echo "FAIL: the test API server did not start" >&2; exit 1; }
echo "test API server: $(cat "$tmp/server.out")"

# The chart's CRDs, for real; helm installs crds/ before the templates.
"$helm" template gpupool "$chart" --namespace gpupool-system --include-crds \
  -f "$root/tests/helm/values-all-on.yaml" >"$tmp/all.yaml"
mkdir -p "$tmp/docs"
split_docs "$tmp/all.yaml" "$tmp/docs"
if out=$(kc apply -f "$chart/crds" 2>&1); then pass "chart CRDs applied: $(echo $out)"; else fail "chart CRDs: $out"; fi
for crd in gpupools.gpupool.io gpuinstances.gpupool.io gpuproviders.gpupool.io; do
  if kc wait --for=condition=Established "crd/$crd" --timeout=30s >/dev/null 2>&1; then
    pass "$crd established"
  else
    fail "$crd not established"
  fi
done

if out=$(kc apply -f "$root/tests/helm/testdata/monitoring-crds-stub.yaml" 2>&1); then
  pass "stand-in monitoring.coreos.com CRDs applied"
else
  fail "stand-in monitoring CRDs: $out"
fi

for ns in gpupool-system ml-serving team-secrets monitoring; do
  kc create namespace "$ns" >/dev/null
done

# The operator, started the way the chart's Deployment starts it.
if [ -n "$operator" ]; then
  "$helm" template gpupool "$chart" --namespace gpupool-system >"$tmp/default-args.yaml"
  mapfile -t args < <(doc_of "$tmp/default-args.yaml" Deployment |
    awk '/^ +args:$/ { on = 1; next } on && /^ +[a-z]+:/ { on = 0 } on { sub(/^ +- /, ""); print }' |
    sed -E 's/0\.0\.0\.0:[0-9]+/127.0.0.1:0/')
  echo "operator arguments from the chart: ${args[*]}"
  "$operator" "${args[@]}" --kubeconfig "$KUBECONFIG" >"$tmp/operator.out" 2>"$tmp/operator.err" &
  operator_pid=$!
  # JSON log lines name the addresses it serves on (one server when both
  # addresses read 127.0.0.1:0), before the "running" line.
  for _ in $(seq 100); do
    grep -q '"msg":"running"' "$tmp/operator.err" 2>/dev/null && break
    kill -0 "$operator_pid" 2>/dev/null || break
    sleep 0.1
  done
  mapfile -t urls < <(grep -o '"addr":"http://[^"]*"' "$tmp/operator.err" 2>/dev/null | sed 's/"addr":"//; s/"$//')
  if ((${#urls[@]} == 0)); then
    fail "the operator did not serve health and metrics: $(tail -5 "$tmp/operator.err")"
  else
    probe() { # probe URL PATH -> HTTP status
      curl -s -o "$tmp/body" -w '%{http_code}' --max-time 5 "$1$2" || true
    }
    ready=
    for _ in $(seq 150); do
      for u in "${urls[@]}"; do
        [ "$(probe "$u" /readyz)" = 200 ] && ready=$u
      done
      [ -n "$ready" ] && break
      sleep 0.2
    done
    if [ -n "$ready" ]; then
      pass "operator with the chart's arguments: /readyz 200 at $ready"
      [ "$(probe "$ready" /healthz)" = 200 ] && pass "/healthz 200" || fail "/healthz at $ready"
    else
      fail "operator never ready: $(tail -5 "$tmp/operator.err")"
    fi
    leader=
    for u in "${urls[@]}"; do
      if [ "$(probe "$u" /metrics)" = 200 ] && grep -qx 'gpupool_leader 1' "$tmp/body"; then leader=$u; fi
    done
    [ -n "$leader" ] && pass "/metrics at $leader says gpupool_leader 1" || fail "no /metrics says gpupool_leader 1"
    holder=$(kc -n gpupool-system get lease gpupool-operator -o jsonpath='{.spec.holderIdentity}' 2>&1 || true)
    [ -n "$holder" ] && pass "Lease gpupool-system/gpupool-operator held by $holder" || fail "no Lease: $holder"
  fi
  kill -TERM "$operator_pid" 2>/dev/null || true
  if wait "$operator_pid"; then pass "operator stopped cleanly on SIGTERM"; else fail "operator exit status $? on SIGTERM"; fi
  operator_pid=
fi

# Kinds the test server serves: server-side dry run first, then for real.
served=(Secret ConfigMap Service GpuProvider ServiceMonitor PrometheusRule)
for kind in "${served[@]}"; do
  files=("$tmp/docs/"*"-$kind.yaml")
  [ -e "${files[0]}" ] || { fail "no $kind rendered"; continue; }
  args=()
  for f in "${files[@]}"; do args+=(-f "$f"); done
  if out=$(kc apply --dry-run=server "${args[@]}" 2>&1); then
    pass "$kind x${#files[@]}: kubectl apply --dry-run=server"
  else
    fail "$kind: kubectl apply --dry-run=server: $out"
    continue
  fi
  if out=$(kc apply "${args[@]}" 2>&1); then
    pass "$kind x${#files[@]}: kubectl apply: $(echo $out)"
  else
    fail "$kind: kubectl apply: $out"
  fi
done

# Kinds it does not serve: kubectl decodes them offline.
declare -A offline=(
  [Deployment]="set image --local -o name operator=example.com/probe:1"
  [RoleBinding]="set subject --local -o name --serviceaccount=gpupool-system:probe"
  [ClusterRoleBinding]="set subject --local -o name --serviceaccount=gpupool-system:probe"
  [ServiceAccount]="label --local -o name gpupool.io/checked=true"
  [Role]="label --local -o name gpupool.io/checked=true"
  [ClusterRole]="label --local -o name gpupool.io/checked=true"
)
for kind in "${!offline[@]}"; do
  files=("$tmp/docs/"*"-$kind.yaml")
  [ -e "${files[0]}" ] || { fail "no $kind rendered"; continue; }
  for f in "${files[@]}"; do
    # shellcheck disable=SC2086 # the command line is split on purpose
    if out=$(kc ${offline[$kind]} -f "$f" 2>&1); then
      pass "$out: kubectl ${offline[$kind]%% --local*} --local (not served by the test server)"
    else
      fail "$kind $(basename "$f"): kubectl ${offline[$kind]}: $out"
    fi
  done
done
unserved=("${!offline[@]}")

# Nothing rendered escaped the two lists.
for f in "$tmp/docs/"*.yaml; do
  kind=$(basename "$f" .yaml)
  kind=${kind#*-}
  case " ${served[*]} ${unserved[*]} CustomResourceDefinition " in
    *" $kind "*) ;;
    *) fail "rendered kind $kind is neither applied nor dry-run" ;;
  esac
done

# Read back what the operator will read.
got=$(kc get gpuproviders -o jsonpath='{range .items[*]}{.metadata.name}={.spec.type} {end}' 2>&1 || true)
if [ "$got" = "aws=aws fluence=fluence local=fake runpod=runpod " ]; then
  pass "GpuProviders stored: $got"
else
  fail "GpuProviders: got '$got'"
fi
ref=$(kc get gpuprovider fluence -o jsonpath='{.spec.credentialsSecret.namespace}/{.spec.credentialsSecret.name}' 2>&1 || true)
key=$(kc -n gpupool-system get secret gpupool-fluence-credentials -o jsonpath='{.data.apiKey}' 2>&1 | base64 -d 2>/dev/null || true)
if [ "$ref" = "gpupool-system/gpupool-fluence-credentials" ] && [ "$key" = "test-fluence-key" ]; then
  pass "GpuProvider fluence points at its chart-made Secret, which holds the key"
else
  fail "fluence credentials: ref '$ref', key '$key'"
fi
if kc -n monitoring get configmap gpupool-gpupool-operator-dashboard -o jsonpath='{.metadata.labels.grafana_dashboard}' 2>/dev/null | grep -qx 1; then
  pass "dashboard ConfigMap stored with grafana_dashboard=1"
else
  fail "dashboard ConfigMap missing or unlabelled"
fi

# The default values too (no providers): every served kind applies for real.
"$helm" template gpupool "$chart" --namespace gpupool-system >"$tmp/default.yaml"
mkdir -p "$tmp/default"
split_docs "$tmp/default.yaml" "$tmp/default"
if out=$(kc apply -f "$tmp/default/"*-Service.yaml 2>&1); then
  pass "default render: Service applied"
else
  fail "default render: Service: $out"
fi

finish
