#pragma once
// Child processes for the integration tests that run real binaries (the
// operator, the fake provider server, prometheus): start one with its output
// in files, and wait for its exit code.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace gpupool::testing_process {

struct SpawnOptions {
  std::vector<std::string> extra_env;  // "NAME=value", ahead of the inherited ones
  // Which inherited variables ("NAME=value") the child gets; empty: all.
  std::function<bool(std::string_view)> inherit;
  bool truncate_out = false;  // stdout starts empty instead of appending
};

// Starts args[0] (searched in PATH) with stdin from /dev/null and stdout and
// stderr appended to `out` and `err` (which may be the same file). -1 when
// it cannot start.
inline pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& out,
                   const std::filesystem::path& err, const SpawnOptions& options = {}) {
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store(options.extra_env);
  for (char** e = environ; *e; ++e) {
    if (!options.inherit || options.inherit(*e)) env_store.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (auto& e : env_store)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  const int out_flags = O_WRONLY | O_CREAT | (options.truncate_out ? O_TRUNC : O_APPEND);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), out_flags, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  if (posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// The exit code of a finished waitpid status (128 + signal when killed).
inline int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// Waits for `pid` to end; its exit code, or -1 when it is not our child.
inline int wait_exit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return exit_code(status);
}

// The same within `limit`: nullopt if it is still running then.
inline std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return exit_code(status);
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace gpupool::testing_process
