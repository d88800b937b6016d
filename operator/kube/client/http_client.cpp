#include "operator/kube/client/http_client.h"

#include "operator/kube/client/watch_decoder.h"

#include <curl/curl.h>

#include <algorithm>
#include <deque>
#include <thread>

namespace gpupool::kube {

struct HttpKubeClient::Request {
  std::string method = "GET";
  std::string path_and_query;
  std::string body;
  std::string content_type;
  bool idempotent = false;  // safe to repeat after a connection failure
  WarningHandler on_warning;
};

struct HttpKubeClient::Response {
  long status = 0;
  std::string body;
  std::vector<std::string> warnings;
  std::optional<int64_t> retry_after;
};

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

ApiError transport_error(CURLcode code, const std::string& what) {
  ErrorKind kind = ErrorKind::Unavailable;
  if (code == CURLE_OPERATION_TIMEDOUT) kind = ErrorKind::Timeout;
  ApiError e = make_error(kind, what + ": " + curl_easy_strerror(code));
  return e;
}

bool retryable_transport(CURLcode c) {
  return c == CURLE_COULDNT_CONNECT || c == CURLE_GOT_NOTHING || c == CURLE_SEND_ERROR ||
         c == CURLE_RECV_ERROR;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Parses response headers we care about. `userdata` is a Response*.
size_t header_cb(char* data, size_t size, size_t n, void* userdata) {
  auto* resp = static_cast<HttpKubeClient::Response*>(userdata);
  const std::string line(data, size * n);
  const auto colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  const std::string name = lower(line.substr(0, colon));
  std::string value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
    value.erase(0, 1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.pop_back();
  }
  if (name == "retry-after") {
    int64_t secs = 0;
    bool digits = !value.empty();
    for (char c : value) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      secs = secs * 10 + (c - '0');
      if (secs > 86400) secs = 86400;
    }
    if (digits) resp->retry_after = secs;
  } else if (name == "warning") {
    // 299 - "text"
    const auto q1 = value.find('"');
    const auto q2 = value.rfind('"');
    resp->warnings.push_back(q1 != std::string::npos && q2 > q1 ? value.substr(q1 + 1, q2 - q1 - 1)
                                                                : value);
  }
  return size * n;
}

size_t body_cb(char* data, size_t size, size_t n, void* userdata) {
  static_cast<std::string*>(userdata)->append(data, size * n);
  return size * n;
}

// Host and port of "https://host:port" (IPv6 in brackets kept).
std::pair<std::string, std::string> host_port(const std::string& server) {
  const auto scheme_end = server.find("://");
  const std::string rest = server.substr(scheme_end == std::string::npos ? 0 : scheme_end + 3);
  const std::string hostport = rest.substr(0, rest.find('/'));
  const auto colon = hostport.rfind(':');
  if (colon == std::string::npos || hostport.find(']', colon) != std::string::npos) {
    return {hostport, server.rfind("https", 0) == 0 ? "443" : "80"};
  }
  return {hostport.substr(0, colon), hostport.substr(colon + 1)};
}

// The header and connect-to lists of one transfer; they must outlive it.
struct HandleLists {
  curl_slist* headers = nullptr;
  curl_slist* connect_to = nullptr;
  HandleLists() = default;
  HandleLists(const HandleLists&) = delete;
  HandleLists& operator=(const HandleLists&) = delete;
  ~HandleLists() {
    if (headers != nullptr) curl_slist_free_all(headers);
    if (connect_to != nullptr) curl_slist_free_all(connect_to);
  }
};

// Everything a request handle needs: URL, TLS, auth headers.
void setup_handle(CURL* h, const ClientConfig& cfg, const Credentials& creds,
                  const std::string& path_and_query, const std::string& content_type, bool watch,
                  HandleLists& lists) {
  std::string base = cfg.server;
  if (!cfg.tls_server_name.empty() && base.rfind("https://", 0) == 0) {
    // Talk to the configured host but verify (and send SNI for) the
    // tls-server-name: the URL names it and CONNECT_TO maps it back.
    const auto [host, port] = host_port(cfg.server);
    base = "https://" + cfg.tls_server_name + ":" + port;
    const std::string mapping = cfg.tls_server_name + ":" + port + ":" + host + ":" + port;
    lists.connect_to = curl_slist_append(nullptr, mapping.c_str());
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, lists.connect_to);
  }
  const std::string url = base + path_and_query;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, cfg.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(cfg.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!watch)
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg.request_timeout.count()));
  if (cfg.insecure_skip_tls_verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  } else {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!cfg.ca_pem.empty()) {
      curl_blob blob{const_cast<char*>(cfg.ca_pem.data()), cfg.ca_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
  }
  if (!creds.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(creds.client_cert_pem.data()), creds.client_cert_pem.size(),
                   CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(creds.client_key_pem.data()), creds.client_key_pem.size(),
                  CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  if (!content_type.empty()) {
    headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  }
  if (!creds.token.empty()) {
    headers = curl_slist_append(headers, ("Authorization: Bearer " + creds.token).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  lists.headers = headers;
}

ApiError bad_request(std::string msg) {
  return make_error(ErrorKind::BadRequest, std::move(msg));
}

std::optional<ApiError> check_namespace(const Resource& r, const std::string& ns) {
  if (r.namespaced && ns.empty()) {
    return bad_request("a namespace is required for namespaced resource " + r.group_resource());
  }
  return std::nullopt;
}

void add_write_params(std::vector<std::pair<std::string, std::string>>& q, bool dry_run,
                      FieldValidation fv, const std::string& manager) {
  if (dry_run) q.emplace_back("dryRun", "All");
  q.emplace_back("fieldValidation", std::string(to_string(fv)));
  if (!manager.empty()) q.emplace_back("fieldManager", manager);
}

void fill_type(const Resource& r, Json& obj) {
  if (!obj.is_object()) return;
  if (!obj.contains("apiVersion")) obj["apiVersion"] = r.api_version();
  if (!obj.contains("kind")) obj["kind"] = r.kind;
}

// ---------------------------------------------------------------------------
// Watch

class HttpWatchStream final : public WatchStream {
 public:
  // `client_down`: the client's shutdown flag; set, the stream ends.
  HttpWatchStream(const Resource& r, const std::atomic<bool>* client_down)
      : resource_(r), decoder_(r), client_down_(client_down) {}
  ~HttpWatchStream() override {
    if (multi_ != nullptr) {
      if (easy_ != nullptr) curl_multi_remove_handle(multi_, easy_);
      curl_multi_cleanup(multi_);
    }
    if (easy_ != nullptr) curl_easy_cleanup(easy_);
  }

  // Starts the transfer and waits for the response headers. Non-200 answers
  // are returned as errors (the watch never started).
  std::optional<ApiError> start(const ClientConfig& cfg, const Credentials& creds,
                                const std::string& path, std::chrono::seconds watch_timeout) {
    global_init();
    easy_ = curl_easy_init();
    multi_ = curl_multi_init();
    if (easy_ == nullptr || multi_ == nullptr) {
      return make_error(ErrorKind::Internal, "cannot initialise libcurl");
    }
    setup_handle(easy_, cfg, creds, path, "", true, lists_);
    // The server ends the watch at timeoutSeconds; give up on a silent
    // connection a little after that.
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS,
                     static_cast<long>((watch_timeout.count() + 30) * 1000));
    curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &HttpWatchStream::on_header);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &HttpWatchStream::on_data);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
    curl_multi_add_handle(multi_, easy_);
    long idle_ms = 0;
    const long limit_ms = static_cast<long>(cfg.request_timeout.count());
    while (!headers_done_ && !finished_ && !stopped()) {
      pump(100, &idle_ms);
      if (idle_ms >= limit_ms) {
        return make_error(ErrorKind::Timeout, "watch " + resource_.group_resource() +
                                                  ": no response within the request timeout");
      }
    }
    if (stopped()) return make_error(ErrorKind::Unavailable, "watch cancelled");
    if (finished_ && status_ == 0)
      return transport_error(result_, "watch " + resource_.group_resource());
    if (status_ != 200) {
      // Read the Status body of the error answer.
      idle_ms = 0;
      while (!finished_ && idle_ms < limit_ms)
        pump(100, &idle_ms);
      Json body = Json::parse(error_body_, nullptr, false);
      ApiError e = from_status_json(body.is_discarded() ? Json() : body, static_cast<int>(status_));
      if (retry_after_) e.retry_after_seconds = retry_after_;
      return e;
    }
    return std::nullopt;
  }

  Next next(std::chrono::milliseconds timeout) override {
    if (auto n = pop()) return *n;
    if (closed_ || stopped()) return close();
    if (!finished_) pump(static_cast<int>(std::max<int64_t>(0, timeout.count())), nullptr);
    if (auto n = pop()) return *n;
    if (finished_ || stopped()) return close();
    return Next{State::Timeout, {}};
  }

  void cancel() override {
    cancelled_.store(true);
    if (multi_ != nullptr) curl_multi_wakeup(multi_);
  }

 private:
  Next close() {
    closed_ = true;
    events_.clear();
    return Next{State::Closed, {}};
  }

  std::optional<Next> pop() {
    if (events_.empty() || closed_) return std::nullopt;
    Next n{State::Event, std::move(events_.front())};
    events_.pop_front();
    if (n.event.type == WatchEventType::Error) close_after_error_ = true;
    if (close_after_error_ && events_.empty()) closed_ = true;  // nothing after an Error
    return n;
  }

  // Runs libcurl for up to `wait_ms`. `idle_ms` accumulates waits with no
  // socket activity (a deadline without reading a clock).
  void pump(int wait_ms, long* idle_ms) {
    int running = 0;
    curl_multi_perform(multi_, &running);
    collect();
    if (finished_ || stopped() || !events_.empty()) return;
    int numfds = 0;
    curl_multi_poll(multi_, nullptr, 0, wait_ms, &numfds);
    if (numfds == 0 && idle_ms != nullptr) *idle_ms += wait_ms;
    curl_multi_perform(multi_, &running);
    collect();
  }

  void collect() {
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
      if (m->msg == CURLMSG_DONE) {
        // A last event without a trailing newline still counts.
        if (status_ == 200) {
          decoder_.finish();
          take_events();
        }
        finished_ = true;
        result_ = m->data.result;
        long code = 0;
        curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code);
        if (code != 0) status_ = code;
        headers_done_ = true;
      }
    }
  }

  static size_t on_header(char* data, size_t size, size_t n, void* self_ptr) {
    auto* self = static_cast<HttpWatchStream*>(self_ptr);
    const size_t len = size * n;
    std::string line(data, len);
    if (line.rfind("HTTP/", 0) == 0) {
      // Status line (possibly after a 100 Continue).
      const auto sp = line.find(' ');
      self->status_ = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
    } else if (line == "\r\n" || line == "\n") {
      if (self->status_ >= 200) self->headers_done_ = true;
    } else if (lower(line).rfind("retry-after:", 0) == 0) {
      HttpKubeClient::Response r;
      header_cb(data, size, n, &r);
      self->retry_after_ = r.retry_after;
    }
    return len;
  }

  static size_t on_data(char* data, size_t size, size_t n, void* self_ptr) {
    auto* self = static_cast<HttpWatchStream*>(self_ptr);
    const size_t len = size * n;
    if (self->stopped()) return 0;  // aborts the transfer
    if (self->status_ != 200) {
      if (self->error_body_.size() < (1u << 20)) self->error_body_.append(data, len);
      return len;
    }
    self->decoder_.feed(std::string_view(data, len));
    self->take_events();
    // A garbled stream ends here: nothing after it can be trusted.
    if (self->decoder_.garbled()) {
      self->finished_ = true;
      return 0;
    }
    return len;
  }

  void take_events() {
    for (auto& ev : decoder_.take_events())
      events_.push_back(std::move(ev));
  }

  Resource resource_;
  WatchDecoder decoder_;
  CURL* easy_ = nullptr;
  CURLM* multi_ = nullptr;
  HandleLists lists_;
  std::atomic<bool> cancelled_{false};
  const std::atomic<bool>* client_down_ = nullptr;
  bool stopped() const {
    return cancelled_.load() || (client_down_ != nullptr && client_down_->load());
  }
  // The rest is touched only by the consumer thread (inside next()/start()).
  long status_ = 0;
  bool headers_done_ = false;
  bool finished_ = false;
  bool closed_ = false;
  bool close_after_error_ = false;
  CURLcode result_ = CURLE_OK;
  std::optional<int64_t> retry_after_;
  std::string error_body_;
  std::deque<WatchEvent> events_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Paths

