#!/usr/bin/env python3
"""Scale benchmark of the real gpupool-operator binary (issue 12).

Starts the test API server (tests/apiserver) with the CRDs, P GpuProviders of
type "fake" (one gpupool-fake-provider-server process each, prices 1.00,
1.01, ... so provider 1 is the cheapest) and N GpuPools of R replicas that
allow every provider; then runs the operator and measures:

  sync      wall time from the operator's start until every pool reports
            status.replicas.ready >= R (seen on a watch), its CPU seconds
            (utime+stime, /proc/PID/stat) and RSS (VmHWM, VmRSS)
  rest      a window of several resync periods after the sync with nothing
            changed: CPU seconds, API requests by verb and resource (the test
            API server's /_test/requests), provider calls by method (each fake
            server's /calls), and the time one /metrics scrape takes
  scale     latency from a PATCH of a pool's scale subresource (replicas + 1)
            to the fake provider's arrival of the create for that pool
  failover  latency from a create answered NoCapacity (the cheapest provider
            still accepting is made to refuse creates) to the next create for
            the same pool at another provider
  restart   the first operator stopped with SIGTERM (time to exit), then a
            second process started against the converged cluster: wall time
            and CPU until every pool and instance has been reconciled once and
            the work queues are empty (its /metrics), peak RSS, the API
            writes and provider create/terminate calls it made (--no-restart
            skips it)

With --preload the cluster starts converged instead of empty: before the
operator starts, every pool gets its R GpuInstances, each with the machine
already bought at a fake provider (POST /machines) and the objects as the
operator writes them (pool finalizer, next-ordinal annotation and status;
instance labels, owner, finalizer, spec and status), loaded through the test
API server's POST /_test/load. The sync phase is then the first operator's
"initial sync of that cluster": every pool and instance reconciled once and
the work queues empty, with the writes and provider create/terminate calls it
made (a converged cluster needs none; any means the preload differs from what
the operator writes). Rest, latencies and restart follow as without it.

Only the Python standard library is used, so the benchmark needs nothing but
the three binaries (operator, test API server, fake provider server).
Latencies compare the driver's wall clock before the PATCH with the fake
server's wall clock at the create's arrival (same machine).

Exit status: 0 when every phase completed (performance goals are reported,
never enforced), 1 when something broke (a process died, a pool never synced,
a create never came), 2 on bad arguments.
"""

import argparse
import calendar
import http.client
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
from decimal import Decimal

GROUP = "/apis/gpupool.io/v1alpha1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
RESYNC_SECONDS = 30  # operator/core/pool_decision.h kResync


class BenchError(Exception):
    """Something broke: the benchmark cannot go on."""


# ---------------------------------------------------------------------------
# HTTP on loopback


def request(port, method, path, body=None, content_type="application/json", timeout=60,
            raw=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Content-Type": content_type} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read()
        if resp.status >= 300:
            raise BenchError(f"{method} {path}: HTTP {resp.status}: {text[:300]!r}")
        if raw:
            return text.decode()
        return json.loads(text) if text else {}
    finally:
        conn.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# /proc


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_memory_mib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0]) / 1024.0
    return out


# ---------------------------------------------------------------------------
# Processes


class Processes:
    """The processes the benchmark started; stopped in reverse order."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []  # (name, Popen)

    def start(self, name, args):
        out = open(os.path.join(self.workdir, name + ".out"), "w")
        err = open(os.path.join(self.workdir, name + ".log"), "w")
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.procs.append((name, p))
        return p

    def check_alive(self):
        for name, p in self.procs:
            if p.poll() is not None:
                raise BenchError(f"{name} exited with status {p.returncode} "
                                 f"(see {os.path.join(self.workdir, name + '.log')})")

    def stop(self, name, p, grace=30):
        """Stops one process (SIGTERM, then SIGKILL after `grace` seconds);
        a stopped process is no longer checked by check_alive."""
        self.procs = [(n, q) for n, q in self.procs if q is not p]
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def stop_all(self):
        for name, p in reversed(list(self.procs)):
            self.stop(name, p)


def wait_for(pred, timeout, what, procs, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")


# ---------------------------------------------------------------------------
# Manifests


def provider_name(i):
    return f"fake-{i + 1}"


def pool_name(i):
    return f"pool-{i:05d}"


def pool_manifest(i, replicas, n_providers):
    return {"apiVersion": "gpupool.io/v1alpha1", "kind": "GpuPool",
            "metadata": {"name": pool_name(i), "namespace": "default"},
            "spec": {"gpu": {"models": [{"name": "L40S"}]},
                     "replicas": {"count": replicas},
                     "providers": [{"name": provider_name(k)} for k in range(n_providers)]}}


def write_manifests(path, n_pools, replicas, provider_ports):
    docs = []
    for i, port in enumerate(provider_ports):
        docs.append({"apiVersion": "gpupool.io/v1alpha1", "kind": "GpuProvider",
                     "metadata": {"name": provider_name(i)},
                     "spec": {"type": "fake", "endpoint": f"http://127.0.0.1:{port}"}})
    for i in range(n_pools):
        docs.append(pool_manifest(i, replicas, len(provider_ports)))
    with open(path, "w") as f:
        # JSON documents are YAML; one per "---" keeps the loader's per-document errors.
        f.write("\n---\n".join(json.dumps(d) for d in docs))
        f.write("\n")


# ---------------------------------------------------------------------------
# --preload: a converged cluster, written as the operator writes it
#
# The objects below are what the operator writes for a fake provider's
# L40S offer (operator/controllers/pool_reconciler.cpp creates the instance
# with the pool's labels, owner and next-ordinal annotation;
# instance_reconciler.cpp adds its finalizer and, once the machine runs,
# status; core/pool_decision.cpp writes the pool's status). A change there
# shows here as writes at rest in the sync phase, which the driver reports.

FINALIZER = "gpupool.io/finalizer"
LABEL_POOL = "gpupool.io/pool"
LABEL_POOL_UID = "gpupool.io/pool-uid"
OFFER_ID = "l40s-1"
REGION = "local"
INCREMENT_SECONDS = 3600  # the fake server's --increment-seconds default
LOAD_CHUNK = 2000  # objects per POST /_test/load (the server takes 16 MiB bodies)


def provider_price(i):
    """The fake server's --price for provider i, as a Decimal."""
    return Decimal(f"{1 + i / 100:.2f}")


