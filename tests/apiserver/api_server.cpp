#include "tests/apiserver/api_server.h"

#include <fstream>

#include "operator/kube/memory/selectors.h"
#include "tests/apiserver/presentation.h"
#include "tests/apiserver/protobuf.h"

namespace gpupool::apiserver {

using http::Headers;
using http::HttpRequest;
using http::ResponseWriter;
using kube::ApiError;
using kube::ErrorKind;
using kube::make_error;

namespace {

void send_json(ResponseWriter& w, int status, const Json& body, Headers h = {}) {
  h.set("Content-Type", "application/json");
  w.send(status, h, body.dump());
}

void send_error(ResponseWriter& w, const ApiError& e) {
  Headers h;
  if (e.retry_after_seconds) h.add("Retry-After", std::to_string(*e.retry_after_seconds));
  send_json(w, e.code, kube::to_status_json(e), h);
}

ApiError not_found_url() {
  return make_error(ErrorKind::NotFound, "the server could not find the requested resource");
}

ApiError bad_request(std::string m) {
  return make_error(ErrorKind::BadRequest, std::move(m));
}

// Go's strconv.ParseBool, which the API server uses for boolean query
// parameters: 1 t T TRUE true True / 0 f F FALSE false False.
std::optional<bool> parse_bool(const std::string& v) {
  if (v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "false" || v == "False") {
    return false;
  }
  return std::nullopt;
}

std::string bool_error(const std::string& name, const std::string& v) {
  return "invalid boolean value for " + name + ": strconv.ParseBool: parsing \"" + v +
         "\": invalid syntax";
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

struct Route {
  std::string group;
  std::string version;
  bool has_ns = false;
  std::string ns;
  std::string plural;
  std::string name;
  std::string sub;
};

// Parses /api/v1/... and /apis/<g>/<v>/... resource paths (not discovery).
std::optional<Route> parse_route(const std::vector<std::string>& segs) {
  Route r;
  size_t i;
  if (segs.size() >= 3 && segs[0] == "api") {
    r.version = segs[1];
    i = 2;
  } else if (segs.size() >= 4 && segs[0] == "apis") {
    r.group = segs[1];
    r.version = segs[2];
    i = 3;
  } else {
    return std::nullopt;
  }
  std::vector<std::string> rest(segs.begin() + static_cast<std::ptrdiff_t>(i), segs.end());
  if (rest.size() >= 3 && rest[0] == "namespaces" &&
      !(r.group.empty() && (rest[2] == "status" || rest[2] == "finalize"))) {
    r.has_ns = true;
    r.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3) return std::nullopt;
  r.plural = rest[0];
  if (rest.size() > 1) r.name = rest[1];
  if (rest.size() > 2) r.sub = rest[2];
  return r;
}

bool wants_table(const HttpRequest& req) {
  auto a = req.header("Accept");
  return a && a->find("as=Table") != std::string::npos;
}

IncludeObject include_object(const HttpRequest& req) {
  auto v = req.query_param("includeObject");
  if (v && *v == "Object") return IncludeObject::Object;
  if (v && *v == "None") return IncludeObject::None;
  return IncludeObject::Metadata;
}

struct WriteParams {
  bool dry_run = false;
  kube::FieldValidation validation = kube::FieldValidation::Warn;
  std::string field_manager;
  bool force = false;
};

Result<WriteParams, ApiError> write_params(const HttpRequest& req) {
  WriteParams p;
  for (const auto& [k, v] : req.query_params()) {
    if (k == "dryRun") {
      if (v != "All") {
        return fail(make_error(ErrorKind::BadRequest, "dryRun: Unsupported value: \"" + v +
                                                          "\": supported values: \"All\""));
      }
      p.dry_run = true;
    } else if (k == "fieldValidation") {
      if (v == "Strict") {
        p.validation = kube::FieldValidation::Strict;
      } else if (v == "Warn" || v.empty()) {
        p.validation = kube::FieldValidation::Warn;
      } else if (v == "Ignore") {
        p.validation = kube::FieldValidation::Ignore;
      } else {
        return fail(bad_request("fieldValidation parameter (" + v +
                                ") must be one of: Ignore, Warn, Strict"));
      }
    } else if (k == "fieldManager") {
      p.field_manager = v;
    } else if (k == "force") {
      auto b = parse_bool(v);
      if (!b) return fail(bad_request(bool_error("force", v)));
      p.force = *b;
    }
  }
  if (p.field_manager.empty()) {
    auto ua = req.header("User-Agent");
    if (ua) p.field_manager = ua->substr(0, ua->find('/'));
  }
  return p;
}

Result<Json, ApiError> parse_body(const HttpRequest& req) {
  const std::string& body = req.body;
  std::string ct = req.header("Content-Type").value_or("");
  if (ct.rfind("application/vnd.kubernetes.protobuf", 0) == 0) {
    std::string error;
    auto obj = decode_protobuf_object(body, error);
    if (!obj) return fail(make_error(ErrorKind::UnsupportedMediaType, error));
    return *obj;
  }
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return fail(bad_request("couldn't get version/kind; json parse error: invalid JSON body"));
  }
  return j;
}

std::string quote_warning(const std::string& text) {
  std::string out = "299 - \"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

std::string meta_str(const Json& obj, const char* field) {
  return kube::scalar_text(kube::find_path(obj, std::string("metadata.") + field));
}

bool parse_int64(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  size_t i = 0;
  bool neg = s[0] == '-';
  if (neg) i = 1;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = neg ? -v : v;
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------

TestApiServer::TestApiServer(kube::MemoryStore& store, const Clock& clock, ApiServerOptions options)
    : store_(&store), clock_(clock), options_(std::move(options)) {}

TestApiServer::TestApiServer(const Clock& clock, ApiServerOptions options,
                             kube::MemoryStoreOptions store_options)
    : owned_store_(std::make_unique<kube::MemoryStore>(clock, std::move(store_options))),
      store_(owned_store_.get()),
      clock_(clock),
      options_(std::move(options)) {}

TestApiServer::~TestApiServer() {
  stop();
}

Status<ApiServerError> TestApiServer::start() {
  if (http_) return fail(ApiServerError{"already started"});
  http::HttpServerOptions ho;
  ho.host = options_.host;
  ho.port = options_.port;
  http_ = std::make_unique<http::HttpServer>(
      [this](const HttpRequest& req, ResponseWriter& w) { handle(req, w); }, ho);
  auto st = http_->start();
  if (!st.ok()) {
    http_.reset();
    return fail(ApiServerError{st.error().message});
  }
  if (options_.bookmark_interval.count() > 0) {
    bookmark_thread_ = std::thread([this] { bookmark_loop(); });
  }
  return Status<ApiServerError>::success();
}

void TestApiServer::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (bookmark_thread_.joinable()) bookmark_thread_.join();
  // Wake streaming watch handlers so the HTTP server can join them promptly.
  if (http_) store_->drop_watches();
  if (http_) http_->stop();
}

void TestApiServer::bookmark_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (cv_.wait_for(lock, options_.bookmark_interval, [&] { return stopping_; })) break;
    lock.unlock();
    store_->send_bookmarks();
    lock.lock();
  }
}

uint16_t TestApiServer::port() const {
  return http_ ? http_->port() : 0;
}

std::string TestApiServer::base_url() const {
  return http_ ? http_->base_url() : "";
}

std::string TestApiServer::kubeconfig(const std::string& namespace_name) const {
  // kubectl sends credentials only over TLS (client-go loads a kubeconfig's
  // auth info only for TLS transports), so against this plain-HTTP server
  // the token serves the operator's client; kubectl tests run without one.
  std::string user =
      options_.token.empty() ? std::string("    {}\n") : "    token: " + options_.token + "\n";
  return "apiVersion: v1\nkind: Config\nclusters:\n- name: gpupool-test\n  cluster:\n    server: " +
         base_url() + "\nusers:\n- name: gpupool-test\n  user:\n" + user +
         "contexts:\n- name: gpupool-test\n  context:\n    cluster: gpupool-test\n"
         "    user: gpupool-test\n    namespace: " +
         namespace_name + "\ncurrent-context: gpupool-test\npreferences: {}\n";
}

Status<ApiServerError> TestApiServer::write_kubeconfig(const std::string& path,
                                                       const std::string& namespace_name) const {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return fail(ApiServerError{"cannot write " + path});
  out << kubeconfig(namespace_name);
  out.close();
  if (!out) return fail(ApiServerError{"cannot write " + path});
  return Status<ApiServerError>::success();
}

namespace {

// The objects of a manifest document: a List's items, else the document.
void append_objects(Json&& doc, std::vector<Json>& out) {
  if (doc.is_object() && doc.contains("items") && doc["items"].is_array()) {
    for (auto& it : doc["items"])
      out.push_back(std::move(it));
  } else {
    out.push_back(std::move(doc));
  }
}

// Creates `obj` as a client's create would (strict field validation; the
// status subresource drops .status). With `keep_status`, then writes the
// status `obj` carries through the status subresource, as the object's
// controller would have. Answers the stored object.
Result<Json, ApiServerError> load_object(kube::MemoryStore& store, const Json& obj,
                                         bool keep_status) {
  if (!obj.is_object()) return fail(ApiServerError{"manifest document is not an object"});
  std::string av = kube::scalar_text(kube::find_path(obj, "apiVersion"));
  std::string kind = kube::scalar_text(kube::find_path(obj, "kind"));
  auto type = store.find_type_by_kind(av, kind);
  if (!type) {
    std::string msg = "no resource serves ";
    msg.append(av).append(", Kind=").append(kind);
    return fail(ApiServerError{msg});
  }
  std::string ns = kube::scalar_text(kube::find_path(obj, "metadata.namespace"));
  if (ns.empty()) ns = "default";
  kube::CreateOptions co;
  co.field_validation = kube::FieldValidation::Strict;
  auto r = store.create(type->resource, type->resource.namespaced ? ns : "", obj, co);
  if (!r.ok()) return fail(ApiServerError{r.error().message});
  if (!keep_status || !type->status_subresource || !obj.contains("status")) {
    return std::move(r).value();
  }
  Json stored = std::move(r).value();
  stored["status"] = obj["status"];
  kube::UpdateOptions uo;
  uo.subresource = "status";
  auto s = store.update(type->resource, stored, uo);
  if (!s.ok()) return fail(ApiServerError{s.error().message});
  return std::move(s).value();
}

}  // namespace

Status<ApiServerError> TestApiServer::load_manifests(const std::string& manifests) {
  auto docs = parse_yaml_documents(manifests);
  if (!docs.ok()) return fail(docs.error());
  std::vector<Json> objects;
  for (auto& d : docs.value())
    append_objects(std::move(d), objects);
  for (const auto& obj : objects) {
    auto r = load_object(*store_, obj, false);
    if (!r.ok()) return fail(r.error());
  }
  return Status<ApiServerError>::success();
}

// ---------------------------------------------------------------------------

namespace {

// The audit-log verb of a resource request.
std::string request_verb(const HttpRequest& req, const Route& r) {
  const std::string& m = req.method;
  if (m == "GET" || m == "HEAD") {
    if (!r.name.empty()) return "get";
    auto w = req.query_param("watch");
    return w && (*w == "true" || *w == "1") ? "watch" : "list";
  }
  if (m == "POST") return "create";
  if (m == "PUT") return "update";
  if (m == "PATCH") return "patch";
  if (m == "DELETE") return r.name.empty() ? "deletecollection" : "delete";
  return m;
}

class Handler {
 public:
  Handler(kube::MemoryStore& store, const Clock& clock, const ApiServerOptions& opts,
          RequestCounts& counts, const HttpRequest& req, ResponseWriter& w)
      : store_(store), clock_(clock), opts_(opts), counts_(counts), req_(req), w_(w) {}