std::string url_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string resource_path(const Resource& r, const std::string& ns, const std::string& name,
                          const std::string& subresource) {
  std::string p = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
  if (r.namespaced && !ns.empty()) p += "/namespaces/" + url_escape(ns);
  p += "/" + r.resource;
  if (!name.empty()) {
    p += "/" + url_escape(name);
    if (!subresource.empty()) p += "/" + subresource;
  }
  return p;
}

std::string query_string(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    q += q.empty() ? "?" : "&";
    q += url_escape(k) + "=" + url_escape(v);
  }
  return q;
}

// ---------------------------------------------------------------------------
// Handle pool

class HttpKubeClient::Pool {
 public:
  ~Pool() {
    for (CURL* h : idle_)
      curl_easy_cleanup(h);
  }
  CURL* take() {
    {
      MutexLock lock(mu_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        curl_easy_reset(h);  // keeps live connections
        return h;
      }
    }
    return curl_easy_init();
  }
  void give(CURL* h) {
    MutexLock lock(mu_);
    if (idle_.size() < 8) {
      idle_.push_back(h);
      return;
    }
    curl_easy_cleanup(h);
  }

 private:
  Mutex mu_;
  std::vector<CURL*> idle_ GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------
// Client

HttpKubeClient::HttpKubeClient(ClientConfig config, const Clock& clock)
    : HttpKubeClient(std::move(config), clock, Options{}) {}

HttpKubeClient::HttpKubeClient(ClientConfig config, const Clock& clock, Options options)
    : config_(std::move(config)),
      clock_(clock),
      options_(options),
      limiter_(clock, config_.qps, config_.burst),
      pool_(std::make_unique<Pool>()) {
  global_init();
}

HttpKubeClient::~HttpKubeClient() = default;

namespace {

ApiError shut_down_error() {
  return make_error(ErrorKind::Unavailable, "client shut down");
}

// CURLOPT_XFERINFOFUNCTION: aborts a transfer once the client shuts down.
int abort_on_shutdown(void* down, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(down)->load() ? 1 : 0;
}

}  // namespace

void HttpKubeClient::shutdown() {
  {
    MutexLock lock(sleep_mu_);
    shut_down_.store(true);
  }
  sleep_cv_.notify_all();
}

bool HttpKubeClient::pause(std::chrono::milliseconds d) {
  MutexLock lock(sleep_mu_);
  return !lock.wait_for(sleep_cv_, d, [this] { return shut_down_.load(); });
}

bool HttpKubeClient::take_token() {
  const auto wait = limiter_.reserve();
  return wait.count() <= 0 ? !shut_down_.load() : pause(wait);
}

ApiResult<HttpKubeClient::Response> HttpKubeClient::send(Request& req) {
  bool refreshed = false;
  for (int attempt = 0;; ++attempt) {
    if (!take_token()) return fail(shut_down_error());
    Credentials creds;
    if (config_.credentials) {
      auto c = config_.credentials->get(clock_);
      if (!c) {
        return fail(
            make_error(ErrorKind::Unauthorized, "cannot obtain credentials: " + c.error().message));
      }
      creds = std::move(c).value();
    }
    CURL* h = pool_->take();
    if (h == nullptr) return fail(make_error(ErrorKind::Internal, "cannot initialise libcurl"));
    Response resp;
    HandleLists lists;
    setup_handle(h, config_, creds, req.path_and_query, req.content_type, false, lists);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &abort_on_shutdown);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &shut_down_);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (req.method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (!req.body.empty() || req.method != "DELETE") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &body_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp.body);
    const CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, nullptr);
    requests_.fetch_add(1);
    if (rc != CURLE_OK) {
      curl_easy_cleanup(h);  // drop the possibly broken connection
      if (shut_down_.load()) return fail(shut_down_error());
      if (req.idempotent && retryable_transport(rc) && attempt < options_.max_retries) {
        retries_.fetch_add(1);
        if (!pause(options_.retry_backoff * (attempt + 1))) return fail(shut_down_error());
        continue;
      }
      return fail(transport_error(
          rc, req.method + " " + req.path_and_query.substr(0, req.path_and_query.find('?'))));
    }
    pool_->give(h);
    if (resp.status == 401 && config_.credentials && config_.credentials->refreshable() &&
        !refreshed) {
      // A rotated token or expired plugin credential: refresh once.
      refreshed = true;
      config_.credentials->invalidate();
      continue;
    }
    if (resp.status == 429 && !resp.retry_after) {
      // Servers may give the delay only in Status.details.retryAfterSeconds.
      const Json body = Json::parse(resp.body, nullptr, false);
      if (!body.is_discarded()) resp.retry_after = from_status_json(body, 429).retry_after_seconds;
    }
    if (resp.status == 429 && resp.retry_after && attempt < options_.max_retries) {
      retries_.fetch_add(1);
      if (!pause(std::min<std::chrono::milliseconds>(std::chrono::seconds(*resp.retry_after),
                                                     options_.max_retry_wait))) {
        return fail(shut_down_error());
      }
      continue;
    }
    if (req.on_warning && resp.status >= 200 && resp.status < 300) {
      for (const auto& w : resp.warnings)
        req.on_warning(w);
    }
    return resp;
  }
}