def money_text(d):
    """A Money as the operator prints it: no trailing zeros ("2", "2.04")."""
    t = f"{d:f}"
    return t.rstrip("0").rstrip(".") if "." in t else t


def rfc3339(unix_seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix_seconds))


def hash4(uid):
    """operator/core/pool_decision.cpp hash4: FNV-1a 32 of the uid, low 16 bits."""
    h = 2166136261
    for b in uid.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return f"{h & 0xFFFF:04x}"


def instance_name(pool, uid, ordinal):
    return f"{pool}-{hash4(uid)}-{ordinal}"


def billing_status():
    return {"alignment": "Launch", "egressPerGb": "0", "incrementSeconds": INCREMENT_SECONDS,
            "minimumKind": "Charge", "minimumSeconds": 0}


def spec_offer(provider_index):
    return {"billing": billing_status(), "gpuCount": 1, "gpuModel": "L40S", "offerId": OFFER_ID,
            "pricePerHour": money_text(provider_price(provider_index)),
            "provider": provider_name(provider_index), "providerType": "fake", "region": REGION,
            "spot": False, "tier": "Datacenter"}


def intent(pool, uid, name, provider_index):
    """The create the operator sends (remote_fake_provider.cpp encode_intent)."""
    return {"name": name, "poolUid": uid, "poolNamespace": "default", "poolName": pool,
            "offer": {"provider": provider_name(provider_index), "providerType": "fake",
                      "id": OFFER_ID, "region": REGION, "gpuModel": "L40S", "gpuCount": 1,
                      "pricePerHour": money_text(provider_price(provider_index)),
                      "billing": {"minimum": 0, "increment": INCREMENT_SECONDS,
                                  "alignment": "Launch", "minimumKind": "Charge",
                                  "egressPerGb": "0"},
                      "tier": "Datacenter", "spot": False, "capacityHint": -1},
            "labels": {}}


def preloaded_instance(pool, uid, name, provider_index, machine):
    launch = machine["launchTime"]
    price = money_text(provider_price(provider_index))
    return {
        "apiVersion": "gpupool.io/v1alpha1", "kind": "GpuInstance",
        "metadata": {"name": name, "namespace": "default", "finalizers": [FINALIZER],
                     "labels": {LABEL_POOL: pool, LABEL_POOL_UID: uid},
                     "ownerReferences": [{"apiVersion": "gpupool.io/v1alpha1",
                                          "blockOwnerDeletion": True, "controller": True,
                                          "kind": "GpuPool", "name": pool, "uid": uid}]},
        "spec": {"offer": spec_offer(provider_index), "pool": pool,
                 "usage": {"endpoint": {"healthCheck": {
                     "failureThreshold": 3, "periodSeconds": 10, "startupTimeoutSeconds": 900,
                     "successThreshold": 1, "timeoutSeconds": 2, "unhealthyTimeoutSeconds": 600},
                     "healthPath": "/health", "port": 8000},
                     "mode": "Node",
                     "node": {"drainTimeoutSeconds": 300, "registrationTimeoutSeconds": 900}}},
        "status": {"accrued": "0", "billing": billing_status(), "launchTime": rfc3339(launch),
                   "observedGeneration": 0,
                   "paidThrough": rfc3339(launch + INCREMENT_SECONDS), "phase": "Running",
                   "pricePerHour": price, "providerId": machine["providerId"],
                   "region": REGION},
    }


def month_end(unix_seconds):
    t = time.gmtime(unix_seconds)
    y, m = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return calendar.timegm((y, m, 1, 0, 0, 0))


