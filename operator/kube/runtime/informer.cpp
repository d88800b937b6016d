#include "operator/kube/runtime/informer.h"

#include <algorithm>
#include <cmath>

namespace gpupool::kube {
namespace {

// What the cache keeps of an object the server sent (see informer.h).
ObjectPtr cached(Json&& o) {
  if (auto m = o.find("metadata"); m != o.end() && m->is_object()) m->erase("managedFields");
  return std::make_shared<const Json>(std::move(o));
}

}  // namespace

std::chrono::milliseconds Backoff::next() {
  double d = static_cast<double>(base_.count());
  for (int i = 0; i < attempt_ && d < static_cast<double>(cap_.count()); ++i)
    d *= 2;
  d = std::min(d, static_cast<double>(cap_.count()));
  ++attempt_;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  d *= 1.0 + jitter_ * u(rng_);
  d = std::min(d, static_cast<double>(cap_.count()));
  return std::chrono::milliseconds(static_cast<int64_t>(d));
}

Informer::Informer(KubeApi& api, Resource resource, const Clock& clock, Options options)
    : api_(api),
      resource_(std::move(resource)),
      clock_(clock),
      options_(std::move(options)),
      store_(options_.store_mode),
      backoff_(options_.backoff_base, options_.backoff_cap, options_.backoff_jitter,
               options_.seed) {}

Informer::~Informer() {
  stop();
}

void Informer::add_handlers(EventHandlers handlers) {
  MutexLock lock(handlers_mu_);
  if (handlers.on_add) {
    for (const auto& obj : store_.list())
      handlers.on_add(obj);
  }
  handlers_.push_back(std::move(handlers));
}

void Informer::start() {
  MutexLock lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
    if (current_ != nullptr) current_->cancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Informer::wait_for_sync(std::chrono::milliseconds timeout) {
  MutexLock lock(mu_);
  lock.wait_for(cv_, timeout, [&]() REQUIRES(mu_) { return synced_.load() || stopping_; });
  return synced_.load();
}

void Informer::clock_advanced() {
  cv_.notify_all();
}

std::string Informer::last_resource_version() const {
  MutexLock lock(mu_);
  return rv_;
}

std::string Informer::last_error() const {
  MutexLock lock(mu_);
  return last_error_;
}

void Informer::set_rv(const std::string& rv) {
  if (rv.empty()) return;
  MutexLock lock(mu_);
  rv_ = rv;
}

void Informer::record_error(const ApiError& e) {
  errors_.fetch_add(1);
  MutexLock lock(mu_);
  last_error_ = std::string(to_string(e.kind)) + ": " + e.message;
}

void Informer::dispatch(const StoreDelta& d) {
  for (const auto& h : handlers_) {
    switch (d.type) {
      case StoreDelta::Type::Added:
        if (h.on_add) h.on_add(d.new_obj);
        break;
      case StoreDelta::Type::Updated:
        if (h.on_update) h.on_update(d.old_obj, d.new_obj);
        break;
      case StoreDelta::Type::Deleted:
        if (h.on_delete) h.on_delete(d.old_obj);
        break;
    }
  }
}

void Informer::sleep_backoff() {
  const auto d = backoff_.next();
  backoffs_.fetch_add(1);
  const SteadyTime deadline = clock_.steady_now() + d;
  MutexLock lock(mu_);
  while (!stopping_) {
    const SteadyTime now = clock_.steady_now();
    if (now >= deadline) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    lock.wait_for(cv_, std::clamp(left, std::chrono::milliseconds(1), options_.poll_interval));
  }
}

Informer::ListOutcome Informer::list_and_replace(const std::string& rv) {
  // Staged page by page: only one page's trees live at a time (a list of
  // 50,000 instances as trees peaked at ~300 MiB, bench/README.md).
  std::vector<Store::Staged> staged;
  std::string cont;
  std::string list_rv;
  for (;;) {
    ListOptions o;
    o.label_selector = options_.label_selector;
    o.field_selector = options_.field_selector;
    o.limit = options_.page_size;
    o.continue_token = cont;
    if (cont.empty()) o.resource_version = rv;
    auto page = api_.list(resource_, options_.namespace_, o);
    if (!page) {
      record_error(page.error());
      // client-go treats "too large resource version" like Gone: relist fresh.
      bool gone = page.error().kind == ErrorKind::Gone;
      for (const auto& c : page.error().causes)
        gone = gone || c.reason == "ResourceVersionTooLarge";
      return gone ? ListOutcome::Gone : ListOutcome::Error;
    }
    if (list_rv.empty()) list_rv = page->resource_version;
    for (auto& item : page->items)
      staged.push_back(store_.stage(cached(std::move(item))));
    cont = page->continue_token;
    if (cont.empty()) break;
    MutexLock lock(mu_);
    if (stopping_) return ListOutcome::Error;
  }
  lists_.fetch_add(1);
  {
    MutexLock hl(handlers_mu_);
    const auto deltas = store_.replace_staged(std::move(staged));
    set_rv(list_rv);
    synced_.store(true);
    for (const auto& d : deltas)
      dispatch(Store::read_delta(d));
  }
  cv_.notify_all();
  return ListOutcome::Ok;
}

bool Informer::watch_once(bool& need_relist) {
  WatchOptions o;
  o.resource_version = last_resource_version();
  o.label_selector = options_.label_selector;
  o.field_selector = options_.field_selector;
  o.allow_bookmarks = true;
  o.timeout = options_.watch_timeout;
  auto opened = api_.watch(resource_, options_.namespace_, o);
  watches_.fetch_add(1);
  if (!opened) {
    record_error(opened.error());
    if (opened.error().kind == ErrorKind::Gone) need_relist = true;
    return false;
  }
  std::unique_ptr<WatchStream> stream = std::move(opened).value();
  {
    MutexLock lock(mu_);
    if (stopping_) return false;
    current_ = stream.get();
  }
  bool got = false;
  for (;;) {
    auto n = stream->next(options_.poll_interval);
    if (n.state == WatchStream::State::Closed) break;
    if (n.state == WatchStream::State::Timeout) {
      MutexLock lock(mu_);
      if (stopping_) break;
      continue;
    }
    WatchEvent& ev = n.event;
    if (ev.type == WatchEventType::Error) {
      ApiError e = ev.error.value_or(make_error(ErrorKind::Internal, "watch error event"));
      record_error(e);
      if (e.kind == ErrorKind::Gone) need_relist = true;
      break;
    }
    got = true;
    const std::string rv = resource_version_of(ev.object);
    if (ev.type == WatchEventType::Bookmark) {
      set_rv(rv);
      continue;
    }
    MutexLock hl(handlers_mu_);
    if (ev.type == WatchEventType::Deleted) {
      ObjectPtr old = store_.remove(object_key(ev.object));
      set_rv(rv);
      // Handlers get the final state the server reported.
      if (old) dispatch({StoreDelta::Type::Deleted, cached(std::move(ev.object)), nullptr});
      continue;
    }
    ObjectPtr obj = cached(std::move(ev.object));
    ObjectPtr old = store_.upsert(obj);
    set_rv(rv);
    if (!old) {
      dispatch({StoreDelta::Type::Added, nullptr, obj});
    } else if (resource_version_of(*old) != rv || rv.empty()) {
      dispatch({StoreDelta::Type::Updated, old, obj});
    }
  }
  {
    MutexLock lock(mu_);
    current_ = nullptr;
  }
  return got;
}

void Informer::run() {
  bool need_list = true;
  std::string list_rv = "0";
  int quiet = 0;
  auto stopping = [&] {
    MutexLock lock(mu_);
    return stopping_;
  };
  while (!stopping()) {
    if (need_list) {
      const ListOutcome out = list_and_replace(list_rv);
      if (out == ListOutcome::Ok) {
        need_list = false;
        backoff_.reset();
      } else if (out == ListOutcome::Gone && !list_rv.empty()) {
        list_rv = "";  // our version is gone too: consistent fresh list
        continue;
      } else {
        sleep_backoff();
        continue;
      }
    }
    bool relist = false;
    const uint64_t errors_before = errors_.load();
    const bool got = watch_once(relist);
    if (stopping()) break;
    if (relist) {
      gone_relists_.fetch_add(1);
      need_list = true;
      list_rv = last_resource_version();
      continue;
    }
    if (got) {
      backoff_.reset();
      quiet = 0;
    } else if (errors_.load() != errors_before || ++quiet > 1) {
      sleep_backoff();  // failing, or a server closing empty streams at once
    }
  }
}

}  // namespace gpupool::kube