ApiResult<Json> HttpKubeClient::call(Request& req) {
  auto resp = send(req);
  if (!resp) return fail(resp.error());
  Json body = Json::parse(resp->body, nullptr, false);
  if (resp->status < 200 || resp->status >= 300) {
    ApiError e =
        from_status_json(body.is_discarded() ? Json() : body, static_cast<int>(resp->status));
    if (resp->retry_after && !e.retry_after_seconds) e.retry_after_seconds = resp->retry_after;
    return fail(std::move(e));
  }
  if (body.is_discarded() || !body.is_object()) {
    return fail(
        make_error(ErrorKind::Internal,
                   req.method + " " + req.path_and_query.substr(0, req.path_and_query.find('?')) +
                       ": invalid JSON in a " + std::to_string(resp->status) + " response"));
  }
  return body;
}

ApiResult<Json> HttpKubeClient::get_path(const std::string& path_and_query) {
  Request req;
  req.path_and_query = path_and_query;
  req.idempotent = true;
  return call(req);
}

ApiResult<Json> HttpKubeClient::get(const Resource& r, const std::string& ns,
                                    const std::string& name, const GetOptions& opts) {
  if (auto e = check_namespace(r, ns)) return fail(*e);
  if (name.empty()) return fail(bad_request("get " + r.group_resource() + ": name is required"));
  Request req;
  req.path_and_query = resource_path(r, ns, name, opts.subresource);
  req.idempotent = true;
  auto obj = call(req);
  if (obj) fill_type(r, *obj);
  return obj;
}

