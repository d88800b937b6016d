#pragma once
// The world the integration tests run the real operator binary in: a
// scratch directory, the test API server with the project's CRDs and a
// kubeconfig for it, and the fake provider server (the operator's
// "remote" fake type). A fixture derives from OperatorWorldTest, calls
// start_world() in SetUp and stop_world() last in TearDown.

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "operator/clock/clock.h"
#include "tests/apiserver/api_server.h"
#include "tests/operator/process.h"

namespace gpupool::testing_world {

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class OperatorWorldTest : public ::testing::Test {
 protected:
  // Scratch directory /tmp/gpupool-<name>-<pid>; the fake provider server's
  // stdout and stderr go to the files named (in that directory). Fails the
  // test (fatally) when a binary is missing or a server does not start.
  void start_world(const std::string& name, const std::string& fake_out,
                   const std::string& fake_err) {
    namespace fs = std::filesystem;
    const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
    const char* bin = std::getenv("GPUPOOL_BINARY_DIR");
    ASSERT_TRUE(src && bin);
    source_ = src;
    binary_ = fs::path(bin) / "bin" / "gpupool-operator";
    const fs::path fake_bin = fs::path(bin) / "bin" / "gpupool-fake-provider-server";
    ASSERT_TRUE(fs::exists(binary_) && fs::exists(fake_bin));
    dir_ = fs::temp_directory_path() / ("gpupool-" + name + "-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    server_ = std::make_unique<apiserver::TestApiServer>(clock_);
    ASSERT_TRUE(server_->start().ok());
    for (const char* f : {"gpupool.io_gpupools.yaml", "gpupool.io_gpuinstances.yaml",
                          "gpupool.io_gpuproviders.yaml"}) {
      ASSERT_TRUE(server_->load_manifests(read_text(source_ / "crds" / f)).ok());
    }
    kubeconfig_ = dir_ / "kubeconfig";
    ASSERT_TRUE(server_->write_kubeconfig(kubeconfig_.string()).ok());
    const fs::path port_file = dir_ / "fake.port";
    fake_ = testing_process::spawn(
        {fake_bin.string(), "--port-file", port_file.string(), "--boot-seconds", "1"},
        dir_ / fake_out, dir_ / fake_err);
    ASSERT_GT(fake_, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!fs::exists(port_file) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(fs::exists(port_file)) << "the fake provider server wrote no port";
    fake_port_ = static_cast<uint16_t>(std::stoi(read_text(port_file)));
  }

  // Stops the fake provider server and the API server; keeps the scratch
  // directory (logs) when the test failed.
  void stop_world() {
    if (fake_ > 0) {
      kill(fake_, SIGTERM);
      (void)testing_process::wait_exit(fake_, std::chrono::seconds(10));
      fake_ = -1;
    }
    if (server_) server_->stop();
    if (HasFailure()) {
      std::cerr << "logs kept in " << dir_ << "\n";
    } else {
      std::filesystem::remove_all(dir_);
    }
  }

  SystemClock clock_;
  std::filesystem::path source_, binary_, dir_, kubeconfig_;
  std::unique_ptr<apiserver::TestApiServer> server_;
  pid_t fake_ = -1;
  uint16_t fake_port_ = 0;
};

}  // namespace gpupool::testing_world
