// HttpKubeClient against a scripted loopback HTTP server: request shapes,
// every error mapping, retries, rate limiting and the watch stream.
#include "operator/kube/client/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <thread>

#include "operator/httpserver/http_server.h"

namespace gpupool::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Resource kPools{"gpupool.io", "v1alpha1", "gpupools", "GpuPool", true};
const Resource kNodes{"", "v1", "nodes", "Node", false};

// A loopback server whose answers the test scripts per request.
class ScriptedServer {
 public:
  using Script = std::function<void(const http::HttpRequest&, http::ResponseWriter&)>;

  ScriptedServer()
      : server_([this](const http::HttpRequest& req, http::ResponseWriter& w) {
          Script s;
          {
            std::lock_guard lock(mu_);
            requests_.push_back(req);
            s = script_;
          }
          s(req, w);
        }) {
    EXPECT_TRUE(server_.start().ok());
  }
  ~ScriptedServer() { server_.stop(); }

  void on(Script s) {
    std::lock_guard lock(mu_);
    script_ = std::move(s);
  }
  void reply(int status, std::string body, http::Headers headers = {}) {
    headers.set("Content-Type", "application/json");
    on([=](const http::HttpRequest&, http::ResponseWriter& w) { w.send(status, headers, body); });
  }
  std::vector<http::HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  http::HttpRequest last() {
    std::lock_guard lock(mu_);
    return requests_.back();
  }
  std::string url() const { return server_.base_url(); }
  void stop() { server_.stop(); }

 private:
  std::mutex mu_;
  Script script_;
  std::vector<http::HttpRequest> requests_;
  http::HttpServer server_;
};

SystemClock& real_clock() {
  static SystemClock c;
  return c;
}

ClientConfig config_for(const ScriptedServer& s) {
  ClientConfig c;
  c.server = s.url();
  c.qps = 0;  // no rate limiting unless a test asks
  c.request_timeout = milliseconds(5000);
  c.credentials = CredentialSource::fixed({"test-token", "", ""});
  return c;
}

std::string status_body(int code, const std::string& reason, const std::string& message,
                        const std::string& extra = "") {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":")" +
         message + R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) + extra + "}";
}

TEST(Paths, CoreGroupNamespacedClusterAndSubresources) {
  EXPECT_EQ(resource_path(kNodes, "ignored", "n1"), "/api/v1/nodes/n1");
  EXPECT_EQ(resource_path(kPools, ""), "/apis/gpupool.io/v1alpha1/gpupools");
  EXPECT_EQ(resource_path(kPools, "ns", "a", "status"),
            "/apis/gpupool.io/v1alpha1/namespaces/ns/gpupools/a/status");
  EXPECT_EQ(resource_path(resources::kPods, "ns"), "/api/v1/namespaces/ns/pods");
  EXPECT_EQ(query_string({{"labelSelector", "app in (a,b),!x"}, {"limit", "5"}}),
            "?labelSelector=app%20in%20%28a%2Cb%29%2C%21x&limit=5");
  EXPECT_EQ(query_string({}), "");
  EXPECT_EQ(url_escape("a/b c"), "a%2Fb%20c");
}

TEST(TokenBucket, BurstThenQps) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  TokenBucket b(clock, 2.0, 3);
  EXPECT_EQ(b.reserve(), milliseconds(0));
  EXPECT_EQ(b.reserve(), milliseconds(0));
  EXPECT_EQ(b.reserve(), milliseconds(0));
  EXPECT_EQ(b.reserve(), milliseconds(500));  // empty: one token per 500 ms
  EXPECT_EQ(b.reserve(), milliseconds(1000));
  clock.advance(seconds(10));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(b.reserve(), milliseconds(0)) << i;  // refilled to burst
  EXPECT_EQ(b.reserve(), milliseconds(500));
  TokenBucket off(clock, 0, 1);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(off.reserve(), milliseconds(0));
}