ApiResult<ObjectList> HttpKubeClient::list(const Resource& r, const std::string& ns,
                                           const ListOptions& opts) {
  std::vector<std::pair<std::string, std::string>> q;
  if (!opts.label_selector.empty()) q.emplace_back("labelSelector", opts.label_selector);
  if (!opts.field_selector.empty()) q.emplace_back("fieldSelector", opts.field_selector);
  if (opts.limit > 0) q.emplace_back("limit", std::to_string(opts.limit));
  if (!opts.continue_token.empty()) q.emplace_back("continue", opts.continue_token);
  if (!opts.resource_version.empty()) q.emplace_back("resourceVersion", opts.resource_version);
  Request req;
  req.path_and_query = resource_path(r, ns) + query_string(q);
  req.idempotent = true;
  auto body = call(req);
  if (!body) return fail(body.error());
  ObjectList out;
  auto items = body->find("items");
  if (items != body->end() && items->is_array()) {
    out.items.reserve(items->size());
    for (auto& it : *items) {
      fill_type(r, it);
      out.items.push_back(std::move(it));
    }
  } else if (items != body->end() && !items->is_null()) {
    return fail(
        make_error(ErrorKind::Internal, "list " + r.group_resource() + ": items is not an array"));
  }
  if (auto md = body->find("metadata"); md != body->end() && md->is_object()) {
    out.resource_version = md->value("resourceVersion", "");
    out.continue_token = md->value("continue", "");
    if (auto rc = md->find("remainingItemCount"); rc != md->end() && rc->is_number_integer()) {
      out.remaining_item_count = rc->get<int64_t>();
    }
  }
  return out;
}

