#include "operator/httpserver/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gpupool::http {

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool is_token_char(char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Parses a non-negative decimal or hex number without overflow.
bool parse_size(std::string_view s, int base, size_t& out) {
  if (s.empty() || s.size() > 15) return false;
  size_t v = 0;
  for (char c : s) {
    int d = base == 16 ? hex_value(c) : (c >= '0' && c <= '9' ? c - '0' : -1);
    if (d < 0) return false;
    v = v * static_cast<size_t>(base) + static_cast<size_t>(d);
  }
  out = v;
  return true;
}

// strerror is not thread-safe; the GNU strerror_r is.
std::string errno_text(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof buf);
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::string percent_encode(std::string_view s) {
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

Headers::Headers(std::initializer_list<std::pair<std::string, std::string>> init) : items_(init) {}

void Headers::add(std::string name, std::string value) {
  items_.emplace_back(std::move(name), std::move(value));
}

void Headers::set(std::string name, std::string value) {
  items_.erase(std::remove_if(items_.begin(), items_.end(),
                              [&](const auto& kv) { return iequals(kv.first, name); }),
               items_.end());
  items_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string> Headers::get(std::string_view name) const {
  for (const auto& kv : items_) {
    if (iequals(kv.first, name)) return kv.second;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> HttpRequest::query_params() const {
  std::vector<std::pair<std::string, std::string>> out;
  std::string_view q = query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back(percent_decode(part, true), "");
    } else {
      out.emplace_back(percent_decode(part.substr(0, eq), true),
                       percent_decode(part.substr(eq + 1), true));
    }
  }
  return out;
}

std::optional<std::string> HttpRequest::query_param(std::string_view name) const {
  for (auto& kv : query_params()) {
    if (kv.first == name) return kv.second;
  }
  return std::nullopt;
}

Result<HttpRequest, RequestError> parse_request_head(std::string_view head) {
  auto bad = [](std::string message) { return fail(RequestError{400, std::move(message)}); };
  HttpRequest req;
  std::string_view hv = head;
  // Tolerate leading empty lines (RFC 9112 2.2).
  while (hv.substr(0, 2) == "\r\n")
    hv.remove_prefix(2);
  size_t eol = hv.find("\r\n");
  std::string_view request_line = hv.substr(0, eol);
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : hv.substr(eol + 2);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 ||
      sp2 == sp1 + 1 || request_line.find(' ', sp2 + 1) != std::string_view::npos) {
    return bad("malformed request line");
  }
  req.method = std::string(request_line.substr(0, sp1));
  req.target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
  req.version = std::string(request_line.substr(sp2 + 1));
  if (!std::all_of(req.method.begin(), req.method.end(), is_token_char)) {
    return bad("malformed method");
  }
  if (req.version != "HTTP/1.1" && req.version != "HTTP/1.0") {
    return bad("unsupported HTTP version");
  }
  if (req.target.empty() || req.target[0] != '/') {
    return bad("request target must be an absolute path");
  }
  size_t qpos = req.target.find('?');
  std::string raw_path = req.target.substr(0, qpos);
  if (qpos != std::string::npos) req.query = req.target.substr(qpos + 1);
  req.path = percent_decode(raw_path, false);

  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 ||
        !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon),
                     is_token_char)) {
      return bad("malformed header line");
    }
    req.headers.add(std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
  }
  return req;
}

Result<BodyFraming, RequestError> body_framing(const HttpRequest& request, size_t max_body_bytes) {
  BodyFraming f;
  auto te = request.headers.get("Transfer-Encoding");
  auto cl = request.headers.get("Content-Length");
  if (te && cl) return fail(RequestError{400, "both Transfer-Encoding and Content-Length"});
  if (auto ex = request.headers.get("Expect")) f.expect_continue = iequals(*ex, "100-continue");
  if (te) {
    if (!iequals(trim(*te), "chunked")) {
      return fail(RequestError{501, "unsupported transfer coding"});
    }
    f.kind = BodyFraming::Kind::Chunked;
  } else if (cl) {
    size_t n = 0;
    if (!parse_size(trim(*cl), 10, n)) return fail(RequestError{400, "malformed Content-Length"});
    if (n > max_body_bytes) return fail(RequestError{413, "request body too large"});
    f.kind = BodyFraming::Kind::Length;
    f.length = n;
  }
  f.keep_alive = request.version == "HTTP/1.1";
  if (auto c = request.headers.get("Connection")) {
    if (iequals(trim(*c), "close")) f.keep_alive = false;
    if (iequals(trim(*c), "keep-alive")) f.keep_alive = true;
  }
  return f;
}

