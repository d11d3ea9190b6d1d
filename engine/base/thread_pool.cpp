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

namespace {

// One parallel_for call; shared with the pool's jobs, which may start after
// the call has returned (they then find no chunk left and touch nothing else).
struct ParallelFor {
  const std::function<void(size_t, size_t)>* body = nullptr;
  size_t n = 0, chunk = 0, n_chunks = 0;
  std::atomic<size_t> next{0};
  std::atomic<int> active{0};  // pool jobs inside work()
  std::mutex mu;
  std::exception_ptr error;  // the first exception a chunk threw; no chunk starts after it

  void work() {
    try {
      for (;;) {
        const size_t i = next.fetch_add(1);
        if (i >= n_chunks) return;
        (*body)(i * chunk, std::min(n, (i + 1) * chunk));
      }
    } catch (...) {
      next.store(n_chunks);
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = std::current_exception();
    }
  }
};

}  // namespace

void ThreadPool::parallel_for(size_t n, size_t min_chunk,
                              const std::function<void(size_t, size_t)>& body) {
  if (n == 0) return;
  min_chunk = std::max<size_t>(1, min_chunk);
  const size_t threads = size() + 1;
  const size_t chunk = std::max(min_chunk, (n + 4 * threads - 1) / (4 * threads));
  const size_t n_chunks = (n + chunk - 1) / chunk;
  if (n_chunks <= 1) {
    body(0, n);
    return;
  }
  auto st = std::make_shared<ParallelFor>();
  st->body = &body;
  st->n = n;
  st->chunk = chunk;
  st->n_chunks = n_chunks;
  const size_t helpers = std::min(size(), n_chunks - 1);
  for (size_t i = 0; i < helpers; ++i)
    enqueue([st] {
      st->active.fetch_add(1);  // before claiming: the caller then waits for this job
      st->work();
      st->active.fetch_sub(1);
    });
  st->work();
  while (st->active.load() != 0) std::this_thread::yield();
  if (st->error) std::rethrow_exception(st->error);
}

}  // namespace rewoo