ApiResult<Json> HttpKubeClient::create(const Resource& r, const std::string& ns, const Json& obj,
                                       const CreateOptions& opts) {
  std::string target_ns = ns;
  if (target_ns.empty() && obj.is_object()) {
    target_ns = obj.value("/metadata/namespace"_json_pointer, "");
  }
  if (auto e = check_namespace(r, target_ns)) return fail(*e);
  std::vector<std::pair<std::string, std::string>> q;
  add_write_params(q, opts.dry_run, opts.field_validation, opts.field_manager);
  Request req;
  req.method = "POST";
  if (opts.subresource.empty()) {
    req.path_and_query = resource_path(r, target_ns) + query_string(q);
  } else {
    // A subresource of an existing object (pods/<name>/eviction): the
    // object's name is the body's metadata.name.
    const std::string name = obj.is_object() ? obj.value("/metadata/name"_json_pointer, "") : "";
    if (name.empty()) {
      return fail(bad_request("create " + r.group_resource() + "/" + opts.subresource +
                              ": metadata.name is required"));
    }
    req.path_and_query = resource_path(r, target_ns, name, opts.subresource) + query_string(q);
  }
  req.body = obj.dump();
  req.content_type = "application/json";
  req.on_warning = opts.on_warning;
  auto out = call(req);
  if (out) fill_type(r, *out);
  return out;
}

