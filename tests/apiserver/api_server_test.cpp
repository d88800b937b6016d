#include "tests/apiserver/api_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace gpupool::apiserver {
namespace {

using namespace std::chrono_literals;
using kube::Json;

const char* kToken = "test-token";

const char* kCrdYaml = R"Y(
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 0, maximum: 64}
              replicas: {type: integer, default: 1}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
)Y";

size_t collect(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}

struct Resp {
  long status = 0;
  std::string headers;
  std::string body;
  Json json() const { return Json::parse(body, nullptr, false); }
};

class ApiServerTest : public ::testing::Test {
 protected:
  ApiServerTest() : clock_(Time(std::chrono::seconds(1'700'000'000))) {}
  void SetUp() override {
    ApiServerOptions o;
    o.token = kToken;
    o.bookmark_interval = 0ms;
    o.watch_poll = 20ms;
    server_ = std::make_unique<TestApiServer>(clock_, o);
    auto st = server_->start();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  Resp call(const std::string& method, const std::string& path, const std::string& body = "",
            std::vector<std::string> headers = {}, bool auth = true) {
    Resp r;
    CURL* c = curl_easy_init();
    std::string url = server_->base_url() + path;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl_slist* hl = nullptr;
    bool has_ct = false;
    for (const auto& h : headers) {
      hl = curl_slist_append(hl, h.c_str());
      if (h.rfind("Content-Type", 0) == 0) has_ct = true;
    }
    if (!has_ct) hl = curl_slist_append(hl, "Content-Type: application/json");
    std::string bearer = std::string("Authorization: Bearer ") + kToken;
    if (auth) hl = curl_slist_append(hl, bearer.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
    CURLcode rc = curl_easy_perform(c);
    EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return r;
  }

  void install_crd() {
    auto st = server_->load_manifests(kCrdYaml);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  Json widget(const std::string& name, int size) {
    return Json{{"apiVersion", "example.com/v1"},
                {"kind", "Widget"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec", {{"size", size}}}};
  }

  const std::string kWidgets = "/apis/example.com/v1/namespaces/default/widgets";
  FakeClock clock_;
  std::unique_ptr<TestApiServer> server_;
};

// Reads a chunked watch stream over a raw socket, one event line at a time.
class WatchReader {
 public:
  WatchReader(uint16_t port, const std::string& path, const std::string& extra_headers = "") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kToken +
                      "\r\n" + extra_headers + "\r\n";
    ::send(fd_, req.data(), req.size(), MSG_NOSIGNAL);
    if (!read_until("\r\n\r\n")) return;
    size_t end = buf_.find("\r\n\r\n");
    head_ = buf_.substr(0, end);
    buf_.erase(0, end + 4);
  }
  ~WatchReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  const std::string& head() const { return head_; }
  // Next JSON line of the body; null at end of stream.
  Json next() {
    while (lines_.find('\n') == std::string::npos) {
      if (!read_until("\r\n")) return nullptr;
      size_t p = buf_.find("\r\n");
      size_t n = std::stoul(buf_.substr(0, p), nullptr, 16);
      buf_.erase(0, p + 2);
      if (n == 0) return nullptr;
      while (buf_.size() < n + 2) {
        if (!fill()) return nullptr;
      }
      lines_ += buf_.substr(0, n);
      buf_.erase(0, n + 2);
    }
    size_t nl = lines_.find('\n');
    Json j = Json::parse(lines_.substr(0, nl), nullptr, false);
    lines_.erase(0, nl + 1);
    return j;
  }

 private:
  bool fill() {
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  bool read_until(const std::string& m) {
    while (buf_.find(m) == std::string::npos) {
      if (!fill()) return false;
    }
    return true;
  }
  int fd_ = -1;
  std::string buf_;
  std::string head_;
  std::string lines_;
};

TEST_F(ApiServerTest, VersionIsOpenAndEverythingElseNeedsTheToken) {
  Resp v = call("GET", "/version?timeout=5s", "", {}, false);
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.json()["minor"], "32");
  Resp denied = call("GET", "/api/v1/namespaces", "", {}, false);
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(denied.json()["reason"], "Unauthorized");
  EXPECT_EQ(denied.json()["kind"], "Status");
  Resp ok = call("GET", "/api/v1/namespaces");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.json()["kind"], "NamespaceList");
  EXPECT_GE(ok.json()["items"].size(), 4u);
  Resp unknown = call("GET", "/apis/nope.io/v1/things");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.json()["message"], "the server could not find the requested resource");
}

TEST_F(ApiServerTest, BooleanQueryParametersParseAsGoParseBool) {
  // "watch=F" is false, "watch=maybe" an error, as strconv.ParseBool.
  for (const char* no : {"F", "false", "0"}) {
    Resp r = call("GET", std::string("/api/v1/namespaces/default/configmaps?watch=") + no);
    EXPECT_EQ(r.status, 200) << no;
    EXPECT_EQ(r.json().value("kind", ""), "ConfigMapList") << no;
  }
  for (const char* query : {"watch=yes", "watch=maybe&timeoutSeconds=1"}) {
    Resp bad = call("GET", std::string("/api/v1/namespaces/default/configmaps?") + query);
    EXPECT_EQ(bad.status, 400) << query;
    EXPECT_NE(bad.body.find("strconv.ParseBool"), std::string::npos) << bad.body;
  }
}

TEST_F(ApiServerTest, DiscoveryIncludesCrdResources) {
  EXPECT_EQ(call("GET", "/apis/example.com/v1").status, 404);
  install_crd();
  Json groups = call("GET", "/apis").json();
  bool found = false;
  for (const auto& g : groups["groups"])
    found |= g["name"] == "example.com";
  EXPECT_TRUE(found);
  Json rl = call("GET", "/apis/example.com/v1").json();
  EXPECT_EQ(rl["resources"][0]["name"], "widgets");
  EXPECT_EQ(rl["resources"][0]["categories"], Json::array({"all"}));
  Json core = call("GET", "/api/v1").json();
  EXPECT_EQ(core["groupVersion"], "v1");
  EXPECT_EQ(call("GET", "/api").json()["versions"], Json::array({"v1"}));
  Json index = call("GET", "/openapi/v3").json();
  std::string url = index["paths"]["apis/example.com/v1"]["serverRelativeURL"];
  Resp doc = call("GET", url);
  EXPECT_EQ(doc.status, 200);
  EXPECT_EQ(doc.json()["openapi"], "3.0.0");
  EXPECT_EQ(call("GET", "/openapi/v2").status, 404);
}

TEST_F(ApiServerTest, CrudWithStatusCodesAndStatusErrors) {
  install_crd();
  Resp created =
      call("POST", kWidgets + "?fieldManager=test&fieldValidation=Strict", widget("a", 4).dump());
  ASSERT_EQ(created.status, 201) << created.body;
  Json obj = created.json();
  EXPECT_EQ(obj["spec"]["replicas"], 1);
  Resp dup = call("POST", kWidgets, widget("a", 4).dump());
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.json()["reason"], "AlreadyExists");
  Resp got = call("GET", kWidgets + "/a");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.json()["metadata"]["uid"], obj["metadata"]["uid"]);
  // PUT with the current RV, then with the stale one.
  Json upd = obj;
  upd["spec"]["size"] = 5;
  Resp put = call("PUT", kWidgets + "/a", upd.dump());
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json()["metadata"]["generation"], 2);
  Resp stale = call("PUT", kWidgets + "/a", upd.dump());
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(stale.json()["reason"], "Conflict");
  Resp wrong_name = call("PUT", kWidgets + "/b", upd.dump());
  EXPECT_EQ(wrong_name.status, 400);
  // Invalid object: 422 with causes.
  Resp invalid = call("POST", kWidgets, widget("big", 65).dump());
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(invalid.json()["details"]["causes"][0]["field"], "spec.size");
  // Not found.
  Resp nf = call("GET", kWidgets + "/zzz");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.json()["message"], "widgets.example.com \"zzz\" not found");
  EXPECT_EQ(nf.json()["details"]["kind"], "widgets");
  // Bad JSON.
  EXPECT_EQ(call("POST", kWidgets, "{nope").status, 400);
  // Method not allowed.
  EXPECT_EQ(call("POST", kWidgets + "/a", "{}").status, 405);
}

TEST_F(ApiServerTest, FieldValidationModes) {
  install_crd();
  Json w = widget("a", 1);
  w["spec"]["extra"] = 1;
  Resp strict = call("POST", kWidgets + "?fieldValidation=Strict", w.dump());
  EXPECT_EQ(strict.status, 400);
  EXPECT_NE(strict.json()["message"].get<std::string>().find("unknown field \"spec.extra\""),
            std::string::npos);
  Resp warn = call("POST", kWidgets + "?fieldValidation=Warn", w.dump());
  EXPECT_EQ(warn.status, 201);
  EXPECT_NE(warn.headers.find("Warning: 299 - \"unknown field \\\"spec.extra\\\"\""),
            std::string::npos)
      << warn.headers;
  EXPECT_FALSE(warn.json()["spec"].contains("extra"));
  w["metadata"]["name"] = "b";
  Resp ignore = call("POST", kWidgets + "?fieldValidation=Ignore", w.dump());
  EXPECT_EQ(ignore.status, 201);
  EXPECT_EQ(ignore.headers.find("Warning:"), std::string::npos);
  EXPECT_EQ(call("POST", kWidgets + "?fieldValidation=Nope", w.dump()).status, 400);
}

TEST_F(ApiServerTest, PatchTypesAndSubresources) {
  install_crd();
  ASSERT_EQ(call("POST", kWidgets, widget("a", 4).dump()).status, 201);
  Resp merge = call("PATCH", kWidgets + "/a", R"({"spec":{"size":6}})",
                    {"Content-Type: application/merge-patch+json"});
  ASSERT_EQ(merge.status, 200) << merge.body;
  EXPECT_EQ(merge.json()["spec"]["size"], 6);
  Resp jp = call("PATCH", kWidgets + "/a", R"([{"op":"replace","path":"/spec/size","value":7}])",
                 {"Content-Type: application/json-patch+json"});
  EXPECT_EQ(jp.json()["spec"]["size"], 7);
  Resp smp = call("PATCH", kWidgets + "/a", R"({"spec":{"size":1}})",
                  {"Content-Type: application/strategic-merge-patch+json"});
  EXPECT_EQ(smp.status, 415);
  EXPECT_EQ(smp.json()["message"],
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml");
  Resp status =
      call("PATCH", kWidgets + "/a/status", R"({"status":{"replicas":2},"spec":{"size":1}})",
           {"Content-Type: application/merge-patch+json"});
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.json()["status"]["replicas"], 2);
  EXPECT_EQ(status.json()["spec"]["size"], 7);
  Resp scale = call("GET", kWidgets + "/a/scale");
  ASSERT_EQ(scale.status, 200) << scale.body;
  EXPECT_EQ(scale.json()["kind"], "Scale");
  EXPECT_EQ(scale.json()["status"]["replicas"], 2);
  Resp rescale = call("PATCH", kWidgets + "/a/scale", R"({"spec":{"replicas":5}})",
                      {"Content-Type: application/merge-patch+json"});
  ASSERT_EQ(rescale.status, 200) << rescale.body;
  EXPECT_EQ(call("GET", kWidgets + "/a").json()["spec"]["replicas"], 5);
  // Server-side apply (YAML body) creates with 201.
  Resp apply =
      call("PATCH", kWidgets + "/b?fieldManager=me",
           "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: b\nspec:\n  size: 3\n",
           {"Content-Type: application/apply-patch+yaml"});
  EXPECT_EQ(apply.status, 201) << apply.body;
  Resp apply_nofm = call("PATCH", kWidgets + "/c", widget("c", 1).dump(),
                         {"Content-Type: application/apply-patch+yaml"});
  EXPECT_EQ(apply_nofm.status, 422);
  // Core Events accept strategic merge patch.
  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", "e1"}, {"namespace", "default"}}},
             {"involvedObject", {{"kind", "Widget"}, {"name", "a"}}},
             {"count", 1}};
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/events", ev.dump()).status, 201);
  Resp evp = call("PATCH", "/api/v1/namespaces/default/events/e1", R"({"count":2})",
                  {"Content-Type: application/strategic-merge-patch+json"});
  EXPECT_EQ(evp.status, 200);
  EXPECT_EQ(evp.json()["count"], 2);
}

