#pragma once
// A small HTTP/1.1 server on POSIX sockets for health probes, the test API
// server and provider emulators. No application logic and no third-party code.
//
// Model: one accept thread plus one thread per connection. A connection serves
// requests one after another (keep-alive; no pipelining guarantees beyond
// reading requests in order). Request bodies may use Content-Length or chunked
// transfer coding; `Expect: 100-continue` is answered. Responses are either a
// whole body with Content-Length (ResponseWriter::send) or a chunked stream
// (begin_stream / write_chunk / end_stream) for long-lived responses such as
// Kubernetes watches; a connection that streamed is closed afterwards.
//
// Malformed requests are answered by the server itself with a 4xx (400 bad
// syntax, 413 body too large, 431 headers too large, 501 unknown transfer
// coding) and the connection is closed; handlers never see them.
//
// Thread safety: HttpServer's public methods may be called from any thread.
// The handler is called concurrently from many connection threads, so it must
// be thread-safe. A ResponseWriter belongs to the single handler invocation it
// is passed to and must not outlive it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "operator/base/result.h"
#include "operator/base/thread_annotations.h"

namespace gpupool::http {

// Ordered header list with case-insensitive lookup by name.
class Headers {
 public:
  Headers() = default;
  Headers(std::initializer_list<std::pair<std::string, std::string>> init);

  // Appends a header (duplicates allowed).
  void add(std::string name, std::string value);
  // Replaces every header with this name by a single one.
  void set(std::string name, std::string value);
  // First value for `name` (case-insensitive), or nullopt.
  std::optional<std::string> get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  const std::vector<std::pair<std::string, std::string>>& all() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b);
// Decodes %XX escapes; with plus_is_space, '+' becomes ' ' (query strings).
// Invalid escapes are kept literally.
std::string percent_decode(std::string_view s, bool plus_is_space);
// Encodes everything except unreserved characters (RFC 3986).
std::string percent_encode(std::string_view s);

struct HttpRequest {
  std::string method;   // "GET", "POST", ... as sent
  std::string target;   // raw request target ("/a/b?x=1")
  std::string path;     // percent-decoded path part of target
  std::string query;    // raw query string without '?', not decoded
  std::string version;  // "HTTP/1.1" or "HTTP/1.0"
  Headers headers;
  std::string body;  // de-chunked
  std::string peer;  // "ip:port" of the client

  std::optional<std::string> header(std::string_view name) const { return headers.get(name); }
  // Decoded query parameters in order ("a=1&b" gives {a,1},{b,""}).
  std::vector<std::pair<std::string, std::string>> query_params() const;
  // First decoded value of query parameter `name`, or nullopt.
  std::optional<std::string> query_param(std::string_view name) const;
};

// ---- Request parsing (no I/O) ----------------------------------------------
// The server's parser, exposed so it can be tested and fuzzed without
// sockets (fuzz/http_request.cpp). A failure carries the status the server
// answers with: 400 bad syntax, 413 body too large, 501 unknown transfer coding.
struct RequestError {
  int status = 400;
  std::string message;  // "malformed request line", ...
};

// Parses a request head: the request line and header lines, without the
// blank line that ends them (the bytes before the first "\r\n\r\n").
// Leading empty lines are tolerated (RFC 9112 2.2). Fills method, target,
// path, query, version and headers; the target must be an absolute path and
// the version HTTP/1.0 or HTTP/1.1.
Result<HttpRequest, RequestError> parse_request_head(std::string_view head);

// How the request's body is framed, from its headers.
struct BodyFraming {
  enum class Kind { None, Length, Chunked };
  Kind kind = Kind::None;
  size_t length = 0;             // for Length
  bool expect_continue = false;  // the client waits for "100 Continue"
  bool keep_alive = true;        // the connection may serve another request
};
// Both Transfer-Encoding and Content-Length, a malformed Content-Length (400),
// one above `max_body_bytes` (413) and a coding other than chunked (501) fail.
Result<BodyFraming, RequestError> body_framing(const HttpRequest& request, size_t max_body_bytes);

// Decodes a chunked body incrementally: decode() consumes what it can from
// the front of `buf` (chunk sizes, extensions, data, trailers) and appends
// the data to `body`. Byte-at-a-time feeding gives the same result as one
// piece. A size line or trailer longer than `max_line_bytes` and a malformed
// size or chunk end are 400; a body above `max_body_bytes` is 413.
class ChunkedDecoder {
 public:
  enum class State { NeedMore, Done, Failed };
  ChunkedDecoder(size_t max_body_bytes, size_t max_line_bytes)
      : max_body_(max_body_bytes), max_line_(max_line_bytes) {}
  State decode(std::string& buf, std::string& body);
  // REQUIRES: decode() returned Failed.
  const RequestError& error() const { return error_; }