ApiResult<Json> HttpKubeClient::update(const Resource& r, const Json& obj,
                                       const UpdateOptions& opts) {
  if (!obj.is_object())
    return fail(bad_request("update " + r.group_resource() + ": not an object"));
  const std::string ns = obj.value("/metadata/namespace"_json_pointer, "");
  const std::string name = obj.value("/metadata/name"_json_pointer, "");
  if (auto e = check_namespace(r, ns)) return fail(*e);
  if (name.empty()) {
    return fail(bad_request("update " + r.group_resource() + ": metadata.name is required"));
  }
  std::vector<std::pair<std::string, std::string>> q;
  add_write_params(q, opts.dry_run, opts.field_validation, opts.field_manager);
  Request req;
  req.method = "PUT";
  req.path_and_query = resource_path(r, ns, name, opts.subresource) + query_string(q);
  req.body = obj.dump();
  req.content_type = "application/json";
  req.on_warning = opts.on_warning;
  auto out = call(req);
  if (out) fill_type(r, *out);
  return out;
}

ApiResult<Json> HttpKubeClient::patch(const Resource& r, const std::string& ns,
                                      const std::string& name, PatchType type, const Json& patch,
                                      const PatchOptions& opts) {
  if (auto e = check_namespace(r, ns)) return fail(*e);
  if (name.empty()) return fail(bad_request("patch " + r.group_resource() + ": name is required"));
  if (type == PatchType::Apply && opts.field_manager.empty()) {
    return fail(bad_request("apply patch of " + r.group_resource() + " needs a field manager"));
  }
  std::vector<std::pair<std::string, std::string>> q;
  add_write_params(q, opts.dry_run, opts.field_validation, opts.field_manager);
  if (type == PatchType::Apply && opts.force) q.emplace_back("force", "true");
  Request req;
  req.method = "PATCH";
  req.path_and_query = resource_path(r, ns, name, opts.subresource) + query_string(q);
  req.body = patch.dump();  // JSON is valid YAML for apply patches
  req.content_type = std::string(content_type(type));
  req.on_warning = opts.on_warning;
  auto out = call(req);
  if (out) fill_type(r, *out);
  return out;
}