TEST_F(ApiServerTest, TablesUsePrinterColumns) {
  install_crd();
  ASSERT_EQ(call("POST", kWidgets, widget("a", 4).dump()).status, 201);
  clock_.advance(30s);
  std::string accept =
      "Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
      "g=meta.k8s.io,application/json";
  Json t = call("GET", kWidgets + "?limit=500", "", {accept}).json();
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["columnDefinitions"][1]["name"], "Size");
  EXPECT_EQ(t["rows"][0]["cells"], Json::parse(R"(["a",4])"));
  EXPECT_FALSE(t["metadata"]["resourceVersion"].get<std::string>().empty());
  Json one = call("GET", kWidgets + "/a", "", {accept}).json();
  EXPECT_EQ(one["kind"], "Table");
  EXPECT_EQ(one["rows"].size(), 1u);
  Json ns = call("GET", "/api/v1/namespaces/default", "", {accept}).json();
  EXPECT_EQ(ns["rows"][0]["cells"][1], "Active");
  EXPECT_EQ(ns["rows"][0]["cells"][2], "30s");
}

TEST_F(ApiServerTest, ListSelectorsAndPaging) {
  install_crd();
  for (int i = 0; i < 3; ++i) {
    Json w = widget("w" + std::to_string(i), i);
    w["metadata"]["labels"] = {{"team", i == 1 ? "ml" : "web"}};
    ASSERT_EQ(call("POST", kWidgets, w.dump()).status, 201);
  }
  Json sel = call("GET", kWidgets + "?labelSelector=team%20in%20(ml)").json();
  ASSERT_EQ(sel["items"].size(), 1u);
  EXPECT_EQ(sel["kind"], "WidgetList");
  Json byname = call("GET", "/apis/example.com/v1/widgets?fieldSelector=metadata.name%3Dw2").json();
  ASSERT_EQ(byname["items"].size(), 1u);
  Resp badfield = call("GET", kWidgets + "?fieldSelector=spec.size%3D4");
  EXPECT_EQ(badfield.status, 400);
  EXPECT_NE(badfield.json()["message"].get<std::string>().find("field label not supported"),
            std::string::npos);
  Json p1 = call("GET", kWidgets + "?limit=2").json();
  ASSERT_EQ(p1["items"].size(), 2u);
  std::string cont = p1["metadata"]["continue"];
  char* esc = curl_easy_escape(nullptr, cont.c_str(), static_cast<int>(cont.size()));
  Json p2 = call("GET", kWidgets + "?limit=2&continue=" + esc).json();
  curl_free(esc);
  ASSERT_EQ(p2["items"].size(), 1u);
  EXPECT_EQ(p2["items"][0]["metadata"]["name"], "w2");
  EXPECT_FALSE(p2["metadata"].contains("continue"));
}