def pool_status(pool, replicas, provider_index, launches, now):
    """core/pool_decision.cpp's status of a pool whose `replicas` machines all
    run, launched at `launches` (unix seconds) in this month: each has paid
    its first increment, and the projection adds the increments left to the
    month's end (core/spend.cpp)."""
    price = provider_price(provider_index)
    burn = price * replicas
    rest = sum(price * max(0, math.ceil((month_end(l) - l - INCREMENT_SECONDS) / INCREMENT_SECONDS))
               for l in launches)
    ready = f"{replicas}/{replicas} machines ready, 0 provisioning, 0 parked"
    t = rfc3339(now)

    def cond(kind, status, reason, message=None):
        c = {"lastTransitionTime": t, "observedGeneration": 1, "reason": reason,
             "status": status, "type": kind}
        if message is not None:
            c["message"] = message
        return c

    return {
        "conditions": [
            cond("Ready", "True", "AllMachinesReady", ready),
            cond("Progressing", "False", "Stable", ready),
            cond("Degraded", "False", "AsExpected"),
            cond("ScalingActive", "False", "ScalingDisabled",
                 "spec.autoscaling.enabled is false: the pool keeps spec.replicas.count"),
            cond("BudgetExceeded", "False", "WithinBudget", f"burn ${burn:.2f}/h"),
        ],
        "observedGeneration": 1,
        "replicas": {"desired": replicas, "parked": 0, "provisioning": 0, "ready": replicas},
        "selector": f"{LABEL_POOL}={pool}",
        "spend": {"accrued": money_text(burn), "committed": money_text(burn),
                  "hourlyBurn": money_text(burn), "lastUpdated": t,
                  "month": time.strftime("%Y-%m", time.gmtime(now)),
                  "monthToDate": money_text(burn), "projectedMonth": money_text(burn + rest)},
        "terminatedSpend": "0",
    }


def preloaded_pool(i, replicas, n_providers, status=None):
    doc = pool_manifest(i, replicas, n_providers)
    doc["metadata"]["finalizers"] = [FINALIZER]
    doc["metadata"]["annotations"] = {"gpupool.io/next-ordinal": str(replicas + 1)}
    if status is not None:
        doc["status"] = status
    return doc


def load_objects(api_port, objects):
    """POST /_test/load in chunks; the created objects' uids, in order."""
    uids = []
    for k in range(0, len(objects), LOAD_CHUNK):
        out = request(api_port, "POST", "/_test/load",
                      {"apiVersion": "v1", "kind": "List", "items": objects[k:k + LOAD_CHUNK]},
                      timeout=600)
        uids += [o["uid"] for o in out["items"]]
    return uids


def write_pool_statuses(api_port, statuses):
    """Merge-patches each pool's /status (pool i gets statuses[i]) on one
    kept-alive connection: the pool's status depends on its machines' launch
    times, which exist only after the pool's uid names them."""
    conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=60)
    try:
        for i, st in enumerate(statuses):
            conn.request("PATCH", f"{GROUP}/namespaces/default/gpupools/{pool_name(i)}/status",
                         body=json.dumps({"status": st}).encode(),
                         headers={"Content-Type": "application/merge-patch+json"})
            resp = conn.getresponse()
            text = resp.read()
            if resp.status >= 300:
                raise BenchError(f"pool {pool_name(i)} status: HTTP {resp.status}: {text[:300]!r}")
    finally:
        conn.close()


def preload(args, api_port, ports):
    """Loads the converged cluster: pools (status written after their machines
    are bought, below), machines at the fakes, instances. Pool i is served by
    provider i % P, as a converged run spreads pools when providers are
    busy. Answers {"pools", "machines", "instances", "seconds"} timings."""
    t = time.monotonic()
    timing = {}
    pools = [preloaded_pool(i, args.replicas, len(ports)) for i in range(args.pools)]
    uids = load_objects(api_port, pools)
    timing["poolsSeconds"] = round(time.monotonic() - t, 1)

    t1 = time.monotonic()
    by_provider = {}  # provider index -> [(pool index, name)]
    for i, uid in enumerate(uids):
        for ordinal in range(1, args.replicas + 1):
            by_provider.setdefault(i % len(ports), []).append(
                (i, instance_name(pool_name(i), uid, ordinal)))
    machines = {}  # name -> machine
    for k, members in by_provider.items():
        for c in range(0, len(members), LOAD_CHUNK):
            chunk = members[c:c + LOAD_CHUNK]
            out = request(ports[k], "POST", "/machines",
                          {"intents": [intent(pool_name(i), uids[i], n, k) for i, n in chunk]},
                          timeout=600)
            for (_, n), m in zip(chunk, out["machines"]):
                machines[n] = m
    timing["machinesSeconds"] = round(time.monotonic() - t1, 1)

    t2 = time.monotonic()
    instances = []
    statuses = []
    now = int(time.time())
    for i, uid in enumerate(uids):
        k = i % len(ports)
        names = [instance_name(pool_name(i), uid, o) for o in range(1, args.replicas + 1)]
        for n in names:
            instances.append(preloaded_instance(pool_name(i), uid, n, k, machines[n]))
        statuses.append(pool_status(pool_name(i), args.replicas, k,
                                    [machines[n]["launchTime"] for n in names], now))
    load_objects(api_port, instances)
    timing["instancesSeconds"] = round(time.monotonic() - t2, 1)
    t3 = time.monotonic()
    write_pool_statuses(api_port, statuses)
    timing["poolStatusSeconds"] = round(time.monotonic() - t3, 1)
    timing["seconds"] = round(time.monotonic() - t, 1)
    return timing


# ---------------------------------------------------------------------------
# Pool readiness, from a watch


