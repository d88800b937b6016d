#pragma once
// A controller: N worker threads pulling keys from a WorkQueue and calling a
// level-triggered reconcile function for each. The reconcile result decides
// what happens to the key next, by its kind:
//   Transient (failed) -> add_rate_limited(key) (per-key exponential backoff)
//   Conflict           -> forget(key), add(key): at once, on fresh data (a
//                         stale resourceVersion is not a reason to wait)
//   Terminal           -> forget(key): not retried; the object's next change
//                         (an informer event) brings it back. The reconciler
//                         reports it (condition, Event) before returning.
//   requeue_after set  -> forget(key), add_after(key, requeue_after)
//   none of these      -> forget(key)
// Errors of every kind count in errors() and last_error().
// The queue guarantees a key is never reconciled by two workers at once.
//
// Keys are "namespace/name" for namespaced objects and "name" for
// cluster-scoped ones (make_key / split_key).
//
// Thread-safety: start()/stop() from one owning thread; enqueue() and the
// counters from any thread. The reconcile function runs on worker threads
// and must be thread-safe for distinct keys.

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/kube/runtime/informer.h"
#include "operator/kube/runtime/workqueue.h"

namespace gpupool::kube {

struct ReconcileRequest {
  std::string namespace_;  // empty for cluster-scoped objects
  std::string name;
  bool operator==(const ReconcileRequest&) const = default;
};

struct ReconcileResult {
  enum class Failure { Transient, Conflict, Terminal };

  std::optional<Millis> requeue_after;
  std::optional<std::string> error;
  Failure failure = Failure::Transient;  // meaningful when error is set

  static ReconcileResult done() { return {}; }
  static ReconcileResult after(Millis d) { return {d, std::nullopt}; }
  // Back off and retry.
  static ReconcileResult failed(std::string message) { return {std::nullopt, std::move(message)}; }
  // Retry at once.
  static ReconcileResult conflict(std::string message) {
    return {std::nullopt, std::move(message), Failure::Conflict};
  }
  // Do not retry until the object changes.
  static ReconcileResult terminal(std::string message) {
    return {std::nullopt, std::move(message), Failure::Terminal};
  }
  // From an API error: Conflict retries at once; Invalid and BadRequest
  // (the request itself is wrong: retrying cannot help) are terminal;
  // everything else backs off.
  static ReconcileResult from(const ApiError& e);
};

using ReconcileFn = std::function<ReconcileResult(const ReconcileRequest&)>;

std::string make_key(const std::string& namespace_, const std::string& name);
ReconcileRequest split_key(const std::string& key);

class Controller {
 public:
  struct Options {
    int workers = 1;
    WorkQueue::Options queue;
  };

  Controller(std::string name, const Clock& clock, ReconcileFn reconcile, Options options);
  ~Controller();  // stops the workers
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the worker threads. Calling start() twice is a no-op.
  void start();
  // Shuts the queue down and joins the workers (each finishes its current
  // reconcile first). Idempotent. A stopped controller cannot be restarted.
  void stop();
  bool running() const { return running_.load(); }

  void enqueue(const std::string& key) { queue_.add(key); }
  void enqueue(const std::string& namespace_, const std::string& name) {
    queue_.add(make_key(namespace_, name));
  }
  WorkQueue& queue() { return queue_; }
  const std::string& name() const { return name_; }

  // Monotonic counters for metrics and tests.
  uint64_t reconciles_total() const { return reconciles_.load(); }
  uint64_t errors_total() const { return errors_.load(); }
  std::optional<std::string> last_error() const;

 private:
  void worker();

  std::string name_;
  ReconcileFn reconcile_;
  Options options_;
  WorkQueue queue_;
  std::vector<std::thread> threads_;
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> reconciles_{0};
  std::atomic<uint64_t> errors_{0};
  mutable Mutex err_mu_;
  std::optional<std::string> last_error_ GUARDED_BY(err_mu_);
};

// Informer handlers that enqueue the changed object's own key (add, update
// with a new resourceVersion, delete).
EventHandlers enqueue_object(Controller& controller);
// Informer handlers that enqueue the controller owner of the changed object:
// the ownerReference with controller=true and the given kind, in the
// object's namespace. Objects without such an owner are ignored.
EventHandlers enqueue_owner(Controller& controller, const std::string& owner_kind);

}  // namespace gpupool::kube
