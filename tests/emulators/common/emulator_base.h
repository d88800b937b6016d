#pragma once
// What every provider emulator shares: the loopback HTTP server and its
// lifecycle, the fault plan the admin endpoints and tests steer, and the
// count of requests per operation. An emulator derives from it, implements
// handle() (calling count_request(op) for each request it routes) and calls
// stop() in its destructor, before its own state goes away.
//
// Thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "operator/httpserver/http_server.h"
#include "tests/emulators/common/fault_plan.h"

namespace gpupool::emulators {

class EmulatorBase {
 public:
  virtual ~EmulatorBase() = default;
  EmulatorBase(const EmulatorBase&) = delete;
  EmulatorBase& operator=(const EmulatorBase&) = delete;

  // Starts listening on 127.0.0.1:<port> (0: ephemeral). False on failure.
  bool start();
  void stop();
  std::string base_url() const;  // "http://127.0.0.1:<port>"

  FaultPlan& faults() { return faults_; }
  // Requests received for an operation ("" = all), including refused ones.
  int requests(const std::string& operation = "") const;

 protected:
  explicit EmulatorBase(uint16_t port) : port_(port) {}
  virtual void handle(const http::HttpRequest& req, http::ResponseWriter& w) = 0;
  void count_request(const std::string& operation);

  FaultPlan faults_;

 private:
  uint16_t port_;
  std::unique_ptr<http::HttpServer> server_;
  mutable std::mutex count_mu_;
  std::map<std::string, int> requests_;  // GUARDED_BY(count_mu_)
};

}  // namespace gpupool::emulators
