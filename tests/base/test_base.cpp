#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "engine/base/result.h"
#include "engine/base/thread_pool.h"
#include "engine/base/trace.h"
#include "tests/test_util.h"

using namespace rewoo;

namespace {
Result<int> parse_positive(int x) {
  if (x <= 0) return Error("expected a positive number, got " + std::to_string(x), "arg 1");
  return x;
}
Result<int> doubled(int x) {
  REWOO_TRY(parse_positive(x));
  return 2 * x;
}
}  // namespace

TEST_CASE("Result carries a value or an error with its location") {
  auto ok = parse_positive(3);
  REQUIRE(ok);
  CHECK(*ok == 3);
  auto bad = parse_positive(-1);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().to_string() == "arg 1: expected a positive number, got -1");
  CHECK_THROWS_AS(bad.value(), BadResultAccess);
  CHECK(bad.error().wrap("reading config").to_string() ==
        "reading config: arg 1: expected a positive number, got -1");
  CHECK(*doubled(4) == 8);
  CHECK_FALSE(doubled(0));
  Status s;
  CHECK(s.ok());
  Status f = Error("boom");
  CHECK_FALSE(f.ok());
  CHECK(f.error().message == "boom");
}

TEST_CASE("ThreadPool runs tasks concurrently and parallel_for covers the range once") {
  ThreadPool pool(4);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<int>> futs;
  for (int i = 0; i < 4; ++i)
    futs.push_back(pool.submit([i] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return i * i;
    }));
  int sum = 0;
  for (auto& f : futs) sum += f.get();
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  CHECK(sum == 0 + 1 + 4 + 9);
  CHECK(ms < 300);  // four 100 ms sleeps in parallel, not 400 ms

  std::vector<std::atomic<int>> hits(1000);
  pool.parallel_for(1000, 7, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) hits[i]++;
  });
  for (auto& h : hits) CHECK(h.load() == 1);
}

TEST_CASE("ThreadPool::parallel_for does not wait for a worker that is busy elsewhere") {
  // The only worker is blocked by a task; the caller must do every chunk
  // itself and return, not wait for the worker to get to its share.
  ThreadPool pool(1);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  auto blocker = pool.submit([gate] { gate.wait(); });
  std::vector<std::atomic<int>> hits(100);
  auto done = std::async(std::launch::async, [&] {
    pool.parallel_for(100, 1, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) hits[i]++;
    });
  });
  const bool returned = done.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  release.set_value();
  blocker.get();
  done.get();
  CHECK(returned);
  for (auto& h : hits) CHECK(h.load() == 1);
}

TEST_CASE("ThreadPool::parallel_for: a chunk that throws reaches the caller after every chunk has stopped") {
  ThreadPool pool(1);
  for (int rep = 0; rep < 5; ++rep) {
    // Two chunks: 0 throws at once (the caller usually takes it), 1 runs a
    // while. parallel_for used to return at once with the exception and
    // leave the worker running (or starting) a body whose captures were gone.
    struct Counts {
      std::atomic<int> started{0}, inside{0};
    };
    auto c = std::make_shared<Counts>();
    bool threw = false;
    try {
      pool.parallel_for(2, 1, [c](size_t b, size_t) {
        c->started.fetch_add(1);
        c->inside.fetch_add(1);
        if (b == 0) {
          c->inside.fetch_sub(1);
          throw std::runtime_error("chunk 0 failed");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        c->inside.fetch_sub(1);
      });
    } catch (const std::runtime_error& e) {
      threw = std::string(e.what()) == "chunk 0 failed";
    }
    CHECK(threw);
    CHECK(c->inside.load() == 0);
    const int started = c->started.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    CHECK(c->started.load() == started);  // nothing starts after parallel_for returned
  }
}

TEST_CASE("TraceSink writes one JSON object per line") {
  test::TempDir dir;
  TraceSink sink;
  REQUIRE(sink.open_file((dir / "t.jsonl").string()).ok());
  int seen = 0;
  sink.on_event([&](const TraceEvent&) { ++seen; });
  sink.emit("step_start", {{"step", 0}, {"tool", "X"}});
  sink.emit("answer", {{"text", "done"}});
  CHECK(seen == 2);
  std::string text = test::read_file(dir / "t.jsonl");
  auto nl = text.find('\n');
  REQUIRE(nl != std::string::npos);
  auto first = nlohmann::json::parse(text.substr(0, nl));
  CHECK(first["event"] == "step_start");
  CHECK(first["tool"] == "X");
  CHECK(first.contains("t_ms"));
  CHECK(sink.events().size() == 2);
  CHECK_FALSE(sink.open_file((dir / "no/such/dir/x").string()).ok());
}
