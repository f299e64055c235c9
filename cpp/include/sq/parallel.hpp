// Parallel loops over a fixed partition into tasks, whose results do not depend on the thread
// count.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace sq {

using Index = std::ptrdiff_t;

// Rows per task in every blocked loop. The partition of the data into blocks is fixed by this
// constant alone, so per-block partial sums reduced in block order give the same bits for any
// number of threads.
inline constexpr Index block_rows = 256;

inline Index count_blocks(Index n_rows) { return (n_rows + block_rows - 1) / block_rows; }

// Tasks (blocks of rows) per started thread at least. Starting and joining a thread costs tens
// of microseconds, and milliseconds when the cores are busy with other processes, which is more
// than a few blocks of work. So mini-batches and small k-means++ inputs stay on the calling
// thread.
inline constexpr Index min_tasks_per_thread = 16;

// Resolve a user thread count: values below 1 mean "all hardware threads", and small jobs run
// on fewer threads (down to the calling thread alone) because starting threads costs more than
// the work.
inline int resolve_threads(int n_threads, Index n_tasks) {
  if (n_threads < 1) {
    n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  const Index useful = std::max<Index>(1, n_tasks / min_tasks_per_thread);
  return static_cast<int>(std::min<Index>(n_threads, useful));
}

// Call body(task) for task in [0, n_tasks) on up to n_threads threads. Threads take the next
// task from a shared counter, so a thread slowed by other work on the machine takes fewer
// tasks instead of holding up the rest. Each task's result depends only on its index, so the
// output does not depend on which thread ran it. The first exception thrown by any worker is
// rethrown after the join, and the remaining tasks are skipped.
template <class Body>
void parallel_for(Index n_tasks, int n_threads, Body&& body) {
  n_threads = resolve_threads(n_threads, n_tasks);
  if (n_threads == 1) {
    for (Index task = 0; task < n_tasks; ++task) body(task);
    return;
  }

  std::atomic<Index> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&]() {
    try {
      for (Index task = next.fetch_add(1, std::memory_order_relaxed); task < n_tasks;
           task = next.fetch_add(1, std::memory_order_relaxed)) {
        if (failed.load(std::memory_order_relaxed)) return;
        body(task);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
      failed.store(true, std::memory_order_relaxed);
    }
  };

  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(n_threads - 1));
  // A thread that cannot start (thread limit, memory) leaves its blocks to the threads that
  // did: the shared counter hands out every block, whereas letting the std::system_error escape
  // would destroy joinable threads and call std::terminate.
  for (int worker = 1; worker < n_threads; ++worker) {
    try {
      workers.emplace_back(work);
    } catch (const std::system_error&) {
      break;
    }
  }
  work();
  for (auto& worker : workers) worker.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace sq