TEST(HttpClient, GetSendsBearerTokenAndFillsType) {
  ScriptedServer s;
  s.reply(200, R"({"metadata":{"name":"a","namespace":"ns"},"spec":{"size":2}})");
  HttpKubeClient c(config_for(s), real_clock());
  auto obj = c.get(kPools, "ns", "a");
  ASSERT_TRUE(obj.ok()) << obj.error().message;
  EXPECT_EQ((*obj)["apiVersion"], "gpupool.io/v1alpha1");
  EXPECT_EQ((*obj)["kind"], "GpuPool");
  EXPECT_EQ((*obj)["spec"]["size"], 2);
  const auto req = s.last();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.path, "/apis/gpupool.io/v1alpha1/namespaces/ns/gpupools/a");
  EXPECT_EQ(req.header("Authorization"), "Bearer test-token");
  EXPECT_EQ(req.header("Accept"), "application/json");
}

TEST(HttpClient, NamespacedVerbWithoutNamespaceIsBadRequestWithoutARequest) {
  ScriptedServer s;
  HttpKubeClient c(config_for(s), real_clock());
  auto r = c.get(kPools, "", "a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::BadRequest);
  EXPECT_TRUE(s.requests().empty());
}

TEST(HttpClient, ListSendsQueryAndParsesPage) {
  ScriptedServer s;
  s.reply(200, R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42",
      "continue":"tok2","remainingItemCount":7},"items":[{"metadata":{"name":"p1"}}]})");
  HttpKubeClient c(config_for(s), real_clock());
  ListOptions o;
  o.label_selector = "app=x";
  o.field_selector = "metadata.name=p1";
  o.limit = 1;
  o.continue_token = "tok1";
  o.resource_version = "0";
  auto l = c.list(resources::kPods, "ns", o);
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->resource_version, "42");
  EXPECT_EQ(l->continue_token, "tok2");
  EXPECT_EQ(l->remaining_item_count, 7);
  ASSERT_EQ(l->items.size(), 1u);
  EXPECT_EQ(l->items[0]["kind"], "Pod");
  const auto req = s.last();
  EXPECT_EQ(req.path, "/api/v1/namespaces/ns/pods");
  EXPECT_EQ(req.query_param("labelSelector"), "app=x");
  EXPECT_EQ(req.query_param("fieldSelector"), "metadata.name=p1");
  EXPECT_EQ(req.query_param("limit"), "1");
  EXPECT_EQ(req.query_param("continue"), "tok1");
  EXPECT_EQ(req.query_param("resourceVersion"), "0");
}

