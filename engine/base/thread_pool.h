// ThreadPool: a fixed set of worker threads running submitted tasks.
//
//   ThreadPool pool(4);
//   auto f = pool.submit([] { return 42; });
//   int v = f.get();
//
// The destructor finishes every queued task, then joins. parallel_for splits
// an index range into chunks across the workers and the calling thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <type_traits>
#include <vector>

namespace rewoo {

class ThreadPool {
 public:
  // n_threads == 0 picks std::thread::hardware_concurrency().
  explicit ThreadPool(size_t n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return workers_.size(); }

  template <class F>
  auto submit(F&& f) -> std::future<std::invoke_result_t<F>> {
    using R = std::invoke_result_t<F>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(f));
    std::future<R> fut = task->get_future();
    enqueue([task] { (*task)(); });
    return fut;
  }

  // Runs body(begin, end) over [0, n) in chunks of at least min_chunk, about
  // 4 per thread, claimed one at a time by the calling thread and the
  // workers: a worker that wakes late or is preempted just takes fewer
  // chunks, and the caller waits only for workers that have started, never
  // for one not yet scheduled. Returns when all chunks are done. The first
  // exception a chunk throws is rethrown here, after the chunks already
  // running have ended; no new chunk starts once one has thrown.
  void parallel_for(size_t n, size_t min_chunk,
                    const std::function<void(size_t, size_t)>& body);

 private:
  void enqueue(std::function<void()> job);
  void worker_loop();

  std::vector<std::thread> workers_;
  std::queue<std::function<void()>> jobs_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace rewoo