ChunkedDecoder::State ChunkedDecoder::fail(int status, std::string message) {
  phase_ = Phase::Failed;
  error_ = RequestError{status, std::move(message)};
  return State::Failed;
}

ChunkedDecoder::State ChunkedDecoder::decode(std::string& buf, std::string& body) {
  size_t pos = 0;
  State state = State::NeedMore;
  while (state == State::NeedMore) {
    if (phase_ == Phase::Done) {
      state = State::Done;
    } else if (phase_ == Phase::Failed) {
      state = State::Failed;
    } else if (phase_ == Phase::Size || phase_ == Phase::Trailers) {
      const size_t e = buf.find("\r\n", pos);
      // The same limit whether or not the line's end has arrived yet (one
      // byte of slack for a '\r' waiting for its '\n').
      if (e == std::string::npos) {
        if (buf.size() - pos > max_line_ + 1) state = fail(400, "chunk line too long");
        break;
      }
      if (e - pos > max_line_) {
        state = fail(400, "chunk line too long");
        break;
      }
      const std::string_view line(buf.data() + pos, e - pos);
      pos = e + 2;
      if (phase_ == Phase::Trailers) {
        if (line.empty()) phase_ = Phase::Done;
        continue;
      }
      const std::string_view sz = trim(line.substr(0, line.find(';')));
      size_t n = 0;
      if (!parse_size(sz, 16, n)) {
        state = fail(400, "malformed chunked body");
      } else if (n == 0) {
        phase_ = Phase::Trailers;
      } else if (n > max_body_ || body.size() > max_body_ - n) {
        state = fail(413, "request body too large");
      } else {
        remaining_ = n;
        phase_ = Phase::Data;
      }
    } else if (phase_ == Phase::Data) {
      const size_t take = std::min(remaining_, buf.size() - pos);
      body.append(buf, pos, take);
      pos += take;
      remaining_ -= take;
      if (remaining_ > 0) break;
      phase_ = Phase::DataEnd;
    } else {  // Phase::DataEnd
      if (buf.size() - pos < 2) break;
      if (buf.compare(pos, 2, "\r\n") != 0) {
        state = fail(400, "malformed chunked body");
      } else {
        pos += 2;
        phase_ = Phase::Size;
      }
    }
  }
  buf.erase(0, pos);
  return state;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

// One accepted socket and the thread serving it.
class Connection {
 public:
  Connection(int fd, std::string peer, const HttpHandler& handler, const HttpServerOptions& opts,
             const std::atomic<bool>& stopping)
      : fd_(fd), peer_(std::move(peer)), handler_(handler), opts_(opts), stopping_(stopping) {}
  ~Connection() {
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }

  void start() {
    thread_ = std::thread([this] {
      serve();
      // Stop further reads/writes; the fd is closed by the destructor so that
      // stop() can still call shutdown() on it safely.
      ::shutdown(fd_, SHUT_RDWR);
      done_.store(true);
    });
  }
  bool done() const { return done_.load(); }
  void shutdown_socket() const { ::shutdown(fd_, SHUT_RDWR); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  bool write_all(std::string_view data) const {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  bool peer_closed() const {
    if (stopping_.load()) return true;
    pollfd p{fd_, static_cast<short>(POLLRDHUP), 0};
    int r = ::poll(&p, 1, 0);
    if (r < 0) return errno != EINTR;
    return r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
  }

  bool wait_peer_closed(std::chrono::milliseconds timeout) const {
    if (peer_closed()) return true;
    pollfd p{fd_, static_cast<short>(POLLRDHUP), 0};
    int ms = static_cast<int>(std::min<int64_t>(timeout.count(), 1 << 30));
    int r = ::poll(&p, 1, ms);
    if (r < 0) return errno != EINTR;
    if (r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0) return true;
    return stopping_.load();
  }

 private:
  enum class ReadResult { Ok, Eof, Error };

  // Reads more bytes into buf_. Eof on orderly close, Error on failure.
  ReadResult fill() {
    char tmp[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n > 0) {
        buf_.append(tmp, static_cast<size_t>(n));
        return ReadResult::Ok;
      }
      if (n == 0) return ReadResult::Eof;
      if (errno == EINTR) continue;
      return ReadResult::Error;
    }
  }

  void reject(int status, std::string_view message) const {
    std::string body(message);
    body.push_back('\n');
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                      std::string(reason_phrase(status)) +
                      "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    write_all(out);
  }

  // Reads exactly n body bytes (beyond what is buffered) into out.
  bool read_exact(size_t n, std::string& out) {
    while (buf_.size() < n) {
      if (fill() != ReadResult::Ok) return false;
    }
    out.append(buf_, 0, n);
    buf_.erase(0, n);
    return true;
  }

  void serve() {
    for (;;) {
      if (stopping_.load()) return;
      // Read the header block.
      size_t end = std::string::npos;
      for (;;) {
        end = buf_.find("\r\n\r\n");
        if (end != std::string::npos) break;
        if (buf_.size() > opts_.max_header_bytes) {
          reject(431, "request header too large");
          return;
        }
        ReadResult r = fill();
        if (r != ReadResult::Ok) return;
      }
      if (end > opts_.max_header_bytes) {
        reject(431, "request header too large");
        return;
      }
      std::string head = buf_.substr(0, end);
      buf_.erase(0, end + 4);

      auto parsed = parse_request_head(std::string_view(head));
      if (!parsed) {
        reject(parsed.error().status, parsed.error().message);
        return;
      }
      HttpRequest req = std::move(parsed).value();
      req.peer = peer_;
      auto framing = body_framing(req, opts_.max_body_bytes);
      if (!framing) {
        reject(framing.error().status, framing.error().message);
        return;
      }
      if (framing->kind == BodyFraming::Kind::Chunked) {
        if (framing->expect_continue && !write_all("HTTP/1.1 100 Continue\r\n\r\n")) return;
        ChunkedDecoder chunked(opts_.max_body_bytes, opts_.max_header_bytes);
        for (;;) {
          const auto st = chunked.decode(buf_, req.body);
          if (st == ChunkedDecoder::State::Done) break;
          if (st == ChunkedDecoder::State::Failed) {
            reject(chunked.error().status, chunked.error().message);
            return;
          }
          if (fill() != ReadResult::Ok) return;
        }
      } else if (framing->kind == BodyFraming::Kind::Length) {
        const size_t n = framing->length;
        if (framing->expect_continue && n > 0 && buf_.size() < n &&
            !write_all("HTTP/1.1 100 Continue\r\n\r\n")) {
          return;
        }
        if (!read_exact(n, req.body)) return;
      }

      bool keep_alive = framing->keep_alive;
      if (stopping_.load()) keep_alive = false;

      ResponseWriter w(*this, req.method == "HEAD", keep_alive);
      handler_(req, w);
      if (!w.started_) {
        w.send(500, Headers{{"Content-Type", "text/plain"}}, "handler sent no response\n");
      }
      if (w.streaming_ && !w.stream_ended_) w.end_stream();
      if (w.write_failed_ || w.streaming_ || !keep_alive) return;
    }
  }

  int fd_;
  std::string peer_;
  const HttpHandler& handler_;
  const HttpServerOptions& opts_;
  const std::atomic<bool>& stopping_;
  std::string buf_;
  std::thread thread_;
  std::atomic<bool> done_{false};
};

namespace {

std::string status_line_and_headers(int status, const Headers& headers, bool keep_alive,
                                    const std::string& framing) {
  std::string out =
      "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
  for (const auto& [k, v] : headers.all()) {
    if (iequals(k, "Content-Length") || iequals(k, "Transfer-Encoding") ||
        iequals(k, "Connection")) {
      continue;
    }
    // Never let a handler inject header lines.
    if (k.find_first_of("\r\n") != std::string::npos ||
        v.find_first_of("\r\n") != std::string::npos) {
      continue;
    }
    out.append(k).append(": ").append(v).append("\r\n");
  }
  out += framing;
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "\r\n";
  return out;
}

}  // namespace

bool ResponseWriter::send(int status, const Headers& headers, std::string_view body) {
  if (started_) return false;
  started_ = true;
  std::string out = status_line_and_headers(
      status, headers, keep_alive_, "Content-Length: " + std::to_string(body.size()) + "\r\n");
  if (!head_only_) out.append(body);
  if (!conn_.write_all(out)) write_failed_ = true;
  return !write_failed_;
}

bool ResponseWriter::begin_stream(int status, const Headers& headers) {
  if (started_) return false;
  started_ = true;
  streaming_ = true;
  std::string out =
      status_line_and_headers(status, headers, false, "Transfer-Encoding: chunked\r\n");
  if (!conn_.write_all(out)) write_failed_ = true;
  return !write_failed_;
}

bool ResponseWriter::write_chunk(std::string_view data) {
  if (!streaming_ || stream_ended_ || write_failed_) return false;
  if (conn_.peer_closed()) {
    write_failed_ = true;
    return false;
  }
  if (data.empty()) return true;
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out = size;
  out.append(data);
  out.append("\r\n");
  if (!conn_.write_all(out)) write_failed_ = true;
  return !write_failed_;
}

void ResponseWriter::end_stream() {
  if (!streaming_ || stream_ended_) return;
  stream_ended_ = true;
  if (!write_failed_ && !conn_.write_all("0\r\n\r\n")) write_failed_ = true;
}

bool ResponseWriter::closed() const {
  return write_failed_ || conn_.peer_closed();
}

bool ResponseWriter::wait_closed(std::chrono::milliseconds timeout) const {
  if (write_failed_) return true;
  return conn_.wait_peer_closed(timeout);
}

HttpServer::HttpServer(HttpHandler handler, HttpServerOptions options)
    : handler_(std::move(handler)), options_(std::move(options)) {}

HttpServer::~HttpServer() {
  stop();
}

std::string HttpServer::base_url() const {
  return "http://" + options_.host + ":" + std::to_string(port());
}

Status<HttpServerError> HttpServer::start() {
  MutexLock lock(mu_);
  if (started_)
    return fail(HttpServerError{HttpServerError::Kind::AlreadyStarted, "already started"});
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(options_.port);
  if (::inet_pton(AF_INET, options_.host.c_str(), &addr.sin_addr) != 1) {
    return fail(HttpServerError{HttpServerError::Kind::InvalidAddress,
                                "not an IPv4 address: " + options_.host});
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return fail(HttpServerError{HttpServerError::Kind::Internal,
                                std::string("socket: ") + errno_text(errno)});
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string msg =
        "bind " + options_.host + ":" + std::to_string(options_.port) + ": " + errno_text(errno);
    ::close(fd);
    return fail(HttpServerError{HttpServerError::Kind::Bind, msg});
  }
  if (::listen(fd, 128) != 0) {
    std::string msg = std::string("listen: ") + errno_text(errno);
    ::close(fd);
    return fail(HttpServerError{HttpServerError::Kind::Listen, msg});
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    ::close(fd);
    return fail(HttpServerError{HttpServerError::Kind::Internal,
                                std::string("pipe: ") + errno_text(errno)});
  }
  listen_fd_ = fd;
  port_.store(ntohs(addr.sin_port));
  started_ = true;
  accept_thread_ = std::thread([this] { accept_loop(); });
  return Status<HttpServerError>::success();
}

void HttpServer::reap_finished_locked() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if ((*it)->done()) {
      it = connections_.erase(it);  // joins and closes
    } else {
      ++it;
    }
  }
}

