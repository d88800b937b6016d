#pragma once
// The test API server: an HTTP front over MemoryStore that the real kubectl
// (1.32, see /work/shared/reference/kubernetes-api.md) and the operator's
// HTTP client accept. Used in-process by tests (start on 127.0.0.1:0) and as
// the `gpupool-test-apiserver` binary.
//
// Serves: /version (minor "32"), legacy discovery (/api, /api/v1, /apis,
// /apis/<g>, /apis/<g>/<v>) including CRD resources, a minimal OpenAPI v3
// (index + one document per group-version with PATCH operations so kubectl's
// default validating apply works; /openapi/v2 is 404), CRUD, list (selectors,
// paging: every page a snapshot at the first page's resourceVersion, 410
// Expired with a resume token past the history), watch (chunked, bookmarks,
// 410 as an ERROR event), merge / JSON /
// strategic-merge (built-ins only; 415 for CRs) / server-side apply patches
// (metadata.managedFields, 409 field-manager conflicts unless force=true;
// other writes name the User-Agent up to its first '/' when no fieldManager is
// given), status and
// scale subresources, the pods/eviction subresource honouring policy/v1
// PodDisruptionBudgets (operator/kube/memory/eviction.cpp; listed in
// discovery so `kubectl drain` uses it), delete with DeleteOptions, deletecollection,
// dryRun=All, fieldValidation, server-side Tables (printer columns, also on
// watch), bearer-token auth (401 Status otherwise; /version and health
// endpoints are open), every error as a Status object.
//
// Test admin endpoints (loopback peers only, no token needed):
//   POST   /_test/faults         {"verb","resource","count","code","reason","message"}
//   DELETE /_test/faults         clears fault rules
//   POST   /_test/drop-watches   ends every open watch stream
//   POST   /_test/compact        expires all resource versions so far
//   POST   /_test/bookmarks      sends a BOOKMARK to every watcher that allows them
//   POST   /_test/delay          {"ms": N} delays every request
//   GET    /_test/requests       {"counts":{"<verb> <resource>[/<sub>]":N},
//                                "writes":["<verb> <resource>[/<sub>] <ns>/<name>"]}
//                                since start or the last reset (bench/scale reads
//                                it); "writes": the last 64 write requests, oldest
//                                first (which object a stray write touched)
//   DELETE /_test/requests       resets those counts and writes
//   POST   /_test/load           a JSON object or List: creates each object as
//                                a client would, then writes the status it
//                                carries through the status subresource (a
//                                cluster as its controllers left it; the
//                                scale benchmark's --preload); answers
//                                {"items":[{"namespace","name","uid"}]}, in
//                                order. Stops at the first failure (4xx).
//
// Request counts: every resource request (not discovery, /version or
// /_test/) is counted under "<verb> <plural>[/<subresource>]", the verb as
// Kubernetes audit logs name it: get, list, watch, create, update, patch,
// delete, deletecollection. Counted before it is served, whatever its answer.
//
// Thread safety: start()/stop() from one thread; requests are served
// concurrently on the HTTP server's connection threads.

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "operator/clock/clock.h"
#include "operator/httpserver/http_server.h"
#include "operator/kube/memory/store.h"

namespace gpupool::apiserver {

struct ApiServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 = ephemeral
  std::string token;  // required bearer token; empty = no authentication
  // Period of the background bookmark broadcast (0 = never; tests can use
  // /_test/bookmarks or MemoryStore::send_bookmarks()).
  std::chrono::milliseconds bookmark_interval{std::chrono::seconds(30)};
  // How often a streaming watch checks whether its client went away.
  std::chrono::milliseconds watch_poll{std::chrono::milliseconds(100)};
};

struct ApiServerError {
  std::string message;
};

// Thread-safe tally of requests by "<verb> <resource>", and the last
// kKeptWrites write requests with the object each named; shared by the
// server's connection threads.
class RequestCounts {
 public:
  static constexpr std::size_t kKeptWrites = 64;
  // `object`: "<namespace>/<name>" ("/<name>" cluster-scoped, "" a collection).
  void add(const std::string& key, bool write = false, const std::string& object = "");
  std::map<std::string, int64_t> snapshot() const;
  std::deque<std::string> writes() const;  // "<key> <object>", oldest first
  void reset();

 private:
  mutable std::mutex mu_;
  std::map<std::string, int64_t> counts_;  // guarded by mu_
  std::deque<std::string> writes_;         // guarded by mu_
};

class TestApiServer {
 public:
  // Serves an existing store; `store` and `clock` must outlive the server.
  TestApiServer(kube::MemoryStore& store, const Clock& clock, ApiServerOptions options = {});
  // Owns a fresh store on `clock`.
  explicit TestApiServer(const Clock& clock, ApiServerOptions options = {},
                         kube::MemoryStoreOptions store_options = {});
  ~TestApiServer();
  TestApiServer(const TestApiServer&) = delete;
  TestApiServer& operator=(const TestApiServer&) = delete;

  Status<ApiServerError> start();
  void stop();
  uint16_t port() const;
  std::string base_url() const;  // "http://127.0.0.1:<port>"
  kube::MemoryStore& store() { return *store_; }

  // A kubeconfig (YAML) pointing at this server with its bearer token and
  // `namespace_name` as the context's default namespace.
  std::string kubeconfig(const std::string& namespace_name = "default") const;
  Status<ApiServerError> write_kubeconfig(const std::string& path,
                                          const std::string& namespace_name = "default") const;

  // Creates every object in `manifests` (YAML documents or a JSON object /
  // List), in order. Used by --load and by tests.
  Status<ApiServerError> load_manifests(const std::string& manifests);

  // The request counts described above, and their reset.
  std::map<std::string, int64_t> request_counts() const;
  void reset_request_counts();

 private:
  void handle(const http::HttpRequest& req, http::ResponseWriter& w);
  void bookmark_loop();

  std::unique_ptr<kube::MemoryStore> owned_store_;
  kube::MemoryStore* store_;
  const Clock& clock_;
  ApiServerOptions options_;
  std::unique_ptr<http::HttpServer> http_;
  std::thread bookmark_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  RequestCounts counts_;
};

// Converts YAML text (possibly several documents) to JSON values; empty
// documents are skipped. Errors name the document.
Result<std::vector<kube::Json>, ApiServerError> parse_yaml_documents(const std::string& text);

}  // namespace gpupool::apiserver