  void serve();

 private:
  bool admin();
  void load();
  bool discovery(const std::vector<std::string>& segs);
  void resource(const Route& r);
  void list_or_watch(const kube::TypeInfo& t, const Route& r);
  void watch(const kube::TypeInfo& t, const Route& r);
  void get(const kube::TypeInfo& t, const Route& r);
  void create(const kube::TypeInfo& t, const Route& r);
  void evict(const kube::TypeInfo& t, const Route& r);
  void update(const kube::TypeInfo& t, const Route& r);
  void patch(const kube::TypeInfo& t, const Route& r);
  void remove(const kube::TypeInfo& t, const Route& r);
  void remove_collection(const kube::TypeInfo& t, const Route& r);
  void reply_object(int status, const kube::TypeInfo& t, const Json& obj);
  Headers warning_headers() const;

  kube::MemoryStore& store_;
  const Clock& clock_;
  const ApiServerOptions& opts_;
  RequestCounts& counts_;
  const HttpRequest& req_;
  ResponseWriter& w_;
  std::vector<std::string> warnings_;
};

void Handler::serve() {
  const std::string& path = req_.path;
  if (path == "/version" || path == "/version/") {
    send_json(w_, 200, version_info());
    return;
  }
  if (path == "/healthz" || path == "/livez" || path == "/readyz") {
    w_.send(200, Headers{{"Content-Type", "text/plain"}}, "ok");
    return;
  }
  if (path.rfind("/_test/", 0) == 0) {
    if (!admin()) send_error(w_, not_found_url());
    return;
  }
  if (!opts_.token.empty()) {
    auto auth = req_.header("Authorization");
    if (!auth || *auth != "Bearer " + opts_.token) {
      send_error(w_, make_error(ErrorKind::Unauthorized, "Unauthorized"));
      return;
    }
  }
  std::vector<std::string> segs = split_path(path);
  if (discovery(segs)) return;
  auto route = parse_route(segs);
  if (!route) {
    send_error(w_, not_found_url());
    return;
  }
  const std::string verb = request_verb(req_, *route);
  const bool write = verb != "get" && verb != "list" && verb != "watch";
  counts_.add(verb + " " + route->plural + (route->sub.empty() ? "" : "/" + route->sub), write,
              route->ns + "/" + route->name);
  resource(*route);
}

bool Handler::admin() {
  if (req_.peer.rfind("127.", 0) != 0) {
    send_error(w_, make_error(ErrorKind::Forbidden, "test endpoints are loopback-only"));
    return true;
  }
  const std::string& p = req_.path;
  if (p == "/_test/faults" && req_.method == "POST") {
    Json b = Json::parse(req_.body, nullptr, false);
    if (!b.is_object()) {
      send_error(w_, bad_request("fault body must be a JSON object"));
      return true;
    }
    int code = b.value("code", 500);
    std::string reason = b.value("reason", "");
    ApiError e =
        make_error(kube::error_kind_for(code, reason), b.value("message", "injected fault"));
    e.code = code;
    if (!reason.empty()) e.reason = reason;
    if (b.contains("retryAfterSeconds")) e.retry_after_seconds = b.value("retryAfterSeconds", 1);
    if (code == 429 && !e.retry_after_seconds) e.retry_after_seconds = 1;
    store_.inject_fault({b.value("verb", ""), b.value("resource", ""), b.value("count", 1), e});
  } else if (p == "/_test/faults" && req_.method == "DELETE") {
    store_.clear_faults();
  } else if (p == "/_test/drop-watches" && req_.method == "POST") {
    store_.drop_watches();
  } else if (p == "/_test/compact" && req_.method == "POST") {
    store_.compact();
  } else if (p == "/_test/bookmarks" && req_.method == "POST") {
    store_.send_bookmarks();
  } else if (p == "/_test/requests" && req_.method == "GET") {
    send_json(w_, 200, Json{{"counts", counts_.snapshot()}, {"writes", counts_.writes()}});
    return true;
  } else if (p == "/_test/requests" && req_.method == "DELETE") {
    counts_.reset();
  } else if (p == "/_test/load" && req_.method == "POST") {
    load();
    return true;
  } else if (p == "/_test/delay" && req_.method == "POST") {
    Json b = Json::parse(req_.body, nullptr, false);
    int64_t ms = b.is_object() ? b.value("ms", int64_t{0}) : 0;
    store_.set_delay(std::chrono::milliseconds(ms));
  } else {
    return false;
  }
  send_json(w_, 200, Json{{"ok", true}, {"resourceVersion", store_.resource_version()}});
  return true;
}

void Handler::load() {
  Json body = Json::parse(req_.body, nullptr, false);
  if (!body.is_object()) {
    send_error(w_, bad_request("load body must be a JSON object or List"));
    return;
  }
  std::vector<Json> objects;
  append_objects(std::move(body), objects);
  Json items = Json::array();
  for (const auto& obj : objects) {
    auto r = load_object(store_, obj, true);
    if (!r.ok()) {
      send_error(w_, bad_request(r.error().message));
      return;
    }
    const Json& m = (*r)["metadata"];
    items.push_back({{"namespace", m.value("namespace", "")},
                     {"name", m.value("name", "")},
                     {"uid", m.value("uid", "")}});
  }
  send_json(w_, 200, Json{{"items", std::move(items)}});
}

bool Handler::discovery(const std::vector<std::string>& segs) {
  if (req_.method != "GET" && req_.method != "HEAD") return false;
  auto types = store_.served_types();
  if (segs.size() == 1 && segs[0] == "api") {
    send_json(w_, 200, core_api_versions(req_.header("Host").value_or(opts_.host)));
    return true;
  }
  if (segs.size() == 2 && segs[0] == "api") {
    auto l = api_resource_list(types, "", segs[1]);
    if (!l) return false;
    send_json(w_, 200, *l);
    return true;
  }
  if (segs.size() == 1 && segs[0] == "apis") {
    send_json(w_, 200, api_group_list(types));
    return true;
  }
  if (segs.size() == 2 && segs[0] == "apis") {
    auto g = api_group(types, segs[1]);
    if (!g) {
      send_error(w_, not_found_url());
      return true;
    }
    send_json(w_, 200, *g);
    return true;
  }
  if (segs.size() == 3 && segs[0] == "apis") {
    auto l = api_resource_list(types, segs[1], segs[2]);
    if (!l) {
      send_error(w_, not_found_url());
      return true;
    }
    send_json(w_, 200, *l);
    return true;
  }
  if (!segs.empty() && segs[0] == "openapi") {
    if (segs.size() == 2 && segs[1] == "v3") {
      send_json(w_, 200, openapi_index(types));
      return true;
    }
    if (segs.size() >= 3 && segs[1] == "v3") {
      std::string gv;
      for (size_t i = 2; i < segs.size(); ++i)
        gv += (i > 2 ? "/" : "") + segs[i];
      auto doc = openapi_document(types, gv);
      if (doc) {
        send_json(w_, 200, *doc);
        return true;
      }
    }
    send_error(w_, not_found_url());
    return true;
  }
  return false;
}

void Handler::resource(const Route& r) {
  auto type = store_.find_type(r.group, r.version, r.plural);
  if (!type) {
    send_error(w_, not_found_url());
    return;
  }
  const kube::TypeInfo& t = *type;
  if (r.has_ns && !t.resource.namespaced) {
    send_error(w_, not_found_url());
    return;
  }
  if (!r.sub.empty() && r.sub != "status" && r.sub != "scale" &&
      !(r.sub == "eviction" && t.eviction_subresource)) {
    send_error(w_, not_found_url());
    return;
  }
  if ((r.sub == "status" && !t.status_subresource) || (r.sub == "scale" && !t.scale)) {
    send_error(w_, not_found_url());
    return;
  }
  const std::string& m = req_.method;
  if (r.name.empty()) {
    if (m == "GET" || m == "HEAD") return list_or_watch(t, r);
    if (m == "POST") return create(t, r);
    if (m == "DELETE") return remove_collection(t, r);
  } else {
    if (t.resource.namespaced && !r.has_ns) {
      send_error(w_, not_found_url());
      return;
    }
    if (r.sub == "eviction") {
      if (m == "POST") return evict(t, r);
      send_error(w_, make_error(ErrorKind::MethodNotAllowed,
                                m + " is not supported on resources of kind \"pods/eviction\""));
      return;
    }
    if (m == "GET" || m == "HEAD") return get(t, r);
    if (m == "PUT") return update(t, r);
    if (m == "PATCH") return patch(t, r);
    if (m == "DELETE" && r.sub.empty()) return remove(t, r);
  }
  send_error(
      w_, make_error(ErrorKind::MethodNotAllowed,
                     m + " is not supported on resources of kind \"" + t.resource.resource + "\""));
}

Headers Handler::warning_headers() const {
  Headers h;
  for (const auto& wtext : warnings_)
    h.add("Warning", quote_warning(wtext));
  return h;
}

void Handler::reply_object(int status, const kube::TypeInfo& t, const Json& obj) {
  if (wants_table(req_) && obj.value("kind", "") == t.resource.kind) {
    Json table = to_table(t, {obj}, clock_.now(), include_object(req_), true);
    table["metadata"]["resourceVersion"] = meta_str(obj, "resourceVersion");
    send_json(w_, status, table, warning_headers());
    return;
  }
  send_json(w_, status, obj, warning_headers());
}

void Handler::list_or_watch(const kube::TypeInfo& t, const Route& r) {
  auto watch_param = req_.query_param("watch");
  if (watch_param && !watch_param->empty()) {
    auto b = parse_bool(*watch_param);
    if (!b) {
      send_error(w_, bad_request(bool_error("watch", *watch_param)));
      return;
    }
    if (*b) return watch(t, r);
  }
  if (req_.query_param("sendInitialEvents")) {
    send_error(w_, kube::make_invalid("ListOptions.meta.k8s.io", "",
                                      {{"FieldValueForbidden",
                                        "Forbidden: sendInitialEvents is forbidden for list",
                                        "sendInitialEvents"}}));
    return;
  }
  kube::ListOptions lo;
  lo.label_selector = req_.query_param("labelSelector").value_or("");
  lo.field_selector = req_.query_param("fieldSelector").value_or("");
  lo.continue_token = req_.query_param("continue").value_or("");
  lo.resource_version = req_.query_param("resourceVersion").value_or("");
  if (auto l = req_.query_param("limit"); l && !l->empty()) {
    if (!parse_int64(*l, lo.limit) || lo.limit < 0) {
      send_error(w_, bad_request("invalid limit: " + *l));
      return;
    }
  }
  auto res = store_.list(t.resource, r.ns, lo);
  if (!res.ok()) return send_error(w_, res.error());
  const kube::ObjectList& l = res.value();
  Json meta = {{"resourceVersion", l.resource_version}};
  if (!l.continue_token.empty()) meta["continue"] = l.continue_token;
  if (l.remaining_item_count) meta["remainingItemCount"] = *l.remaining_item_count;
  if (wants_table(req_)) {
    Json table = to_table(t, l.items, clock_.now(), include_object(req_), true);
    table["metadata"] = meta;
    send_json(w_, 200, table);
    return;
  }
  send_json(w_, 200,
            Json{{"apiVersion", t.resource.api_version()},
                 {"kind", t.list_kind},
                 {"metadata", meta},
                 {"items", l.items}});
}

void Handler::watch(const kube::TypeInfo& t, const Route& r) {
  if (req_.query_param("sendInitialEvents")) {
    send_error(w_, kube::make_invalid("ListOptions.meta.k8s.io", "",
                                      {{"FieldValueForbidden",
                                        "Forbidden: sendInitialEvents is not supported by this "
                                        "server",
                                        "sendInitialEvents"}}));
    return;
  }
  kube::WatchOptions wo;
  wo.label_selector = req_.query_param("labelSelector").value_or("");
  wo.field_selector = req_.query_param("fieldSelector").value_or("");
  wo.resource_version = req_.query_param("resourceVersion").value_or("");
  auto bm = req_.query_param("allowWatchBookmarks");
  wo.allow_bookmarks = false;  // only for watchers that ask
  if (bm && !bm->empty()) {
    auto b = parse_bool(*bm);
    if (!b) {
      send_error(w_, bad_request(bool_error("allowWatchBookmarks", *bm)));
      return;
    }
    wo.allow_bookmarks = *b;
  }
  if (auto ts = req_.query_param("timeoutSeconds"); ts && !ts->empty()) {
    int64_t secs = 0;
    if (!parse_int64(*ts, secs) || secs < 0) {
      send_error(w_, bad_request("invalid timeoutSeconds: " + *ts));
      return;
    }
    if (secs > 0) wo.timeout = std::chrono::seconds(secs);
  }
  auto stream = store_.watch(t.resource, r.ns, wo);
  if (!stream.ok()) return send_error(w_, stream.error());
  bool table = wants_table(req_);
  Headers h{
      {"Content-Type", table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json"},
      {"Cache-Control", "no-cache, private"}};
  if (!w_.begin_stream(200, h)) return;
  IncludeObject include = include_object(req_);
  for (;;) {
    auto n = stream.value()->next(opts_.watch_poll);
    if (n.state == kube::WatchStream::State::Closed) break;
    if (n.state == kube::WatchStream::State::Timeout) {
      if (w_.closed()) break;
      continue;
    }
    Json obj = std::move(n.event.object);
    if (table && n.event.type != kube::WatchEventType::Bookmark &&
        n.event.type != kube::WatchEventType::Error) {
      std::string rv = meta_str(obj, "resourceVersion");
      obj = to_table(t, {obj}, clock_.now(), include, true);
      obj["metadata"]["resourceVersion"] = rv;
    }
    std::string line =
        Json{{"type", std::string(kube::to_string(n.event.type))}, {"object", obj}}.dump() + "\n";
    if (!w_.write_chunk(line)) break;
  }
  stream.value()->cancel();
  w_.end_stream();
}

void Handler::get(const kube::TypeInfo& t, const Route& r) {
  auto res = store_.get(t.resource, r.ns, r.name, kube::GetOptions{r.sub});
  if (!res.ok()) return send_error(w_, res.error());
  reply_object(200, t, res.value());
}

void Handler::create(const kube::TypeInfo& t, const Route& r) {
  if (!r.sub.empty() || (t.resource.namespaced && !r.has_ns)) {
    send_error(w_, not_found_url());
    return;
  }
  auto params = write_params(req_);
  if (!params.ok()) return send_error(w_, params.error());
  auto body = parse_body(req_);
  if (!body.ok()) return send_error(w_, body.error());
  kube::CreateOptions co;
  co.dry_run = params.value().dry_run;
  co.field_validation = params.value().validation;
  co.field_manager = params.value().field_manager;
  co.on_warning = [this](const std::string& s) { warnings_.push_back(s); };
  auto res = store_.create(t.resource, r.ns, body.value(), co);
  if (!res.ok()) return send_error(w_, res.error());
  reply_object(201, t, res.value());
}

// POST pods/<name>/eviction: the body is a policy/v1 Eviction naming the
// same pod (the real server answers 400 otherwise); success is a Status.
void Handler::evict(const kube::TypeInfo& t, const Route& r) {
  auto params = write_params(req_);
  if (!params.ok()) return send_error(w_, params.error());
  auto body = parse_body(req_);
  if (!body.ok()) return send_error(w_, body.error());
  Json ev = std::move(body.value());
  if (!ev.is_object()) return send_error(w_, bad_request("the body must be a JSON object"));
  const std::string body_name = meta_str(ev, "name");
  if (!body_name.empty() && body_name != r.name) {
    return send_error(w_, bad_request("name in URL does not match name in Eviction object"));
  }
  ev["metadata"]["name"] = r.name;
  kube::CreateOptions co;
  co.subresource = "eviction";
  co.dry_run = params.value().dry_run;
  auto res = store_.create(t.resource, r.ns, ev, co);
  if (!res.ok()) return send_error(w_, res.error());
  send_json(w_, 201, res.value(), warning_headers());
}

void Handler::update(const kube::TypeInfo& t, const Route& r) {
  auto params = write_params(req_);
  if (!params.ok()) return send_error(w_, params.error());
  auto body = parse_body(req_);
  if (!body.ok()) return send_error(w_, body.error());
  Json obj = std::move(body.value());
  if (!obj.is_object()) return send_error(w_, bad_request("the body must be a JSON object"));
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  std::string body_name = meta_str(obj, "name");
  if (r.sub != "scale") {
    if (!body_name.empty() && body_name != r.name) {
      return send_error(w_, bad_request("the name of the object (" + body_name +
                                        ") does not match the name on the URL (" + r.name + ")"));
    }
    std::string body_ns = meta_str(obj, "namespace");
    if (t.resource.namespaced && !body_ns.empty() && body_ns != r.ns) {
      return send_error(w_, bad_request("the namespace of the provided object does not match the "
                                        "namespace sent on the request"));
    }
  }
  obj["metadata"]["name"] = r.name;
  if (t.resource.namespaced) obj["metadata"]["namespace"] = r.ns;
  bool existed = store_.exists(t.resource, r.ns, r.name);
  kube::UpdateOptions uo;
  uo.subresource = r.sub;
  uo.dry_run = params.value().dry_run;
  uo.field_validation = params.value().validation;
  uo.field_manager = params.value().field_manager;
  uo.on_warning = [this](const std::string& s) { warnings_.push_back(s); };
  auto res = store_.update(t.resource, obj, uo);
  if (!res.ok()) return send_error(w_, res.error());
  reply_object(existed ? 200 : 201, t, res.value());
}

void Handler::patch(const kube::TypeInfo& t, const Route& r) {
  auto params = write_params(req_);
  if (!params.ok()) return send_error(w_, params.error());
  std::string ct = req_.header("Content-Type").value_or("");
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ')
    ct.pop_back();
  kube::PatchType type;
  if (ct == "application/merge-patch+json") {
    type = kube::PatchType::Merge;
  } else if (ct == "application/json-patch+json") {
    type = kube::PatchType::JsonPatch;
  } else if (ct == "application/strategic-merge-patch+json") {
    type = kube::PatchType::StrategicMerge;
  } else if (ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor") {
    type = kube::PatchType::Apply;
  } else {
    return send_error(
        w_, make_error(ErrorKind::UnsupportedMediaType,
                       "the body of the request was in an unknown format - accepted media types "
                       "include: application/json-patch+json, application/merge-patch+json, "
                       "application/apply-patch+yaml"));
  }
  Json patch_body = Json::parse(req_.body, nullptr, false);
  if (patch_body.is_discarded() && type == kube::PatchType::Apply) {
    auto docs = parse_yaml_documents(req_.body);
    if (docs.ok() && docs.value().size() == 1) patch_body = docs.value()[0];
  }
  if (patch_body.is_discarded()) {
    return send_error(w_, bad_request("error decoding patch: invalid JSON"));
  }
  bool existed = type != kube::PatchType::Apply || store_.exists(t.resource, r.ns, r.name);
  kube::PatchOptions po;
  po.subresource = r.sub;
  po.dry_run = params.value().dry_run;
  po.field_validation = params.value().validation;
  po.field_manager = params.value().field_manager;
  po.force = params.value().force;
  // Apply needs an explicit manager; the User-Agent default does not count.
  if (type == kube::PatchType::Apply && !req_.query_param("fieldManager")) po.field_manager.clear();
  po.on_warning = [this](const std::string& s) { warnings_.push_back(s); };
  auto res = store_.patch(t.resource, r.ns, r.name, type, patch_body, po);
  if (!res.ok()) return send_error(w_, res.error());
  reply_object(existed ? 200 : 201, t, res.value());
}

void Handler::remove(const kube::TypeInfo& t, const Route& r) {
  kube::DeleteOptions o;
  Json body = req_.body.empty() ? Json::object() : Json::parse(req_.body, nullptr, false);
  if (!body.is_object()) return send_error(w_, bad_request("invalid DeleteOptions body"));
  std::string policy = body.contains("propagationPolicy") && body["propagationPolicy"].is_string()
                           ? body["propagationPolicy"].get<std::string>()
                           : "";
  if (auto q = req_.query_param("propagationPolicy")) policy = *q;
  if (policy == "Background") {
    o.propagation_policy = kube::PropagationPolicy::Background;
  } else if (policy == "Foreground") {
    o.propagation_policy = kube::PropagationPolicy::Foreground;
  } else if (policy == "Orphan") {
    o.propagation_policy = kube::PropagationPolicy::Orphan;
  } else if (!policy.empty()) {
    return send_error(w_, kube::make_invalid("DeleteOptions.meta.k8s.io", "",
                                             {{"FieldValueNotSupported",
                                               "Unsupported value: \"" + policy +
                                                   "\": supported values: \"Foreground\", "
                                                   "\"Background\", \"Orphan\"",
                                               "propagationPolicy"}}));
  }
  if (const Json* pre = kube::find_path(body, "preconditions"); pre && pre->is_object()) {
    if (auto u = pre->find("uid"); u != pre->end() && u->is_string()) {
      o.precondition_uid = u->get<std::string>();
    }
    if (auto v = pre->find("resourceVersion"); v != pre->end() && v->is_string()) {
      o.precondition_resource_version = v->get<std::string>();
    }
  }
  if (const Json* dr = kube::find_path(body, "dryRun"); dr && dr->is_array()) {
    for (const auto& d : *dr) {
      if (d == "All") o.dry_run = true;
    }
  }
  if (auto q = req_.query_param("dryRun"); q && *q == "All") o.dry_run = true;
  if (const Json* g = kube::find_path(body, "gracePeriodSeconds"); g && g->is_number_integer()) {
    o.grace_period_seconds = g->get<int64_t>();
  }
  auto res = store_.remove(t.resource, r.ns, r.name, o);
  if (!res.ok()) return send_error(w_, res.error());
  const kube::DeleteResult& d = res.value();
  if (d.deleted && (t.custom || t.resource.group == "apiextensions.k8s.io")) {
    send_json(w_, 200,
              Json{{"kind", "Status"},
                   {"apiVersion", "v1"},
                   {"metadata", Json::object()},
                   {"status", "Success"},
                   {"details",
                    {{"name", r.name},
                     {"group", t.resource.group},
                     {"kind", t.resource.resource},
                     {"uid", meta_str(d.object, "uid")}}}});
    return;
  }
  reply_object(200, t, d.object);
}

void Handler::remove_collection(const kube::TypeInfo& t, const Route& r) {
  kube::ListOptions lo;
  lo.label_selector = req_.query_param("labelSelector").value_or("");
  lo.field_selector = req_.query_param("fieldSelector").value_or("");
  auto l = store_.list(t.resource, r.ns, lo);
  if (!l.ok()) return send_error(w_, l.error());
  Json items = Json::array();
  for (const auto& obj : l.value().items) {
    std::string ns = meta_str(obj, "namespace");
    auto d = store_.remove(t.resource, ns, meta_str(obj, "name"), {});
    if (d.ok()) items.push_back(d.value().object);
  }
  send_json(w_, 200,
            Json{{"apiVersion", t.resource.api_version()},
                 {"kind", t.list_kind},
                 {"metadata", {{"resourceVersion", std::to_string(store_.resource_version())}}},
                 {"items", items}});
}

}  // namespace

void RequestCounts::add(const std::string& key, bool write, const std::string& object) {
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[key];
  if (!write) return;
  writes_.push_back(key + " " + object);
  if (writes_.size() > kKeptWrites) writes_.pop_front();
}

std::deque<std::string> RequestCounts::writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writes_;
}

std::map<std::string, int64_t> RequestCounts::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

void RequestCounts::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  counts_.clear();
  writes_.clear();
}

std::map<std::string, int64_t> TestApiServer::request_counts() const {
  return counts_.snapshot();
}

void TestApiServer::reset_request_counts() {
  counts_.reset();
}

void TestApiServer::handle(const HttpRequest& req, ResponseWriter& w) {
  Handler h(*store_, clock_, options_, counts_, req, w);
  try {
    h.serve();
  } catch (const std::exception& e) {
    if (!w.started()) {
      send_error(
          w, make_error(ErrorKind::Internal, std::string("Internal error occurred: ") + e.what()));
    }
  }
}

}  // namespace gpupool::apiserver
