// Fixed-partition parallel loops whose results do not depend on the thread count.
#pragma once

#include <algorithm>
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

// Resolve a user thread count: values below 1 mean "all hardware threads", and small jobs run
// on the calling thread because starting threads costs more than the work.
inline int resolve_threads(int n_threads, Index n_tasks) {
  if (n_threads < 1) {
    n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  return static_cast<int>(std::min<Index>(n_threads, std::max<Index>(n_tasks, 1)));
}

// Call body(task) for task in [0, n_tasks) on up to n_threads threads. Tasks are handed out
// in contiguous ranges; the first exception thrown by any worker is rethrown after the join.
template <class Body>
void parallel_for(Index n_tasks, int n_threads, Body&& body) {
  n_threads = resolve_threads(n_threads, n_tasks);
  if (n_threads == 1) {
    for (Index task = 0; task < n_tasks; ++task) body(task);
    return;
  }

  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto run_range = [&](Index begin, Index end) {
    try {
      for (Index task = begin; task < end; ++task) body(task);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
    }
  };

  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(n_threads - 1));
  const Index per_thread = (n_tasks + n_threads - 1) / n_threads;
  // A range whose thread cannot start (thread limit, memory) runs on the calling thread: letting
  // the std::system_error escape would destroy joinable threads and call std::terminate.
  std::vector<std::pair<Index, Index>> unstarted;
  for (int worker = 1; worker < n_threads; ++worker) {
    const Index begin = worker * per_thread;
    const Index end = std::min(n_tasks, begin + per_thread);
    if (begin >= end) break;
    try {
      workers.emplace_back(run_range, begin, end);
    } catch (const std::system_error&) {
      unstarted.emplace_back(begin, end);
    }
  }
  run_range(0, std::min(n_tasks, per_thread));
  for (const auto& range : unstarted) run_range(range.first, range.second);
  for (auto& worker : workers) worker.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace sq