TEST(HttpClient, CreateSendsWriteParamsAndReportsWarnings) {
  ScriptedServer s;
  http::Headers h{{"Warning", R"(299 - "unknown field \"spec.foo\"")"}};
  s.reply(201, R"({"apiVersion":"gpupool.io/v1alpha1","kind":"GpuPool","metadata":{"name":"a"}})",
          h);
  HttpKubeClient c(config_for(s), real_clock());
  std::vector<std::string> warnings;
  CreateOptions o;
  o.dry_run = true;
  o.field_validation = FieldValidation::Warn;
  o.field_manager = "gpupool";
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  Json obj = {{"apiVersion", "gpupool.io/v1alpha1"},
              {"kind", "GpuPool"},
              {"metadata", {{"name", "a"}, {"namespace", "ns"}}}};
  auto r = c.create(kPools, "", obj, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto req = s.last();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/apis/gpupool.io/v1alpha1/namespaces/ns/gpupools");
  EXPECT_EQ(req.query_param("dryRun"), "All");
  EXPECT_EQ(req.query_param("fieldValidation"), "Warn");
  EXPECT_EQ(req.query_param("fieldManager"), "gpupool");
  EXPECT_EQ(req.header("Content-Type"), "application/json");
  EXPECT_EQ(Json::parse(req.body), obj);
  EXPECT_EQ(warnings, (std::vector<std::string>{R"(unknown field \"spec.foo\")"}));
}

TEST(HttpClient, UpdateAndPatchUseObjectPathSubresourceAndContentTypes) {
  ScriptedServer s;
  s.reply(200, R"({"metadata":{"name":"a","namespace":"ns"}})");
  HttpKubeClient c(config_for(s), real_clock());
  Json obj = {{"metadata", {{"name", "a"}, {"namespace", "ns"}, {"resourceVersion", "3"}}}};
  UpdateOptions uo;
  uo.subresource = "status";
  ASSERT_TRUE(c.update(kPools, obj, uo).ok());
  EXPECT_EQ(s.last().method, "PUT");
  EXPECT_EQ(s.last().path, "/apis/gpupool.io/v1alpha1/namespaces/ns/gpupools/a/status");

  const std::pair<PatchType, const char*> cases[] = {
      {PatchType::Merge, "application/merge-patch+json"},
      {PatchType::JsonPatch, "application/json-patch+json"},
      {PatchType::StrategicMerge, "application/strategic-merge-patch+json"},
      {PatchType::Apply, "application/apply-patch+yaml"}};
  for (const auto& [type, ct] : cases) {
    PatchOptions po;
    po.field_manager = "mgr";
    po.force = true;
    ASSERT_TRUE(c.patch(kPools, "ns", "a", type, Json::object(), po).ok()) << ct;
    EXPECT_EQ(s.last().method, "PATCH");
    EXPECT_EQ(s.last().header("Content-Type"), ct);
    EXPECT_EQ(s.last().query_param("force").has_value(), type == PatchType::Apply);
  }
  auto no_manager = c.patch(kPools, "ns", "a", PatchType::Apply, Json::object());
  ASSERT_FALSE(no_manager.ok());
  EXPECT_EQ(no_manager.error().kind, ErrorKind::BadRequest);
}

TEST(HttpClient, DeleteSendsOptionsBodyAndReportsWhetherGone) {
  ScriptedServer s;
  s.reply(200, R"({"kind":"Status","apiVersion":"v1","status":"Success"})");
  HttpKubeClient c(config_for(s), real_clock());
  DeleteOptions o;
  o.precondition_uid = "u1";
  o.precondition_resource_version = "7";
  o.propagation_policy = PropagationPolicy::Foreground;
  o.grace_period_seconds = 0;
  auto r = c.remove(kPools, "ns", "a", o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->deleted);
  const auto req = s.last();
  EXPECT_EQ(req.method, "DELETE");
  const Json body = Json::parse(req.body);
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(body["preconditions"]["uid"], "u1");
  EXPECT_EQ(body["preconditions"]["resourceVersion"], "7");
  EXPECT_EQ(body["gracePeriodSeconds"], 0);

  s.reply(200, R"({"metadata":{"name":"a","deletionTimestamp":"2026-01-01T00:00:00Z",
      "finalizers":["gpupool.io/cleanup"]}})");
  r = c.remove(kPools, "ns", "a");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->deleted);
  EXPECT_EQ(r->object["kind"], "GpuPool");
  s.reply(200, R"({"metadata":{"name":"a"}})");
  EXPECT_TRUE(c.remove(kPools, "ns", "a")->deleted);
}