void HttpServer::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int r = ::poll(fds, 2, 1000);
    if (stopping_.load()) return;
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    {
      MutexLock lock(mu_);
      reap_finished_locked();
    }
    if (r == 0 || (fds[0].revents & POLLIN) == 0) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    int cfd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (cfd < 0) continue;
    int one = 1;
    ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(options_.send_timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((options_.send_timeout.count() % 1000) * 1000);
    ::setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char ip[INET_ADDRSTRLEN] = {0};
    ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    std::string peer_name = std::string(ip) + ":" + std::to_string(ntohs(peer.sin_port));
    MutexLock lock(mu_);
    if (stopping_.load()) {
      ::close(cfd);
      return;
    }
    auto conn = std::make_shared<Connection>(cfd, peer_name, handler_, options_, stopping_);
    connections_.push_back(conn);
    conn->start();
  }
}

void HttpServer::stop() {
  {
    MutexLock lock(mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    if (wake_pipe_[1] >= 0) {
      char c = 'x';
      [[maybe_unused]] ssize_t n = ::write(wake_pipe_[1], &c, 1);
    }
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  std::list<std::shared_ptr<Connection>> conns;
  {
    MutexLock lock(mu_);
    conns.swap(connections_);
  }
  for (auto& c : conns)
    c->shutdown_socket();
  for (auto& c : conns)
    c->join();
  conns.clear();
  ::close(listen_fd_);
  listen_fd_ = -1;
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
  wake_pipe_[0] = wake_pipe_[1] = -1;
}

}  // namespace gpupool::http
