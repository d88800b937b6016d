#include "operator/kube/runtime/controller.h"

namespace gpupool::kube {

std::string make_key(const std::string& namespace_, const std::string& name) {
  return namespace_.empty() ? name : namespace_ + "/" + name;
}

ReconcileRequest split_key(const std::string& key) {
  const auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

Controller::Controller(std::string name, const Clock& clock, ReconcileFn reconcile, Options options)
    : name_(std::move(name)),
      reconcile_(std::move(reconcile)),
      options_(options),
      queue_(clock, options.queue) {}

Controller::~Controller() {
  stop();
}

void Controller::start() {
  if (running_.exchange(true) || queue_.shutting_down()) return;
  const int n = options_.workers < 1 ? 1 : options_.workers;
  for (int i = 0; i < n; ++i)
    threads_.emplace_back([this] { worker(); });
}

void Controller::stop() {
  queue_.shut_down();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  running_.store(false);
}

std::optional<std::string> Controller::last_error() const {
  MutexLock lock(err_mu_);
  return last_error_;
}

ReconcileResult ReconcileResult::from(const ApiError& e) {
  std::string message = std::string(to_string(e.kind)) + ": " + e.message;
  switch (e.kind) {
    case ErrorKind::Conflict:
      return conflict(std::move(message));
    case ErrorKind::Invalid:
    case ErrorKind::BadRequest:
      return terminal(std::move(message));
    default:
      return failed(std::move(message));
  }
}

void Controller::worker() {
  while (auto key = queue_.get()) {
    ReconcileResult result = reconcile_(split_key(*key));
    reconciles_.fetch_add(1);
    if (result.error) {
      errors_.fetch_add(1);
      {
        MutexLock lock(err_mu_);
        last_error_ = *key + ": " + *result.error;
      }
      switch (result.failure) {
        case ReconcileResult::Failure::Transient:
          queue_.add_rate_limited(*key);
          break;
        case ReconcileResult::Failure::Conflict:
          queue_.forget(*key);
          queue_.add(*key);
          break;
        case ReconcileResult::Failure::Terminal:
          queue_.forget(*key);
          break;
      }
    } else if (result.requeue_after) {
      queue_.forget(*key);
      queue_.add_after(*key, *result.requeue_after);
    } else {
      queue_.forget(*key);
    }
    queue_.done(*key);
  }
}

EventHandlers enqueue_object(Controller& controller) {
  auto enqueue = [&controller](const ObjectPtr& o) { controller.enqueue(object_key(*o)); };
  return {enqueue, [enqueue](const ObjectPtr&, const ObjectPtr& o) { enqueue(o); }, enqueue};
}

EventHandlers enqueue_owner(Controller& controller, const std::string& owner_kind) {
  auto enqueue = [&controller, owner_kind](const ObjectPtr& o) {
    const Json& md = o->contains("metadata") ? (*o)["metadata"] : Json::object();
    if (!md.is_object() || !md.contains("ownerReferences") || !md["ownerReferences"].is_array()) {
      return;
    }
    const std::string ns = md.value("namespace", "");
    for (const auto& ref : md["ownerReferences"]) {
      if (ref.is_object() && ref.value("controller", false) &&
          ref.value("kind", "") == owner_kind) {
        controller.enqueue(ns, ref.value("name", ""));
        return;
      }
    }
  };
  return {enqueue,
          [enqueue](const ObjectPtr& old_obj, const ObjectPtr& o) {
            enqueue(old_obj);  // an owner change must reach the old owner too
            enqueue(o);
          },
          enqueue};
}

}  // namespace gpupool::kube