TEST_F(ApiServerTest, PagesAreOneSnapshotAndAnExpiredContinueIs410WithAResumeToken) {
  install_crd();
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(call("POST", kWidgets, widget("w" + std::to_string(i), i).dump()).status, 201);
  auto page = [&](const std::string& token) {
    char* esc = curl_easy_escape(nullptr, token.c_str(), static_cast<int>(token.size()));
    Resp r = call("GET", kWidgets + "?limit=2&continue=" + esc);
    curl_free(esc);
    return r;
  };
  Json p1 = call("GET", kWidgets + "?limit=2").json();
  ASSERT_EQ(p1["items"].size(), 2u);
  // Between the pages w3 changes, w2 is deleted and w21 is created.
  ASSERT_EQ(call("PATCH", kWidgets + "/w3", R"({"spec":{"size":30}})",
                 {"Content-Type: application/merge-patch+json"})
                .status,
            200);
  ASSERT_EQ(call("DELETE", kWidgets + "/w2").status, 200);
  ASSERT_EQ(call("POST", kWidgets, widget("w21", 21).dump()).status, 201);
  Resp r2 = page(p1["metadata"]["continue"]);
  ASSERT_EQ(r2.status, 200) << r2.body;
  Json p2 = r2.json();
  ASSERT_EQ(p2["items"].size(), 2u);
  EXPECT_EQ(p2["items"][0]["metadata"]["name"], "w2");
  EXPECT_EQ(p2["items"][1]["metadata"]["name"], "w3");
  EXPECT_EQ(p2["items"][1]["spec"]["size"], 3);
  EXPECT_EQ(p2["metadata"]["resourceVersion"], p1["metadata"]["resourceVersion"]);
  EXPECT_FALSE(p2["metadata"].contains("continue"));

  // Once the history no longer reaches the snapshot: 410 Expired, the real
  // Status, and a token that resumes (inconsistently) at the latest version.
  Json p1_again = call("GET", kWidgets + "?limit=2").json();
  ASSERT_EQ(call("POST", kWidgets, widget("w9", 9).dump()).status, 201);
  server_->store().compact();
  Resp gone = page(p1_again["metadata"]["continue"]);
  EXPECT_EQ(gone.status, 410);
  Json st = gone.json();
  EXPECT_EQ(st["kind"], "Status");
  EXPECT_EQ(st["reason"], "Expired");
  EXPECT_EQ(st["code"], 410);
  EXPECT_EQ(
      st["message"].get<std::string>().rfind(
          "The provided continue parameter is too old to display a consistent list result.", 0),
      0u);
  ASSERT_TRUE(st["metadata"].contains("continue")) << gone.body;
  EXPECT_EQ(kube::from_status_json(st, 410).continue_token, st["metadata"]["continue"]);
  Resp resumed = page(st["metadata"]["continue"]);
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  std::vector<std::string> names;
  const Json rest = resumed.json();
  for (const auto& o : rest["items"])
    names.push_back(o["metadata"]["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"w21", "w3"}));

  Resp garbled = page("not-a-token!");
  EXPECT_EQ(garbled.status, 400);
  EXPECT_EQ(garbled.json()["reason"], "BadRequest");
}

TEST_F(ApiServerTest, WatchStreamsEventsAndTables) {
  install_crd();
  Json list = call("GET", kWidgets).json();
  std::string rv = list["metadata"]["resourceVersion"];
  WatchReader plain(server_->port(), kWidgets + "?watch=true&resourceVersion=" + rv);
  EXPECT_NE(plain.head().find("Transfer-Encoding: chunked"), std::string::npos);
  WatchReader table(server_->port(), kWidgets + "?watch=1&resourceVersion=" + rv,
                    "Accept: application/json;as=Table;v=v1;g=meta.k8s.io\r\n");
  ASSERT_EQ(call("POST", kWidgets, widget("a", 4).dump()).status, 201);
  Json e = plain.next();
  EXPECT_EQ(e["type"], "ADDED");
  EXPECT_EQ(e["object"]["metadata"]["name"], "a");
  Json te = table.next();
  EXPECT_EQ(te["type"], "ADDED");
  EXPECT_EQ(te["object"]["kind"], "Table");
  EXPECT_EQ(te["object"]["rows"][0]["cells"][1], 4);
  ASSERT_EQ(call("DELETE", kWidgets + "/a", R"({"propagationPolicy":"Background"})").status, 200);
  EXPECT_EQ(plain.next()["type"], "DELETED");
  // Bookmarks only for watchers that asked.
  WatchReader bm(server_->port(), kWidgets +
                                      "?watch=true&allowWatchBookmarks=true&resourceVersion=" +
                                      std::to_string(server_->store().resource_version()));
  ASSERT_EQ(call("POST", "/_test/bookmarks", "", {}, false).status, 200);
  Json b = bm.next();
  EXPECT_EQ(b["type"], "BOOKMARK");
  // Dropping watches ends the streams.
  ASSERT_EQ(call("POST", "/_test/drop-watches").status, 200);
  EXPECT_TRUE(plain.next().is_null());
  EXPECT_TRUE(bm.next().is_null());
}

TEST_F(ApiServerTest, WatchFromExpiredVersionIsAnErrorEvent) {
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/configmaps",
                 R"({"metadata":{"name":"c"},"data":{}})")
                .status,
            201);
  std::string old = std::to_string(server_->store().resource_version() - 1);
  ASSERT_EQ(call("POST", "/_test/compact").status, 200);
  WatchReader w(server_->port(),
                "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + old);
  EXPECT_EQ(w.head().substr(0, 12), "HTTP/1.1 200");
  Json e = w.next();
  EXPECT_EQ(e["type"], "ERROR");
  EXPECT_EQ(e["object"]["code"], 410);
  EXPECT_EQ(e["object"]["reason"], "Expired");
  EXPECT_TRUE(w.next().is_null());
}

TEST_F(ApiServerTest, DeleteWithFinalizersAndDryRun) {
  install_crd();
  Json w = widget("a", 1);
  w["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_EQ(call("POST", kWidgets, w.dump()).status, 201);
  Resp dry = call("DELETE", kWidgets + "/a?dryRun=All");
  EXPECT_EQ(dry.status, 200);
  EXPECT_FALSE(call("GET", kWidgets + "/a").json()["metadata"].contains("deletionTimestamp"));
  Resp marked = call("DELETE", kWidgets + "/a", R"({"propagationPolicy":"Background"})");
  ASSERT_EQ(marked.status, 200);
  EXPECT_EQ(marked.json()["kind"], "Widget");
  EXPECT_TRUE(marked.json()["metadata"].contains("deletionTimestamp"));
  Resp release = call("PATCH", kWidgets + "/a", R"({"metadata":{"finalizers":null}})",
                      {"Content-Type: application/merge-patch+json"});
  EXPECT_EQ(release.status, 200);
  EXPECT_EQ(call("GET", kWidgets + "/a").status, 404);
  ASSERT_EQ(call("POST", kWidgets, widget("b", 1).dump()).status, 201);
  Resp gone = call("DELETE", kWidgets + "/b");
  EXPECT_EQ(gone.json()["kind"], "Status");
  EXPECT_EQ(gone.json()["status"], "Success");
  Resp precond = call("POST", kWidgets + "?dryRun=All", widget("c", 1).dump());
  EXPECT_EQ(precond.status, 201);
  EXPECT_EQ(call("GET", kWidgets + "/c").status, 404);
}

TEST_F(ApiServerTest, FaultInjectionThroughAdminEndpoint) {
  Resp f = call("POST", "/_test/faults",
                R"({"verb":"list","resource":"configmaps","count":1,"code":429})", {}, false);
  ASSERT_EQ(f.status, 200);
  Resp limited = call("GET", "/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.json()["reason"], "TooManyRequests");
  EXPECT_NE(limited.headers.find("Retry-After: 1"), std::string::npos);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/configmaps").status, 200);
  ASSERT_EQ(call("POST", "/_test/faults", R"({"code":500,"count":2})").status, 200);
  ASSERT_EQ(call("DELETE", "/_test/faults").status, 200);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/configmaps").status, 200);
  EXPECT_EQ(call("POST", "/_test/nope").status, 404);
  // A fault aimed at "update" hits the PUT itself (the server's own
  // bookkeeping does not consume it).
  Json cm = call("POST", "/api/v1/namespaces/default/configmaps",
                 R"({"metadata":{"name":"f"},"data":{}})")
                .json();
  ASSERT_EQ(
      call("POST", "/_test/faults", R"({"verb":"update","code":409,"reason":"Conflict"})").status,
      200);
  Resp put = call("PUT", "/api/v1/namespaces/default/configmaps/f", cm.dump());
  EXPECT_EQ(put.status, 409);
  EXPECT_EQ(put.json()["reason"], "Conflict");
  EXPECT_EQ(call("PUT", "/api/v1/namespaces/default/configmaps/f", cm.dump()).status, 200);
}

TEST_F(ApiServerTest, RequestCountsByVerbAndResourceUntilReset) {
  install_crd();
  ASSERT_EQ(call("POST", kWidgets, widget("a", 4).dump()).status, 201);
  ASSERT_EQ(call("GET", kWidgets + "/a").status, 200);
  ASSERT_EQ(call("GET", kWidgets).status, 200);
  ASSERT_EQ(call("PATCH", kWidgets + "/a/status", R"({"status":{"replicas":2}})",
                 {"Content-Type: application/merge-patch+json"})
                .status,
            200);
  ASSERT_EQ(call("PATCH", kWidgets + "/a/scale", R"({"spec":{"replicas":5}})",
                 {"Content-Type: application/merge-patch+json"})
                .status,
            200);
  // A refused request counts too; discovery and /version do not.
  EXPECT_EQ(call("PUT", kWidgets + "/a", "{}").status, 422);
  ASSERT_EQ(call("GET", "/apis").status, 200);
  ASSERT_EQ(call("GET", "/version").status, 200);
  ASSERT_EQ(call("DELETE", kWidgets + "/a").status, 200);
  const std::map<std::string, int64_t> want = {
      {"create widgets", 1},       {"get widgets", 1},         {"list widgets", 1},
      {"patch widgets/status", 1}, {"patch widgets/scale", 1}, {"update widgets", 1},
      {"delete widgets", 1}};
  EXPECT_EQ(server_->request_counts(), want);
  Resp got = call("GET", "/_test/requests", "", {}, false);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.json()["counts"]["patch widgets/status"], 1);
  EXPECT_EQ(got.json()["counts"].size(), want.size());
  // The writes, oldest first, each with the object it named.
  EXPECT_EQ(got.json()["writes"],
            Json::array({"create widgets default/", "patch widgets/status default/a",
                         "patch widgets/scale default/a", "update widgets default/a",
                         "delete widgets default/a"}));
  ASSERT_EQ(call("DELETE", "/_test/requests", "", {}, false).status, 200);
  EXPECT_TRUE(server_->request_counts().empty());
  EXPECT_TRUE(call("GET", "/_test/requests", "", {}, false).json()["writes"].empty());
  ASSERT_EQ(call("GET", kWidgets + "?watch=false").status, 200);
  EXPECT_EQ(server_->request_counts(), (std::map<std::string, int64_t>{{"list widgets", 1}}));
}

TEST(RequestCounts, KeepsOnlyTheLatestWrites) {
  RequestCounts counts;
  for (std::size_t i = 0; i < RequestCounts::kKeptWrites + 3; ++i)
    counts.add("update widgets", true, "default/w" + std::to_string(i));
  counts.add("get widgets", false, "default/w0");
  const auto writes = counts.writes();
  ASSERT_EQ(writes.size(), RequestCounts::kKeptWrites);
  EXPECT_EQ(writes.front(), "update widgets default/w3");
  EXPECT_EQ(writes.back(),
            "update widgets default/w" + std::to_string(RequestCounts::kKeptWrites + 2));
  EXPECT_EQ(counts.snapshot().at("update widgets"),
            static_cast<int64_t>(RequestCounts::kKeptWrites + 3));
}

TEST_F(ApiServerTest, KubeconfigAndManifestLoading) {
  std::string kc = server_->kubeconfig("team");
  EXPECT_NE(kc.find("server: " + server_->base_url()), std::string::npos);
  EXPECT_NE(kc.find("token: test-token"), std::string::npos);
  EXPECT_NE(kc.find("namespace: team"), std::string::npos);
  auto docs = parse_yaml_documents(kc);
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs.value()[0]["current-context"], "gpupool-test");
  EXPECT_FALSE(parse_yaml_documents("a: [").ok());
  EXPECT_FALSE(
      server_->load_manifests("apiVersion: v9\nkind: Nothing\nmetadata: {name: x}\n").ok());
  auto st = server_->load_manifests(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\ndata: {a: '1', b: \"true\"}\n---\n"
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two, namespace: kube-system}\n");
  ASSERT_TRUE(st.ok()) << st.error().message;
  Json one = call("GET", "/api/v1/namespaces/default/configmaps/one").json();
  EXPECT_EQ(one["data"]["a"], "1");
  EXPECT_EQ(one["data"]["b"], "true");
  EXPECT_EQ(call("GET", "/api/v1/namespaces/kube-system/configmaps/two").status, 200);
}

// POST /_test/load: objects as their controllers left them (status kept
// through the status subresource), answered with their uids; not counted
// as client requests; the first bad object stops the load with a 400.
TEST_F(ApiServerTest, TestLoadKeepsStatusAndAnswersUids) {
  install_crd();
  Json with_status = widget("a", 3);
  with_status["metadata"]["labels"] = {{"pool", "p"}};
  with_status["metadata"]["finalizers"] = {"example.com/keep"};
  with_status["status"] = {{"phase", "Running"}, {"replicas", 1}};
  Json list{{"kind", "List"}, {"apiVersion", "v1"}, {"items", {with_status, widget("b", 4)}}};
  Resp r = call("POST", "/_test/load", list.dump(), {}, false);
  ASSERT_EQ(r.status, 200) << r.body;
  const Json items = r.json()["items"];
  ASSERT_EQ(items.size(), 2U);
  Json a = call("GET", kWidgets + "/a").json();
  EXPECT_EQ(items[0],
            (Json{{"namespace", "default"}, {"name", "a"}, {"uid", a["metadata"]["uid"]}}));
  EXPECT_EQ(a["status"], with_status["status"]);
  EXPECT_EQ(a["metadata"]["labels"], with_status["metadata"]["labels"]);
  EXPECT_EQ(a["metadata"]["finalizers"], with_status["metadata"]["finalizers"]);
  EXPECT_EQ(a["metadata"]["generation"], 1);
  Json b = call("GET", kWidgets + "/b").json();
  EXPECT_EQ(items[1]["uid"], b["metadata"]["uid"]);
  EXPECT_FALSE(b.contains("status") && !b["status"].empty());
  EXPECT_EQ(server_->request_counts(), (std::map<std::string, int64_t>{{"get widgets", 2}}));

  Json bad{{"items", {widget("c", 5), widget("d", 100), widget("e", 6)}}};
  r = call("POST", "/_test/load", bad.dump(), {}, false);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(call("GET", kWidgets + "/c").status, 200);
  EXPECT_EQ(call("GET", kWidgets + "/d").status, 404);
  EXPECT_EQ(call("GET", kWidgets + "/e").status, 404);
  EXPECT_EQ(call("POST", "/_test/load", "[1]", {}, false).status, 400);
}

TEST_F(ApiServerTest, StopEndsOpenWatches) {
  WatchReader w(server_->port(), "/api/v1/configmaps?watch=true");
  EXPECT_EQ(w.head().substr(0, 12), "HTTP/1.1 200");
  server_->stop();
  EXPECT_TRUE(w.next().is_null());
}

}  // namespace
}  // namespace gpupool::apiserver