 private:
  enum class Phase { Size, Data, DataEnd, Trailers, Done, Failed };
  State fail(int status, std::string message);

  size_t max_body_;
  size_t max_line_;
  Phase phase_ = Phase::Size;
  size_t remaining_ = 0;
  RequestError error_;
};

// Standard reason phrase for a status code ("Not Found"); "Unknown" otherwise.
std::string_view reason_phrase(int status);

class Connection;  // internal

// How a handler answers. Exactly one of send() or begin_stream() should be
// called; if the handler returns without either, the server answers 500.
class ResponseWriter {
 public:
  ResponseWriter(const ResponseWriter&) = delete;
  ResponseWriter& operator=(const ResponseWriter&) = delete;

  // Sends a complete response. Content-Length is set by the server (any
  // given Content-Length/Transfer-Encoding header is replaced). Returns false
  // if the client is gone or a response was already started.
  bool send(int status, const Headers& headers, std::string_view body);
  // Starts a chunked response and flushes the headers immediately.
  bool begin_stream(int status, const Headers& headers);
  // Writes one chunk (empty data is skipped: it would end the stream).
  // Returns false once the client is gone or the server is stopping; the
  // handler should then return.
  bool write_chunk(std::string_view data);
  // Writes the terminating chunk. Called automatically if the handler
  // returns with an open stream.
  void end_stream();
  // True when the peer closed or reset the connection, a write failed, or the
  // server is stopping. Cheap, non-blocking; streaming handlers poll it.
  bool closed() const;
  // Waits up to `timeout` for the peer to close (or the server to stop);
  // returns closed(). Lets streaming handlers sleep on the socket.
  bool wait_closed(std::chrono::milliseconds timeout) const;
  bool started() const { return started_; }

 private:
  friend class Connection;
  explicit ResponseWriter(Connection& conn, bool head_only, bool keep_alive)
      : conn_(conn), head_only_(head_only), keep_alive_(keep_alive) {}
  Connection& conn_;
  bool head_only_;
  bool keep_alive_;
  bool started_ = false;
  bool streaming_ = false;
  bool stream_ended_ = false;
  bool write_failed_ = false;
};

using HttpHandler = std::function<void(const HttpRequest&, ResponseWriter&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // IPv4 literal to bind
  uint16_t port = 0;               // 0 = ephemeral; see HttpServer::port()
  size_t max_header_bytes = 64 * 1024;
  size_t max_body_bytes = 16 * 1024 * 1024;
  // Send timeout per write; a client that stops reading for this long is
  // treated as gone.
  std::chrono::milliseconds send_timeout{30000};
};

struct HttpServerError {
  enum class Kind { InvalidAddress, Bind, Listen, AlreadyStarted, Internal };
  Kind kind;
  std::string message;
};

class HttpServer {
 public:
  HttpServer(HttpHandler handler, HttpServerOptions options = {});
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  // Stops the server (see stop()).
  ~HttpServer();

  // Binds, listens and starts the accept thread. Fails if the address is
  // invalid, the port is taken, or the server was already started.
  Status<HttpServerError> start();
  // The bound port (the actual one when options.port was 0); 0 before start().
  uint16_t port() const { return port_.load(); }
  // "http://host:port"
  std::string base_url() const;
  // Closes the listener and every connection (streaming handlers see
  // closed()/write_chunk() == false), waits for every handler to return and
  // joins all threads. Idempotent. Must not be called from a handler.
  void stop();

 private:
  void accept_loop();
  void reap_finished_locked() REQUIRES(mu_);

  HttpHandler handler_;
  HttpServerOptions options_;
  std::atomic<uint16_t> port_{0};
  std::atomic<bool> stopping_{false};
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::thread accept_thread_;
  Mutex mu_;
  std::list<std::shared_ptr<Connection>> connections_ GUARDED_BY(mu_);
  bool started_ GUARDED_BY(mu_) = false;
  bool stopped_ GUARDED_BY(mu_) = false;
};

}  // namespace gpupool::http
