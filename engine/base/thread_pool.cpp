#include "engine/base/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <exception>

namespace rewoo {

ThreadPool::ThreadPool(size_t n_threads) {
  if (n_threads == 0) n_threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(n_threads);
  for (size_t i = 0; i < n_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::enqueue(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push(std::move(job));
  }
  cv_.notify_one();
}

void ThreadPool::worker_loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping and drained
      job = std::move(jobs_.front());
      jobs_.pop();
    }
    job();
  }
}

void ThreadPool::parallel_for(size_t n, size_t min_chunk,
                              const std::function<void(size_t, size_t)>& body) {
  if (n == 0) return;
  min_chunk = std::max<size_t>(1, min_chunk);
  size_t parts = std::min(size() + 1, (n + min_chunk - 1) / min_chunk);
  if (parts <= 1) {
    body(0, n);
    return;
  }
  size_t chunk = (n + parts - 1) / parts;
  std::atomic<size_t> next{0};
  // The first exception a chunk throws; no chunk starts after it, and it is
  // rethrown only once every worker has left `run` (which refers to this
  // frame).
  std::mutex error_mu;
  std::exception_ptr error;
  auto run = [&] {
    try {
      for (;;) {
        size_t i = next.fetch_add(1);
        if (i >= parts) return;
        size_t b = i * chunk, e = std::min(n, b + chunk);
        if (b < e) body(b, e);
      }
    } catch (...) {
      next.store(parts);
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::future<void>> futs;
  futs.reserve(parts - 1);
  for (size_t i = 0; i + 1 < parts; ++i) futs.push_back(submit(run));
  run();
  for (auto& f : futs) f.wait();
  if (error) std::rethrow_exception(error);
}

}  // namespace rewoo
