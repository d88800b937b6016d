// Fuzz target: the hand-written HTTP/1.1 request parser of
// operator/httpserver (the test API server, the emulators and the health
// server sit behind it), run on bytes as a client would send them.
//
// Input: raw bytes of a connection. The first byte seeds how the body bytes
// are cut when fed to the chunked decoder.
// Invariants: no crash or exception; failures carry a 4xx/5xx status the
// server answers with; a parsed request has an absolute-path target, a token
// method and HTTP/1.0 or 1.1; the chunked decoder's result does not depend on
// how its input is cut, never exceeds the body limit and consumes nothing
// past the end of the body; percent_encode/percent_decode round-trip.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_check.h"
#include "operator/httpserver/http_server.h"

using namespace gpupool;

namespace {

constexpr size_t kMaxBody = 4096;
constexpr size_t kMaxLine = 1024;

struct Decoded {
  http::ChunkedDecoder::State state = http::ChunkedDecoder::State::NeedMore;
  std::string body;
  std::string left;  // bytes after the body
  int status = 0;
};

Decoded decode_chunked(std::string_view bytes, size_t step) {
  http::ChunkedDecoder dec(kMaxBody, kMaxLine);
  Decoded out;
  std::string buf;
  while (true) {
    const size_t n = std::min(step, bytes.size());
    buf.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    out.state = dec.decode(buf, out.body);
    if (out.state != http::ChunkedDecoder::State::NeedMore || bytes.empty()) break;
  }
  if (out.state == http::ChunkedDecoder::State::Failed) out.status = dec.error().status;
  out.left = buf + std::string(bytes);
  FUZZ_CHECK(out.body.size() <= kMaxBody, "the body limit holds");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = size_t{data[0]} % 16 + 1;
  const auto bytes = fuzz::as_text(data + 1, size - 1);

  const auto end = bytes.find("\r\n\r\n");
  const auto head = bytes.substr(0, end);
  auto req = http::parse_request_head(head);
  if (!req) {
    FUZZ_CHECK(req.error().status >= 400 && req.error().status <= 599, "errors are 4xx/5xx");
    FUZZ_CHECK(!req.error().message.empty(), "errors say why");
  } else {
    FUZZ_CHECK(req->version == "HTTP/1.1" || req->version == "HTTP/1.0", "version checked");
    FUZZ_CHECK(!req->target.empty() && req->target[0] == '/', "target is an absolute path");
    FUZZ_CHECK(!req->method.empty(), "method present");
    (void)req->query_params();
    (void)req->query_param("watch");
    auto framing = http::body_framing(*req, kMaxBody);
    if (!framing) {
      FUZZ_CHECK(framing.error().status >= 400 && framing.error().status <= 599,
                 "errors are 4xx/5xx");
    } else if (framing->kind == http::BodyFraming::Kind::Length) {
      FUZZ_CHECK(framing->length <= kMaxBody, "Content-Length limit holds");
    }
  }

  // The body decoder on whatever follows the head (or on everything, so
  // inputs without a head still reach it).
  const auto body = end == std::string_view::npos ? bytes : bytes.substr(end + 4);
  const auto whole = decode_chunked(body, body.size() + 1);
  const auto cut = decode_chunked(body, step);
  FUZZ_CHECK(whole.state == cut.state, "cutting does not change the outcome");
  if (whole.state == http::ChunkedDecoder::State::Done) {
    FUZZ_CHECK(whole.body == cut.body && whole.left == cut.left, "cutting does not change data");
    FUZZ_CHECK(body.size() >= whole.left.size() &&
                   body.substr(body.size() - whole.left.size()) == whole.left,
               "nothing after the body is consumed");
  }
  if (whole.state == http::ChunkedDecoder::State::Failed) {
    FUZZ_CHECK(whole.status == cut.status, "cutting does not change the error");
  }

  const std::string decoded = http::percent_decode(bytes, false);
  FUZZ_CHECK(http::percent_decode(http::percent_encode(bytes), false) == bytes,
             "percent_decode(percent_encode(x)) == x");
  FUZZ_CHECK(decoded.size() <= bytes.size(), "decoding never grows");
  return 0;
}