ApiResult<DeleteResult> HttpKubeClient::remove(const Resource& r, const std::string& ns,
                                               const std::string& name, const DeleteOptions& opts) {
  if (auto e = check_namespace(r, ns)) return fail(*e);
  if (name.empty()) return fail(bad_request("delete " + r.group_resource() + ": name is required"));
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  switch (opts.propagation_policy) {
    case PropagationPolicy::Default:
      break;
    case PropagationPolicy::Background:
      body["propagationPolicy"] = "Background";
      break;
    case PropagationPolicy::Foreground:
      body["propagationPolicy"] = "Foreground";
      break;
    case PropagationPolicy::Orphan:
      body["propagationPolicy"] = "Orphan";
      break;
  }
  if (opts.precondition_uid) body["preconditions"]["uid"] = *opts.precondition_uid;
  if (opts.precondition_resource_version) {
    body["preconditions"]["resourceVersion"] = *opts.precondition_resource_version;
  }
  if (opts.grace_period_seconds) body["gracePeriodSeconds"] = *opts.grace_period_seconds;
  std::vector<std::pair<std::string, std::string>> q;
  if (opts.dry_run) {
    body["dryRun"] = Json::array({"All"});
    q.emplace_back("dryRun", "All");
  }
  Request req;
  req.method = "DELETE";
  req.path_and_query = resource_path(r, ns, name) + query_string(q);
  req.body = body.dump();
  req.content_type = "application/json";
  auto resp = send(req);
  if (!resp) return fail(resp.error());
  Json out = Json::parse(resp->body, nullptr, false);
  if (resp->status < 200 || resp->status >= 300) {
    ApiError e =
        from_status_json(out.is_discarded() ? Json() : out, static_cast<int>(resp->status));
    if (resp->retry_after && !e.retry_after_seconds) e.retry_after_seconds = resp->retry_after;
    return fail(std::move(e));
  }
  DeleteResult result;
  if (out.is_discarded() || !out.is_object()) {
    result.deleted = true;  // some servers answer 200 with an empty body
    return result;
  }
  if (out.value("kind", "") == "Status") {
    result.deleted = out.value("status", "") == "Success";
  } else {
    // The object itself: still there when finalizers hold it (202 for
    // foreground deletion, or deletionTimestamp with finalizers left).
    const auto md = out.find("metadata");
    const bool terminating = md != out.end() && md->is_object() &&
                             md->contains("deletionTimestamp") && md->contains("finalizers") &&
                             (*md)["finalizers"].is_array() && !(*md)["finalizers"].empty();
    result.deleted = resp->status != 202 && !terminating;
    fill_type(r, out);
  }
  result.object = std::move(out);
  return result;
}

ApiResult<std::unique_ptr<WatchStream>> HttpKubeClient::watch(const Resource& r,
                                                              const std::string& ns,
                                                              const WatchOptions& opts) {
  const auto timeout = opts.timeout.value_or(options_.default_watch_timeout);
  std::vector<std::pair<std::string, std::string>> q{{"watch", "true"}};
  if (!opts.resource_version.empty()) q.emplace_back("resourceVersion", opts.resource_version);
  if (!opts.label_selector.empty()) q.emplace_back("labelSelector", opts.label_selector);
  if (!opts.field_selector.empty()) q.emplace_back("fieldSelector", opts.field_selector);
  if (opts.allow_bookmarks) q.emplace_back("allowWatchBookmarks", "true");
  q.emplace_back("timeoutSeconds", std::to_string(timeout.count()));
  const std::string path = resource_path(r, ns) + query_string(q);
  bool refreshed = false;
  for (int attempt = 0;; ++attempt) {
    if (!take_token()) return fail(shut_down_error());
    Credentials creds;
    if (config_.credentials) {
      auto c = config_.credentials->get(clock_);
      if (!c) {
        return fail(
            make_error(ErrorKind::Unauthorized, "cannot obtain credentials: " + c.error().message));
      }
      creds = std::move(c).value();
    }
    auto stream = std::make_unique<HttpWatchStream>(r, &shut_down_);
    requests_.fetch_add(1);
    auto err = stream->start(config_, creds, path, timeout);
    if (!err) return std::unique_ptr<WatchStream>(std::move(stream));
    if (err->code == 401 && config_.credentials && config_.credentials->refreshable() &&
        !refreshed) {
      refreshed = true;
      config_.credentials->invalidate();
      continue;
    }
    if (err->kind == ErrorKind::TooManyRequests && err->retry_after_seconds &&
        attempt < options_.max_retries) {
      retries_.fetch_add(1);
      if (!pause(std::min<std::chrono::milliseconds>(
              std::chrono::seconds(*err->retry_after_seconds), options_.max_retry_wait))) {
        return fail(shut_down_error());
      }
      continue;
    }
    return fail(std::move(*err));
  }
}

}  // namespace gpupool::kube