class PoolWatcher(threading.Thread):
    """Keeps, for every pool, its uid and ready replicas, from list + watch;
    records when the number of pools with ready >= target last changed."""

    def __init__(self, port, target):
        super().__init__(daemon=True)
        self.port = port
        self.target = target
        self.lock = threading.Lock()
        self.uid = {}  # name -> uid
        self.ready = {}  # name -> ready replicas
        self.synced_at = None  # monotonic time when every pool reached target
        self.error = None
        self.stopping = False

    def set_target(self, target):
        with self.lock:
            self.target = target

    def count_ready(self):
        with self.lock:
            return sum(1 for r in self.ready.values() if r >= self.target), len(self.ready)

    def _apply(self, obj, deleted=False):
        name = obj["metadata"]["name"]
        with self.lock:
            if deleted:
                self.ready.pop(name, None)
                return
            self.uid[name] = obj["metadata"]["uid"]
            self.ready[name] = obj.get("status", {}).get("replicas", {}).get("ready", 0)
            if self.synced_at is None and self.ready and all(
                    r >= self.target for r in self.ready.values()):
                self.synced_at = time.monotonic()

    def _list(self):
        cont, rv = "", ""
        while True:
            q = "?limit=2000" + ("&continue=" + urllib.parse.quote(cont) if cont else "")
            page = request(self.port, "GET", f"{GROUP}/namespaces/default/gpupools{q}")
            for obj in page["items"]:
                self._apply(obj)
            rv = page["metadata"]["resourceVersion"]
            cont = page["metadata"].get("continue", "")
            if not cont:
                return rv

    def _watch(self, rv):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3600)
        conn.request("GET", f"{GROUP}/namespaces/default/gpupools?watch=true"
                     f"&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=3000")
        resp = conn.getresponse()
        if resp.status != 200:
            raise BenchError(f"watch answered HTTP {resp.status}")
        try:
            while not self.stopping:
                line = resp.readline()
                if not line:
                    return rv
                ev = json.loads(line)
                kind, obj = ev["type"], ev["object"]
                if kind == "ERROR":
                    return None  # expired: relist
                rv = obj["metadata"].get("resourceVersion", rv)
                if kind != "BOOKMARK":
                    self._apply(obj, deleted=(kind == "DELETED"))
        finally:
            conn.close()
        return rv

    def run(self):
        try:
            rv = None
            while not self.stopping:
                if rv is None:
                    rv = self._list()
                rv = self._watch(rv)
        except Exception as e:  # reported by the main thread
            self.error = e


# ---------------------------------------------------------------------------
# The phases


def provider_calls(ports):
    """Per provider: {"counts": {...}, "creates": [...]}."""
    return [request(p, "GET", "/calls") for p in ports]


def clear_provider_calls(ports):
    for p in ports:
        request(p, "DELETE", "/calls")


def sum_counts(calls):
    total = {}
    for c in calls:
        for k, v in c["counts"].items():
            total[k] = total.get(k, 0) + v
    return dict(sorted(total.items()))


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100.0 * len(s)) - 1))]


def find_create(ports, pool_uid, after_ms, ok=None, exclude_port=None):
    """The earliest create for `pool_uid` that arrived at or after `after_ms`."""
    best = None
    for port in ports:
        if port == exclude_port:
            continue
        for c in request(port, "GET", "/calls")["creates"]:
            if c["poolUid"] == pool_uid and c["t"] >= after_ms and (ok is None or c["ok"] == ok):
                if best is None or c["t"] < best[0]["t"]:
                    best = (c, port)
    return best


def scale_pool(api_port, name, replicas):
    request(api_port, "PATCH", f"{GROUP}/namespaces/default/gpupools/{name}/scale",
            {"spec": {"replicas": replicas}}, content_type="application/merge-patch+json")


def measure_scale_latency(args, api_port, ports, watcher, procs):
    """Scale-subresource PATCH -> create at the provider, one pool at a time."""
    samples = []
    n = min(args.latency_samples, args.pools)
    for k in range(n):
        i = (k * args.pools) // n
        name = pool_name(i)
        uid = watcher.uid[name]
        sent_ms = time.time() * 1000.0
        scale_pool(api_port, name, args.replicas + 1)
        found = wait_for(lambda: find_create(ports, uid, sent_ms), args.create_timeout,
                         f"a create for {name} after its scale-up", procs, step=0.1)
        samples.append(found[0]["t"] - sent_ms)
    return samples


def measure_failover_latency(args, api_port, ports, watcher, procs):
    """NoCapacity at the cheapest provider -> the next create elsewhere.

    Sample k makes provider k+1 refuse every create (its offer still
    advertises capacity, as when a create loses a race for the last machine)
    and scales one more pool; providers 1..k refuse too and are in the
    operator's no-capacity cache, so each sample meets a fresh refusal.

    A pool may plan around the refusing provider instead: when that
    provider's call slot is taken at the moment the pool reads offers
    (--provider-concurrency; docs/operations.md), it buys at the next one
    without a refusal. Such a sample has no failover to time: it is counted
    in `planned_around`, not in the samples. A pool that creates nowhere
    still fails the run."""
    samples = []
    planned_around = 0
    n = min(args.failover_samples, len(ports) - 1, args.pools)
    for k in range(n):
        request(ports[k], "POST", "/refuse-creates", {"times": 1000000, "kind": "NoCapacity"})
        i = (k * args.pools) // max(1, n) + args.pools // (2 * max(1, n))
        name = pool_name(min(i, args.pools - 1))
        uid = watcher.uid[name]
        sent_ms = time.time() * 1000.0
        scale_pool(api_port, name, args.replicas + 2)
        # The first refusal may come from any refusing provider (the operator
        # may retry one whose refusal it cached earlier); the next offer's
        # create is the pool's next create at another provider, whatever
        # its answer.
        first = wait_for(lambda: find_create(ports[:k + 1], uid, sent_ms, ok=False) or
                         find_create(ports, uid, sent_ms, ok=True),
                         args.create_timeout, f"a refused create for {name}", procs, step=0.1)
        refused = find_create(ports[:k + 1], uid, sent_ms, ok=False)
        if refused is None or refused[0]["t"] > first[0]["t"]:
            planned_around += 1
            continue
        nxt = wait_for(lambda: find_create(ports, uid, refused[0]["t"], exclude_port=refused[1]),
                       args.create_timeout, f"the next create for {name}", procs, step=0.1)
        samples.append(nxt[0]["t"] - refused[0]["t"])
    return samples, planned_around


