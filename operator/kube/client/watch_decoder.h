#pragma once
// Decodes the body of a Kubernetes watch response: newline-delimited JSON,
// one {"type": "...", "object": {...}} per line, cut into chunks wherever the
// network happened to cut it. No I/O: the HTTP client feeds it the bytes it
// received, tests and the fuzz target (fuzz/watch_decoder.cpp) feed it
// anything.
//
// Rules, in order:
//  - Lines end at '\n'; trailing '\r' and spaces are ignored, empty lines
//    are skipped. finish() decodes a last line without a newline.
//  - ADDED, MODIFIED, DELETED and BOOKMARK events get the resource's
//    apiVersion and kind filled in when the object lacks them (the server
//    omits them for built-in types in some versions).
//  - An ERROR event carries a Status object; `error` is parsed from it.
//  - Anything else (a line that is not a JSON object, an event without a
//    string `type` and an object `object`, an unknown type, a line longer
//    than kMaxEventBytes) yields one Error event that says what the server
//    sent, and the decoder is finished: later bytes are ignored.
//
// Not thread-safe: one decoder per stream, used by the thread that reads it.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "operator/kube/api/api.h"

namespace gpupool::kube {

class WatchDecoder {
 public:
  // The longest event line accepted (a real object is at most ~1.5 MiB in
  // etcd; this leaves room for a generous server).
  static constexpr size_t kMaxEventBytes = size_t{64} << 20;

  explicit WatchDecoder(Resource resource) : resource_(std::move(resource)) {}

  // Decodes every complete line in `bytes` (with what was buffered before).
  void feed(std::string_view bytes);
  // The body ended: decodes a buffered last line without a newline.
  void finish();
  // The events decoded so far and not yet taken, in order; clears them.
  std::vector<WatchEvent> take_events();
  // True once the stream was garbled (an Error event says why) or finish()
  // was called; the decoder then ignores further input.
  bool finished() const { return finished_; }
  // True when the stream was garbled (not for an ERROR event the server sent).
  bool garbled() const { return garbled_; }
  // Bytes of an incomplete line held back.
  size_t buffered() const { return buf_.size(); }

 private:
  void parse_line(std::string_view line);
  void fail(const std::string& what);

  Resource resource_;
  std::string buf_;
  std::vector<WatchEvent> events_;
  bool finished_ = false;
  bool garbled_ = false;
};

}  // namespace gpupool::kube