TEST(HttpClient, EveryStatusMapsToItsKind) {
  ScriptedServer s;
  HttpKubeClient c(config_for(s), real_clock());
  struct Case {
    int code;
    const char* reason;
    ErrorKind kind;
  };
  const Case cases[] = {
      {404, "NotFound", ErrorKind::NotFound},
      {409, "Conflict", ErrorKind::Conflict},
      {409, "AlreadyExists", ErrorKind::AlreadyExists},
      {422, "Invalid", ErrorKind::Invalid},
      {401, "Unauthorized", ErrorKind::Unauthorized},
      {403, "Forbidden", ErrorKind::Forbidden},
      {503, "ServiceUnavailable", ErrorKind::Unavailable},
      {504, "Timeout", ErrorKind::Timeout},
      {410, "Expired", ErrorKind::Gone},
      {400, "BadRequest", ErrorKind::BadRequest},
      {405, "MethodNotAllowed", ErrorKind::MethodNotAllowed},
      {415, "UnsupportedMediaType", ErrorKind::UnsupportedMediaType},
      {429, "TooManyRequests", ErrorKind::TooManyRequests},
      {500, "InternalError", ErrorKind::Internal},
  };
  for (const auto& tc : cases) {
    s.reply(tc.code,
            status_body(tc.code, tc.reason, "msg " + std::string(tc.reason),
                        R"(,"details":{"name":"a","kind":"gpupools","causes":[)"
                        R"({"reason":"FieldValueInvalid","message":"bad","field":"spec.size"}]})"));
    auto r = c.get(kPools, "ns", "a");
    ASSERT_FALSE(r.ok()) << tc.code;
    EXPECT_EQ(r.error().kind, tc.kind) << tc.code << " " << tc.reason;
    EXPECT_EQ(r.error().code, tc.code);
    EXPECT_EQ(r.error().message, "msg " + std::string(tc.reason));
    EXPECT_EQ(r.error().name, "a");
    ASSERT_EQ(r.error().causes.size(), 1u);
    EXPECT_EQ(r.error().causes[0].field, "spec.size");
  }
}