def api_requests(api_port):
    """The test API server's request counts and its last write requests
    ("<verb> <resource> <ns>/<name>"), read together."""
    got = request(api_port, "GET", "/_test/requests")
    return got["counts"], got["writes"]


WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def writes(counts, resource_prefix):
    return sum(v for k, v in counts.items()
               if k.split(" ")[0] in WRITE_VERBS and k.split(" ")[1].split("/")[0] == resource_prefix)


def run(args, workdir):
    procs = Processes(workdir)
    result = {"pools": args.pools, "replicas": args.replicas, "providers": args.providers,
              "workers": args.workers, "spendStatusPeriodSeconds": args.spend_period,
              "restSeconds": args.rest_seconds}
    try:
        # Fake providers.
        ports = []
        for i in range(args.providers):
            pf = os.path.join(workdir, f"fake-{i + 1}.port")
            procs.start(f"fake-{i + 1}", [
                os.path.join(args.bin_dir, "gpupool-fake-provider-server"), "--port-file", pf,
                "--boot-seconds", str(args.boot_seconds), "--price", f"{1 + i / 100:.2f}"])
            wait_for(lambda: os.path.exists(pf), 30, f"fake provider {i + 1}", procs)
            with open(pf) as f:
                ports.append(int(f.read()))

        # API server with the CRDs and every object.
        manifests = os.path.join(workdir, "objects.yaml")
        # With --preload the pools come later, with their instances.
        write_manifests(manifests, 0 if args.preload else args.pools, args.replicas, ports)
        crds = [os.path.join(args.source_dir, "crds", f) for f in
                ("gpupool.io_gpupools.yaml", "gpupool.io_gpuinstances.yaml",
                 "gpupool.io_gpuproviders.yaml")]
        kubeconfig = os.path.join(workdir, "kubeconfig")
        t = time.monotonic()
        api = procs.start("apiserver", [
            os.path.join(args.bin_dir, "gpupool-test-apiserver"), "--kubeconfig-out", kubeconfig,
            "--history-size", str(args.history_size), "--load", *crds, manifests])
        out_path = os.path.join(workdir, "apiserver.out")
        line = wait_for(lambda: open(out_path).read().strip(), 600, "the test API server", procs)
        api_port = int(line.rsplit(":", 1)[1])
        result["loadSeconds"] = round(time.monotonic() - t, 1)
        log(f"API server on {api_port} with {args.pools} pools and {args.providers} providers "
            f"({result['loadSeconds']} s to load)")

        if args.preload:
            result["preload"] = preload(args, api_port, ports)
            log(f"preloaded {args.pools} pools, {args.pools * args.replicas} instances and "
                f"machines in {result['preload']['seconds']} s ({result['preload']})")
            # The fakes' machines boot (--boot-seconds) before the operator looks.
            time.sleep(args.boot_seconds + 1)

        watcher = PoolWatcher(api_port, args.replicas)
        watcher.start()
        wait_for(lambda: watcher.count_ready()[1] == args.pools, 600, "the pool list", procs)

        # The operator.
        health = free_port()
        op_args = [args.operator, "run", "--kubeconfig", kubeconfig,
                   "--health-addr", f"127.0.0.1:{health}", "--workers", str(args.workers),
                   "--spend-status-period-seconds", str(args.spend_period)]
        if args.kube_api_qps is not None:
            op_args += ["--kube-api-qps", f"{args.kube_api_qps:g}"]
        if args.kube_api_burst is not None:
            op_args += ["--kube-api-burst", str(args.kube_api_burst)]
        for extra in args.operator_arg:
            op_args += extra.split("=", 1) if extra.startswith("--") and "=" in extra else [extra]
        result["operatorArgs"] = " ".join(op_args[1:]).replace(kubeconfig, "KUBECONFIG")
        request(api_port, "DELETE", "/_test/requests")
        clear_provider_calls(ports)
        t0 = time.monotonic()
        op = procs.start("operator", op_args)
        progress = []
        last = 0.0

        def synced():
            nonlocal last
            if watcher.error:
                raise BenchError(f"pool watch failed: {watcher.error}")
            now = time.monotonic()
            if now - last >= args.progress_seconds:
                last = now
                ready, total = watcher.count_ready()
                mem = proc_memory_mib(op.pid)
                progress.append({"s": round(now - t0, 1), "ready": ready,
                                 "cpu": round(proc_cpu_seconds(op.pid), 1),
                                 "rssMiB": round(mem["VmRSS"], 1)})
                log(f"  {now - t0:6.1f} s: {ready}/{total} pools ready, "
                    f"cpu {progress[-1]['cpu']} s, rss {progress[-1]['rssMiB']} MiB")
            return watcher.synced_at

        if args.preload:
            # A converged cluster: synced once everything was reconciled once.
            synced_at = wait_reconciled(args, health, op, t0, procs)
        else:
            synced_at = wait_for(synced, args.sync_timeout, "every pool to be ready", procs,
                                 step=0.5)
        result["syncSeconds"] = round(synced_at - t0, 1)
        result["syncCpuSeconds"] = round(proc_cpu_seconds(op.pid), 1)
        mem = proc_memory_mib(op.pid)
        result["syncRssMiB"] = round(mem["VmRSS"], 1)
        result["syncPeakRssMiB"] = round(mem["VmHWM"], 1)
        result["syncProgress"] = progress
        result["syncRequests"], result["syncWrites"] = api_requests(api_port)
        result["syncInstanceWrites"] = writes(result["syncRequests"], "gpuinstances")
        result["syncPoolWrites"] = writes(result["syncRequests"], "gpupools")
        if args.preload:
            calls = sum_counts(provider_calls(ports))
            result["syncProviderCalls"] = calls
            result["syncProviderMutatingCalls"] = sum(
                v for k, v in calls.items() if k in ("create", "terminate"))
        log(f"synced in {result['syncSeconds']} s, {result['syncCpuSeconds']} s CPU, "
            f"peak RSS {result['syncPeakRssMiB']} MiB, {result['syncInstanceWrites']} GpuInstance "
            f"and {result['syncPoolWrites']} GpuPool writes"
            + (f", {result['syncProviderMutatingCalls']} provider create/terminate"
               if args.preload else ""))

        live = sum(request(p, "GET", "/ledger")["live"] for p in ports)
        result["liveMachinesAfterSync"] = live

        # Rest: let trailing work settle, then count.
        time.sleep(args.settle_seconds)
        procs.check_alive()
        request(api_port, "DELETE", "/_test/requests")
        clear_provider_calls(ports)
        cpu0 = proc_cpu_seconds(op.pid)
        time.sleep(args.rest_seconds)
        procs.check_alive()
        rest_cpu = proc_cpu_seconds(op.pid) - cpu0
        counts, result["restWrites"] = api_requests(api_port)
        calls = provider_calls(ports)
        mem = proc_memory_mib(op.pid)
        result["restCpuSeconds"] = round(rest_cpu, 2)
        result["restCpuSecondsPerResync"] = round(rest_cpu * RESYNC_SECONDS / args.rest_seconds, 2)
        result["restRssMiB"] = round(mem["VmRSS"], 1)
        result["restRequests"] = counts
        result["restInstanceWrites"] = writes(counts, "gpuinstances")
        result["restPoolStatusWrites"] = sum(
            v for k, v in counts.items() if k in ("update gpupools/status", "patch gpupools/status"))
        result["restPoolStatusWriteBound"] = args.pools * (args.rest_seconds // args.spend_period + 1)
        result["restProviderCalls"] = sum_counts(calls)
        result["restProviderMutatingCalls"] = sum(
            v for k, v in result["restProviderCalls"].items() if k in ("create", "terminate"))
        t = time.monotonic()
        scrape = request(health, "GET", "/metrics", timeout=600, raw=True)
        result["metricsScrapeSeconds"] = round(time.monotonic() - t, 2)
        result["metricsScrapeBytes"] = len(scrape)
        log(f"rest {args.rest_seconds} s: {result['restCpuSeconds']} s CPU, "
            f"{result['restInstanceWrites']} GpuInstance writes, "
            f"{result['restPoolStatusWrites']} GpuPool status writes, "
            f"{result['restProviderMutatingCalls']} provider create/terminate, "
            f"/metrics in {result['metricsScrapeSeconds']} s")

        if args.preload and args.check_converged:
            check_converged(result, api_port)

        # Latencies.
        clear_provider_calls(ports)
        lat = measure_scale_latency(args, api_port, ports, watcher, procs)
        result["scaleToCreateMs"] = summarise(lat)
        log(f"scale -> create: {result['scaleToCreateMs']}")
        clear_provider_calls(ports)
        fo, planned_around = measure_failover_latency(args, api_port, ports, watcher, procs)
        result["noCapacityToNextCreateMs"] = summarise(fo)
        result["failoverPlannedAround"] = planned_around
        log(f"NoCapacity -> next create: {result['noCapacityToNextCreateMs']} "
            f"({planned_around} sample(s) planned around the refusing provider)")

        mem = proc_memory_mib(op.pid)
        result["finalPeakRssMiB"] = round(mem["VmHWM"], 1)
        result["totalCpuSeconds"] = round(proc_cpu_seconds(op.pid), 1)
        procs.check_alive()
        t = time.monotonic()
        code = procs.stop("operator", op, grace=60)
        result["operatorExit"] = code
        result["operatorExitSeconds"] = round(time.monotonic() - t, 1)
        if code != 0:
            raise BenchError(f"the operator exited with status {code} on SIGTERM")

        if args.restart:
            result.update(measure_restart(args, op_args, api_port, ports, procs))
        watcher.stopping = True
        return result
    finally:
        procs.stop_all()


def check_converged(result, api_port):
    """--check-converged: a preloaded cluster is what the operator would
    have left, so the operator buys and ends nothing and writes no GpuPool
    while syncing it, and writes no GpuInstance and no GpuPool status at
    rest (with a --spend-period shorter than the rest window, a pool's
    spend figures are recomputed and compared there); otherwise the
    preload differs from what the operator writes (or the operator churns).
    GpuInstance writes during the sync count too: an instance reconciled
    before its GpuProvider's adapter is built waits without writing
    (instance_reconciler.cpp)."""
    wrong = {k: result[k] for k in ("syncProviderMutatingCalls", "syncPoolWrites",
                                    "syncInstanceWrites",
                                    "restInstanceWrites", "restPoolStatusWrites",
                                    "restProviderMutatingCalls") if result[k] != 0}
    if wrong:
        # Which objects, and what the operator left in each instance's
        # status: a stray write says why it happened.
        lines = []
        for phase in ("syncWrites", "restWrites"):
            for w in result.get(phase, []):
                verb, resource, obj = (w.split(" ") + ["", ""])[:3]
                if resource.split("/")[0] not in ("gpuinstances", "gpupools"):
                    continue
                line = f"{phase[:4]}: {w}"
                ns, _, name = obj.partition("/")
                if resource.startswith("gpuinstances") and name:
                    try:
                        st = request(api_port, "GET",
                                     f"{GROUP}/namespaces/{ns}/gpuinstances/{name}").get("status", {})
                        line += f" -> phase {st.get('phase')!r}, message {st.get('message')!r}"
                    except BenchError as e:
                        line += f" (cannot read it: {e})"
                lines.append(line)
        raise BenchError(f"the preloaded cluster is not converged for this operator: {wrong}\n  "
                         + "\n  ".join(lines))


def metric_samples(port, timeout=30):
    """{(name, controller): value} of the operator's /metrics, the lines with
    a controller label only."""
    out = {}
    text = request(port, "GET", "/metrics", timeout=timeout, raw=True)
    for line in text.splitlines():
        m = re.match(r'^(\w+)\{controller="([^"]+)"\} (\S+)$', line)
        if m:
            out[(m.group(1), m.group(2))] = float(m.group(3))
    return out


def wait_reconciled(args, health, op, t0, procs):
    """Waits until the operator `op` (its /metrics on `health`) has
    reconciled every pool and every instance at least once (the
    controllers' gpupool_reconcile_total) and every work queue is empty;
    answers that moment (time.monotonic())."""
    instances = args.pools * args.replicas
    last = 0.0
    next_scrape = 0.0
    scrapes = []  # seconds each answered scrape took: the sync time's precision

    def synced():
        nonlocal last, next_scrape
        if time.monotonic() < next_scrape:
            return None
        t = time.monotonic()
        try:
            # One scrape at a time, however long it takes: a client that
            # gives up and asks again leaves the operator building the
            # abandoned answer (at 10,000 x 5 a scrape under load took
            # over 30 s, and retries kept a core busy with scrapes).
            m = metric_samples(health, timeout=600)
        except (OSError, urllib.error.URLError, http.client.HTTPException, BenchError):
            m = None
        # A scrape is work for the operator too (each reads every pool and
        # instance): the next one waits 2 s, or twice as long as this one
        # took, so scraping stays a third of the time at most.
        took = time.monotonic() - t
        next_scrape = time.monotonic() + max(2.0, 2 * took)
        if m is None:
            return None
        pools = m.get(("gpupool_reconcile_total", "gpupool"), 0)
        insts = m.get(("gpupool_reconcile_total", "gpuinstance"), 0)
        queued = sum(v for (name, _), v in m.items() if name == "gpupool_workqueue_depth")
        now = time.monotonic()
        if now - last >= args.progress_seconds:
            last = now
            log(f"  {now - t0:6.1f} s: {pools:.0f} pool and {insts:.0f} instance reconciles, "
                f"{queued:.0f} queued, cpu {proc_cpu_seconds(op.pid):.1f} s, "
                f"rss {proc_memory_mib(op.pid)['VmRSS']:.1f} MiB (scrape {took:.1f} s)")
        scrapes.append(round(took, 1))
        return now if pools >= args.pools and insts >= instances and queued == 0 else None

    at = wait_for(synced, args.sync_timeout, "the operator to reconcile everything once",
                  procs, step=0.5)
    log(f"  synced: the last scrape took {scrapes[-1]} s (every scrape: {scrapes})")
    return at


def measure_restart(args, op_args, api_port, ports, procs):
    """A new operator process against the cluster the first one bought:
    the "initial sync of that cluster" of issue 12. Synced when every pool
    and every instance has been reconciled at least once (the controllers'
    gpupool_reconcile_total) and every work queue is empty; the API writes
    and provider mutating calls it made on the way (a converged cluster
    needs none)."""
    health = free_port()
    restart_args = list(op_args)
    i = restart_args.index("--health-addr")
    restart_args[i + 1] = f"127.0.0.1:{health}"
    request(api_port, "DELETE", "/_test/requests")
    clear_provider_calls(ports)
    t0 = time.monotonic()
    op = procs.start("operator-restart", restart_args)

    at = wait_reconciled(args, health, op, t0, procs)
    counts, _ = api_requests(api_port)
    calls = sum_counts(provider_calls(ports))
    mem = proc_memory_mib(op.pid)
    out = {
        "restartSyncSeconds": round(at - t0, 1),
        "restartSyncCpuSeconds": round(proc_cpu_seconds(op.pid), 1),
        "restartPeakRssMiB": round(mem["VmHWM"], 1),
        "restartRequests": counts,
        "restartInstanceWrites": writes(counts, "gpuinstances"),
        "restartPoolWrites": writes(counts, "gpupools"),
        "restartProviderCalls": calls,
        "restartProviderMutatingCalls": sum(
            v for k, v in calls.items() if k in ("create", "terminate")),
    }
    log(f"restart: every object reconciled in {out['restartSyncSeconds']} s, "
        f"{out['restartSyncCpuSeconds']} s CPU, peak RSS {out['restartPeakRssMiB']} MiB, "
        f"{out['restartInstanceWrites']} GpuInstance and {out['restartPoolWrites']} GpuPool writes, "
        f"{out['restartProviderMutatingCalls']} provider create/terminate")
    code = procs.stop("operator-restart", op, grace=60)
    if code != 0:
        raise BenchError(f"the restarted operator exited with status {code} on SIGTERM")
    return out


def summarise(samples):
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "p50": round(statistics.median(samples), 1),
            "p99": round(percentile(samples, 99), 1), "max": round(max(samples), 1)}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--operator", default=os.path.join(source, "build-rel/bin/gpupool-operator"))
    ap.add_argument("--bin-dir", help="folder of gpupool-test-apiserver and "
                    "gpupool-fake-provider-server (default: the operator's)")
    ap.add_argument("--source-dir", default=source, help="repository (for crds/)")
    ap.add_argument("--pools", type=int, default=10000)
    ap.add_argument("--replicas", type=int, default=5)
    ap.add_argument("--providers", type=int, default=9)
    ap.add_argument("--workers", type=int, default=4, help="operator --workers")
    ap.add_argument("--kube-api-qps", type=float,
                    help="operator --kube-api-qps (default: the operator's, 50)")
    ap.add_argument("--kube-api-burst", type=int,
                    help="operator --kube-api-burst (default: the operator's, 100)")
    ap.add_argument("--spend-period", type=int, default=60,
                    help="operator --spend-status-period-seconds")
    ap.add_argument("--boot-seconds", type=int, default=1, help="fake machines' boot time")
    ap.add_argument("--history-size", type=int, default=200000,
                    help="API server watch history (changes)")
    ap.add_argument("--sync-timeout", type=float, default=900)
    ap.add_argument("--settle-seconds", type=float, default=10,
                    help="pause between the sync and the rest window")
    ap.add_argument("--rest-seconds", type=int, default=4 * RESYNC_SECONDS)
    ap.add_argument("--latency-samples", type=int, default=50)
    ap.add_argument("--failover-samples", type=int, default=5)
    ap.add_argument("--create-timeout", type=float, default=60)
    ap.add_argument("--progress-seconds", type=float, default=15)
    ap.add_argument("--operator-arg", action="append", default=[],
                    help="another operator flag, as --flag=value (repeatable)")
    ap.add_argument("--no-restart", dest="restart", action="store_false",
                    help="skip the restart phase (a second operator process syncing the "
                    "converged cluster)")
    ap.add_argument("--preload", action="store_true",
                    help="start from a converged cluster (every pool's instances and machines "
                    "loaded before the operator starts) instead of an empty one")
    ap.add_argument("--check-converged", action="store_true",
                    help="with --preload: fail when the operator buys or ends a machine while "
                    "syncing, or writes a GpuInstance or calls create/terminate at rest")
    ap.add_argument("--json-out", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = ap.parse_args()
    if args.bin_dir is None:
        args.bin_dir = os.path.dirname(os.path.abspath(args.operator))
    for v, what in ((args.pools, "--pools"), (args.replicas, "--replicas"),
                    (args.providers, "--providers"), (args.workers, "--workers"),
                    (args.spend_period, "--spend-period"), (args.rest_seconds, "--rest-seconds"),
                    (args.history_size, "--history-size")):
        if v < 1:
            ap.error(f"{what} must be >= 1")
    if (args.kube_api_qps is not None and args.kube_api_qps < 0) or (
            args.kube_api_burst is not None and args.kube_api_burst < 1):
        ap.error("--kube-api-qps must be >= 0 and --kube-api-burst >= 1")
    if args.check_converged and not args.preload:
        ap.error("--check-converged needs --preload")
    if args.providers < 2 and args.failover_samples > 0:
        ap.error("the failover measurement needs --providers >= 2 (or --failover-samples 0)")
    for b in (args.operator, os.path.join(args.bin_dir, "gpupool-test-apiserver"),
              os.path.join(args.bin_dir, "gpupool-fake-provider-server")):
        if not os.access(b, os.X_OK):
            ap.error(f"{b} is not an executable (build it first)")

    # SIGTERM (and SIGINT, which a background job ignores) stop the run
    # through the same cleanup as a failure: every started process is stopped.
    def stop_on_signal(signum, _frame):
        raise BenchError(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    workdir = tempfile.mkdtemp(prefix="gpupool-scale-")
    ok = False
    try:
        result = run(args, workdir)
        ok = True
    except BenchError as e:
        log(f"FAILED: {e}")
        log(f"logs kept in {workdir}")
        return 1
    finally:
        if ok and not args.keep:
            subprocess.run(["rm", "-rf", workdir], check=False)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
