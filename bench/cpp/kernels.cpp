// Microbenchmarks of the core kernels at the shapes of the Python assign benchmark: 1M float32
// samples with (d, K) in {(3, 10), (32, 64), (128, 256)}.
//
//   assign        nearest centre of every sample (sq::assign), on 1 thread and on all cores
//   assign_naive  the same result by a plain double loop over samples and centres, on the
//                 first 100k samples: the peer that the ratios in README.md compare against
//   objective     mean loss over all samples (sq::objective), on all cores
//   run_adam      SQ steps with Adam and batch size 1 (sq::run) over 100k samples
//
// Items per second count samples (assign, objective) or steps (run_adam).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sq/sq.hpp>
#include <utility>
#include <vector>

namespace {

constexpr sq::Index n_samples = 1000000;
constexpr sq::Index n_run_samples = 100000;
// The naive peer visits only this many samples, so that its 1-iteration run stays short; its
// items per second remain comparable.
constexpr sq::Index n_naive_samples = 100000;

// Samples from K Gaussian blobs, generated once per (d, K) and kept for the whole run so that
// generation never counts in a timing.
const sq::RowMatrix<float>& blobs(sq::Index n_features, sq::Index n_clusters) {
  static std::map<std::pair<sq::Index, sq::Index>, std::unique_ptr<sq::RowMatrix<float>>> cache;
  auto& entry = cache[{n_features, n_clusters}];
  if (!entry) {
    std::mt19937_64 engine(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    sq::RowMatrix<float> means(n_clusters, n_features);
    for (sq::Index i = 0; i < means.size(); ++i) means.data()[i] = 10.0f * normal(engine);
    entry = std::make_unique<sq::RowMatrix<float>>(n_samples, n_features);
    for (sq::Index i = 0; i < n_samples; ++i) {
      const sq::Index k = static_cast<sq::Index>(engine() % static_cast<std::uint64_t>(n_clusters));
      for (sq::Index j = 0; j < n_features; ++j) (*entry)(i, j) = means(k, j) + normal(engine);
    }
  }
  return *entry;
}

// The first K samples as centres (the samples are in random blob order).
sq::RowMatrix<float> first_rows(const sq::RowMatrix<float>& samples, sq::Index n_clusters) {
  return samples.topRows(n_clusters);
}

void assign(benchmark::State& state) {
  const sq::Index n_features = state.range(0);
  const sq::Index n_clusters = state.range(1);
  const int n_threads = static_cast<int>(state.range(2));
  const auto& data = blobs(n_features, n_clusters);
  const sq::SamplesView<float> samples(data.data(), data.rows(), data.cols());
  const sq::CenterTable<float> table(first_rows(data, n_clusters));
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n_samples));
  std::vector<float> squared_distances(static_cast<std::size_t>(n_samples));

  for (auto _ : state) {
    sq::assign(samples, table, labels.data(), squared_distances.data(), n_threads);
    benchmark::DoNotOptimize(labels.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n_samples);
}

void assign_naive(benchmark::State& state) {
  const sq::Index n_features = state.range(0);
  const sq::Index n_clusters = state.range(1);
  const auto& data = blobs(n_features, n_clusters);
  const sq::RowMatrix<float> centers = first_rows(data, n_clusters);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n_naive_samples));

  for (auto _ : state) {
    for (sq::Index i = 0; i < n_naive_samples; ++i) {
      double best = 0.0;
      std::int64_t best_k = 0;
      for (sq::Index k = 0; k < n_clusters; ++k) {
        double sum = 0.0;
        for (sq::Index j = 0; j < n_features; ++j) {
          const double diff = static_cast<double>(data(i, j)) - static_cast<double>(centers(k, j));
          sum += diff * diff;
        }
        if (k == 0 || sum < best) {
          best = sum;
          best_k = k;
        }
      }
      labels[static_cast<std::size_t>(i)] = best_k;
    }
    benchmark::DoNotOptimize(labels.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n_naive_samples);
}

void objective(benchmark::State& state) {
  const sq::Index n_features = state.range(0);
  const sq::Index n_clusters = state.range(1);
  const auto& data = blobs(n_features, n_clusters);
  const sq::SamplesView<float> samples(data.data(), data.rows(), data.cols());
  const sq::CenterTable<float> table(first_rows(data, n_clusters));

  for (auto _ : state) {
    benchmark::DoNotOptimize(sq::objective<float>(samples, nullptr, table, 2.0, 0));
  }
  state.SetItemsProcessed(state.iterations() * n_samples);
}

void run_adam(benchmark::State& state) {
  const sq::Index n_features = state.range(0);
  const sq::Index n_clusters = state.range(1);
  const auto& data = blobs(n_features, n_clusters);
  const sq::SamplesView<float> samples(data.data(), n_run_samples, data.cols());
  std::vector<std::int64_t> order(static_cast<std::size_t>(n_run_samples));
  std::iota(order.begin(), order.end(), 0);

  sq::QuantizerSettings settings;
  settings.optimizer = sq::OptimizerKind::adam;
  settings.schedule.kind = sq::ScheduleKind::inverse_time;
  settings.schedule.learning_rate = 0.1;
  settings.schedule.t0 = static_cast<double>(n_run_samples);

  // Each iteration starts again from the same state, restored outside the timing.
  sq::RowMatrix<float> centers(n_clusters, n_features);
  sq::RowMatrix<float> first(n_clusters, n_features);
  sq::RowMatrix<float> second(n_clusters, n_features);
  std::vector<std::int64_t> updates(static_cast<std::size_t>(n_clusters));
  std::vector<double> mass(static_cast<std::size_t>(n_clusters));
  sq::QuantizerState<float> fit;
  fit.n_clusters = n_clusters;
  fit.n_features = n_features;
  fit.centers = centers.data();
  fit.first = first.data();
  fit.second = second.data();
  fit.updates = updates.data();
  fit.mass = mass.data();

  for (auto _ : state) {
    state.PauseTiming();
    // Copy in place: assigning a temporary matrix would move its buffer into `centers` and
    // leave fit.centers pointing at freed memory.
    std::copy_n(data.data(), n_clusters * n_features, centers.data());
    first.setZero();
    second.setZero();
    std::fill(updates.begin(), updates.end(), 0);
    std::fill(mass.begin(), mass.end(), 1.0);
    fit.step = 0;
    state.ResumeTiming();

    benchmark::DoNotOptimize(sq::run<float>(samples, nullptr, order.data(), n_run_samples, settings, fit));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n_run_samples);
}

// The shapes (d, K) of the Python assign benchmark.
const std::vector<std::vector<std::int64_t>> shapes = {{3, 10}, {32, 64}, {128, 256}};

void shape_arguments(benchmark::internal::Benchmark* benchmark) {
  for (const auto& shape : shapes) benchmark->Args(shape);
}

void shape_thread_arguments(benchmark::internal::Benchmark* benchmark) {
  // Threads: 1, and 0 for all cores.
  for (const auto& shape : shapes) {
    for (const std::int64_t threads : {1, 0}) benchmark->Args({shape[0], shape[1], threads});
  }
}

}  // namespace

BENCHMARK(assign)
    ->Apply(shape_thread_arguments)
    ->ArgNames({"d", "k", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(assign_naive)
    ->Apply(shape_arguments)
    ->ArgNames({"d", "k"})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK(objective)
    ->Apply(shape_arguments)
    ->ArgNames({"d", "k"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(run_adam)->Apply(shape_arguments)->ArgNames({"d", "k"})->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