TEST(HttpClient, NonStatusErrorBodyMapsByCode) {
  ScriptedServer s;
  s.on([](const http::HttpRequest&, http::ResponseWriter& w) {
    w.send(502, {{"Content-Type", "text/html"}}, "<html>bad gateway</html>");
  });
  HttpKubeClient c(config_for(s), real_clock());
  auto r = c.get(kPools, "ns", "a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 502);
  s.reply(404, "not json at all");
  r = c.get(kPools, "ns", "a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::NotFound);
}

TEST(HttpClient, GarbledSuccessBodyIsInternal) {
  ScriptedServer s;
  s.reply(200, R"({"metadata": {"name": )");
  HttpKubeClient c(config_for(s), real_clock());
  auto r = c.get(kPools, "ns", "a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Internal);
  EXPECT_NE(r.error().message.find("invalid JSON"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("test-token"), std::string::npos);
}

TEST(HttpClient, ConnectionRefusedIsUnavailableAndRetriedOnlyForReads) {
  std::string url;
  {
    ScriptedServer s;
    url = s.url();
  }  // stopped: nothing listens on that port now
  ClientConfig cfg;
  cfg.server = url;
  cfg.qps = 0;
  HttpKubeClient::Options o;
  o.retry_backoff = milliseconds(1);
  HttpKubeClient c(cfg, real_clock(), o);
  auto r = c.get(kPools, "ns", "a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Unavailable);
  EXPECT_EQ(c.requests_total(), 4u) << "1 try + 3 retries for a GET";
  auto w = c.create(kPools, "ns", {{"metadata", {{"name", "a"}}}});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().kind, ErrorKind::Unavailable);
  EXPECT_EQ(c.requests_total(), 5u) << "writes are not retried";
}

TEST(HttpClient, SlowServerIsTimeout) {
  ScriptedServer s;
  s.on([](const http::HttpRequest&, http::ResponseWriter& w) {
    w.wait_closed(milliseconds(5000));  // returns as soon as the client gives up
  });
  ClientConfig cfg = config_for(s);
  cfg.request_timeout = milliseconds(200);
  HttpKubeClient c(cfg, real_clock());
  auto r = c.create(kPools, "ns", {{"metadata", {{"name", "a"}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Timeout);
}

TEST(HttpClient, ShutdownWakesTheRateLimiterAndAbortsRequestsInFlight) {
  ScriptedServer s;
  std::atomic<int> answered{0};
  s.on([&](const http::HttpRequest&, http::ResponseWriter& w) {
    if (answered++ == 0) {
      w.send(200, {{"Content-Type", "application/json"}}, R"({"metadata":{"name":"a"}})");
      return;
    }
    w.wait_closed(milliseconds(30'000));  // a server that never answers
  });
  ClientConfig cfg = config_for(s);
  cfg.qps = 0.05;  // one token per 20 s after the first
  cfg.burst = 1;
  cfg.request_timeout = milliseconds(30'000);
  HttpKubeClient c(cfg, real_clock());
  ASSERT_TRUE(c.get(kPools, "ns", "a").ok());
  // The next request waits ~20 s for a token; another one is stuck at a
  // server that never answers.
  ErrorKind limited = ErrorKind::Internal, stuck = ErrorKind::Internal;
  std::string limited_msg;
  const auto t0 = std::chrono::steady_clock::now();
  std::thread waiting([&] {
    auto r = c.get(kPools, "ns", "a");
    if (!r.ok()) {
      limited = r.error().kind;
      limited_msg = r.error().message;
    }
  });
  std::this_thread::sleep_for(milliseconds(300));
  c.shutdown();
  waiting.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(3));
  EXPECT_EQ(limited, ErrorKind::Unavailable);
  EXPECT_EQ(limited_msg, "client shut down");
  // After shutdown nothing is sent.
  const size_t sent = s.requests().size();
  auto later = c.get(kPools, "ns", "a");
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().kind, ErrorKind::Unavailable);
  EXPECT_EQ(s.requests().size(), sent);

  // A request in flight at a silent server is aborted by shutdown.
  ClientConfig free_cfg = config_for(s);
  free_cfg.request_timeout = milliseconds(30'000);
  HttpKubeClient c2(free_cfg, real_clock());
  const auto t1 = std::chrono::steady_clock::now();
  std::thread in_flight([&] {
    auto r = c2.get(kPools, "ns", "a");
    if (!r.ok()) stuck = r.error().kind;
  });
  std::this_thread::sleep_for(milliseconds(300));
  c2.shutdown();
  in_flight.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t1, seconds(3));
  EXPECT_EQ(stuck, ErrorKind::Unavailable);
}

TEST(HttpClient, TooManyRequestsWithRetryAfterIsRetried) {
  ScriptedServer s;
  std::atomic<int> n{0};
  s.on([&](const http::HttpRequest&, http::ResponseWriter& w) {
    if (n.fetch_add(1) < 2) {
      w.send(429, {{"Retry-After", "0"}, {"Content-Type", "application/json"}},
             status_body(429, "TooManyRequests", "slow down"));
    } else {
      w.send(201, {{"Content-Type", "application/json"}}, R"({"metadata":{"name":"a"}})");
    }
  });
  HttpKubeClient c(config_for(s), real_clock());
  auto r = c.create(kPools, "ns", {{"metadata", {{"name", "a"}}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(n.load(), 3);
  EXPECT_EQ(c.retries_total(), 2u);

  // The delay may come in Status.details.retryAfterSeconds instead.
  n = 0;
  s.on([&](const http::HttpRequest&, http::ResponseWriter& w) {
    if (n.fetch_add(1) < 1) {
      w.send(429, {{"Content-Type", "application/json"}},
             status_body(429, "TooManyRequests", "slow down",
                         R"(,"details":{"retryAfterSeconds":0})"));
    } else {
      w.send(200, {{"Content-Type", "application/json"}}, R"({"metadata":{"name":"a"}})");
    }
  });
  ASSERT_TRUE(c.get(kPools, "ns", "a").ok());
  EXPECT_EQ(n.load(), 2);

  // Without Retry-After (or out of retries) the caller sees TooManyRequests.
  s.reply(429, status_body(429, "TooManyRequests", "slow down"));
  auto e = c.get(kPools, "ns", "a");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().kind, ErrorKind::TooManyRequests);
  s.reply(429, status_body(429, "TooManyRequests", "slow down"), {{"Retry-After", "0"}});
  e = c.get(kPools, "ns", "a");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().kind, ErrorKind::TooManyRequests);
  EXPECT_EQ(e.error().retry_after_seconds, 0);
}

TEST(HttpClient, UnauthorizedRefreshesRotatedTokenOnce) {
  ScriptedServer s;
  char tmpl[] = "/tmp/kubetok-XXXXXX";
  const int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  auto write_token = [&](const char* t) { std::ofstream(tmpl) << t; };
  write_token("old");
  s.on([](const http::HttpRequest& req, http::ResponseWriter& w) {
    if (req.header("Authorization") == "Bearer new") {
      w.send(200, {{"Content-Type", "application/json"}}, R"({"metadata":{"name":"a"}})");
    } else {
      w.send(401, {{"Content-Type", "application/json"}},
             status_body(401, "Unauthorized", "Unauthorized"));
    }
  });
  ClientConfig cfg = config_for(s);
  cfg.credentials = CredentialSource::token_file(tmpl, {}, std::chrono::hours(1));
  HttpKubeClient c(cfg, real_clock());
  auto first = c.get(kPools, "ns", "a");
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().kind, ErrorKind::Unauthorized);
  write_token("new");  // kubelet rotated the token
  auto second = c.get(kPools, "ns", "a");
  EXPECT_TRUE(second.ok());
  std::remove(tmpl);

  // A fixed token cannot change: a 401 is final, without a second request.
  ClientConfig fixed = config_for(s);
  HttpKubeClient f(fixed, real_clock());
  const auto before = s.requests().size();
  auto r = f.get(kPools, "ns", "a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Unauthorized);
  EXPECT_EQ(s.requests().size(), before + 1);
}

// --- watch ---------------------------------------------------------------

std::string event(const std::string& type, const std::string& name, const std::string& rv) {
  return R"({"type":")" + type + R"(","object":{"metadata":{"name":")" + name +
         R"(","resourceVersion":")" + rv + "\"}}}\n";
}

TEST(HttpWatch, ParsesEventsSplitAcrossChunksThenCloses) {
  ScriptedServer s;
  s.on([](const http::HttpRequest&, http::ResponseWriter& w) {
    w.begin_stream(200, {{"Content-Type", "application/json"}});
    const std::string all = event("ADDED", "a", "5") + event("MODIFIED", "a", "6") +
                            R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}})" +
                            "\n" + event("DELETED", "a", "10") +
                            R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"11"}}})";
    // Deliberately cut events in awkward places.
    for (size_t i = 0; i < all.size(); i += 7)
      w.write_chunk(all.substr(i, 7));
    w.end_stream();
  });
  HttpKubeClient c(config_for(s), real_clock());
  WatchOptions o;
  o.resource_version = "4";
  o.label_selector = "a=b";
  o.timeout = seconds(30);
  auto st = c.watch(kPools, "ns", o);
  ASSERT_TRUE(st.ok()) << st.error().message;
  const auto req = s.last();
  EXPECT_EQ(req.query_param("watch"), "true");
  EXPECT_EQ(req.query_param("resourceVersion"), "4");
  EXPECT_EQ(req.query_param("allowWatchBookmarks"), "true");
  EXPECT_EQ(req.query_param("timeoutSeconds"), "30");
  EXPECT_EQ(req.query_param("labelSelector"), "a=b");
  std::vector<std::pair<WatchEventType, std::string>> got;
  for (;;) {
    auto n = (*st)->next(milliseconds(2000));
    if (n.state == WatchStream::State::Closed) break;
    if (n.state == WatchStream::State::Timeout) continue;
    got.emplace_back(n.event.type, n.event.object["metadata"]["resourceVersion"]);
    if (n.event.type != WatchEventType::Bookmark) {
      EXPECT_EQ(n.event.object["kind"], "GpuPool");
    }
  }
  const std::vector<std::pair<WatchEventType, std::string>> want{
      {WatchEventType::Added, "5"},
      {WatchEventType::Modified, "6"},
      {WatchEventType::Bookmark, "9"},
      {WatchEventType::Deleted, "10"},
      {WatchEventType::Bookmark, "11"}};  // last line had no newline
  EXPECT_EQ(got, want);
  EXPECT_EQ((*st)->next(milliseconds(10)).state, WatchStream::State::Closed);
}

TEST(HttpWatch, ExpiredErrorEventIsGoneAndEndsTheStream) {
  ScriptedServer s;
  s.on([](const http::HttpRequest&, http::ResponseWriter& w) {
    w.begin_stream(200, {{"Content-Type", "application/json"}});
    w.write_chunk(R"({"type":"ERROR","object":)" +
                  status_body(410, "Expired", "too old resource version: 5 (99)") + "}\n");
    w.wait_closed(milliseconds(5000));  // keeps the connection open
  });
  HttpKubeClient c(config_for(s), real_clock());
  auto st = c.watch(kPools, "ns", {"5", "", "", true, seconds(30)});
  ASSERT_TRUE(st.ok());
  WatchStream::Next n;
  do {
    n = (*st)->next(milliseconds(2000));
  } while (n.state == WatchStream::State::Timeout);
  ASSERT_EQ(n.state, WatchStream::State::Event);
  EXPECT_EQ(n.event.type, WatchEventType::Error);
  ASSERT_TRUE(n.event.error.has_value());
  EXPECT_EQ(n.event.error->kind, ErrorKind::Gone);
  EXPECT_EQ((*st)->next(milliseconds(10)).state, WatchStream::State::Closed);
}

TEST(HttpWatch, GarbledLineBecomesErrorEvent) {
  ScriptedServer s;
  s.on([](const http::HttpRequest&, http::ResponseWriter& w) {
    w.begin_stream(200, {});
    w.write_chunk(event("ADDED", "a", "5") + "{not json\n" + event("ADDED", "b", "6"));
    w.wait_closed(milliseconds(5000));
  });
  HttpKubeClient c(config_for(s), real_clock());
  auto st = c.watch(kPools, "ns");
  ASSERT_TRUE(st.ok());
  std::vector<WatchEventType> types;
  for (;;) {
    auto n = (*st)->next(milliseconds(2000));
    if (n.state == WatchStream::State::Closed) break;
    if (n.state == WatchStream::State::Event) types.push_back(n.event.type);
  }
  EXPECT_EQ(types, (std::vector<WatchEventType>{WatchEventType::Added, WatchEventType::Error}));
}

TEST(HttpWatch, ErrorBeforeStreamStartsIsReturnedByWatch) {
  ScriptedServer s;
  s.reply(400, status_body(400, "BadRequest", "unable to parse requirement"));
  HttpKubeClient c(config_for(s), real_clock());
  auto st = c.watch(kPools, "ns", {"", "==bad", "", true, std::nullopt});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::BadRequest);
  EXPECT_EQ(st.error().message, "unable to parse requirement");
}

TEST(HttpWatch, CancelFromAnotherThreadWakesABlockedNext) {
  ScriptedServer s;
  std::atomic<bool> server_saw_close{false};
  s.on([&](const http::HttpRequest&, http::ResponseWriter& w) {
    w.begin_stream(200, {});
    w.write_chunk(event("ADDED", "a", "5"));
    server_saw_close = w.wait_closed(milliseconds(60'000));
  });
  HttpKubeClient c(config_for(s), real_clock());
  auto st = c.watch(kPools, "ns");
  ASSERT_TRUE(st.ok());
  WatchStream::Next first;
  do {
    first = (*st)->next(milliseconds(2000));
  } while (first.state == WatchStream::State::Timeout);
  ASSERT_EQ(first.state, WatchStream::State::Event);
  std::mutex mu;
  std::condition_variable cv;
  bool blocked = false;
  std::thread consumer([&] {
    {
      std::lock_guard lock(mu);
      blocked = true;
    }
    cv.notify_all();
    // A minute-long wait that cancel() must cut short.
    auto n = (*st)->next(milliseconds(60'000));
    EXPECT_EQ(n.state, WatchStream::State::Closed);
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return blocked; });
  }
  (*st)->cancel();
  consumer.join();
  st->reset();  // closes the connection
  s.stop();     // waits for the handler
  EXPECT_TRUE(server_saw_close.load());
}

}  // namespace
}  // namespace gpupool::kube
