// The stochastic quantization loop: one optimizer step per sample or per mini-batch.
//
// For each batch of sample indices taken from `order`, the nearest centre of every sample is
// found with the centres as they were before the batch; then every centre k that received
// positive-weight samples moves once, by the optimizer, along the weighted mean gradient
//   g_k = (1 / m_k) sum_{i in batch, nearest(i) = k, w_i > 0} w_i r ||xi_i - y_k||^(r-2) (y_k - xi_i),
// where m_k counts those samples. Centres move in increasing k. A batch is one step t of the
// step-size schedule whether or not a centre moved.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "distance.hpp"
#include "nearest.hpp"
#include "optimizers.hpp"

namespace sq {

enum class ScheduleKind { constant, inverse_time, count };

// Parses "constant", "inverse_time" or "count". Throws std::invalid_argument otherwise.
inline ScheduleKind parse_schedule(const std::string& name) {
  if (name == "constant") return ScheduleKind::constant;
  if (name == "inverse_time") return ScheduleKind::inverse_time;
  if (name == "count") return ScheduleKind::count;
  throw std::invalid_argument("schedule must be one of 'constant', 'inverse_time', 'count', got '" + name +
                              "'");
}

// Step sizes rho_t.
//   constant      rho_t = learning_rate
//   inverse_time  rho_t = learning_rate / (1 + t / t0)^power; with power in (0.5, 1] the sum of
//                 rho_t diverges and the sum of rho_t^2 converges, as the convergence theorem needs
//   count         rho = learning_rate * m_k / (r * n_k), n_k the total weight centre k has
//                 received including this batch (the initial centre counts as weight 1); with
//                 r = 2 and learning_rate = 1 each centre is the running weighted mean of its
//                 samples, MacQueen's online K-Means
struct Schedule {
  ScheduleKind kind = ScheduleKind::constant;
  double learning_rate = 0.01;
  double t0 = 1.0;
  double power = 1.0;

  // Rate shared by all centres at step t; the count schedule has none and returns 1, which
  // makes trajectory averaging a plain mean of the iterates.
  double global_rate(std::int64_t step) const {
    switch (kind) {
      case ScheduleKind::constant:
        return learning_rate;
      case ScheduleKind::inverse_time: {
        // pow(x, 1) == x exactly, so the common power 1 skips the pow call at no change in bits.
        const double base = 1.0 + static_cast<double>(step) / t0;
        return learning_rate / (power == 1.0 ? base : std::pow(base, power));
      }
      case ScheduleKind::count:
        return 1.0;
    }
    return learning_rate;
  }

  double center_rate(double global, double batch_count, double center_mass, double rank) const {
    if (kind != ScheduleKind::count) return global;
    return learning_rate * batch_count / (rank * center_mass);
  }
};

// Settings of `run`, fixed for the whole call.
struct QuantizerSettings {
  double rank = 2.0;
  OptimizerKind optimizer = OptimizerKind::sgd;
  OptimizerParams optimizer_params;
  Schedule schedule;
  Index batch_size = 1;
  Index log_step = 0;             // record the loss every log_step steps; 0 disables
  bool averaging = false;         // keep the Cesaro average sum_t rho_t y_t / sum_t rho_t
  const double* lower = nullptr;  // d lower bounds of the box Y, or null for no projection
  const double* upper = nullptr;  // d upper bounds of the box Y, or null
  int n_threads = 1;              // threads for mini-batch assignment and loss evaluation
};

// Caller-owned state of a fit, updated in place so a fit can be resumed, pickled and rolled back.
// Arrays are row-major; `first`, `second` and `averaged` are K x d, the rest have K entries.
template <class T>
struct QuantizerState {
  Index n_clusters = 0;
  Index n_features = 0;
  T* centers = nullptr;
  T* first = nullptr;  // optimizer state (see optimizers.hpp), null when unused
  T* second = nullptr;
  T* averaged = nullptr;            // averaged centres, null unless averaging
  std::int64_t* updates = nullptr;  // moves of each centre
  double* mass = nullptr;           // weight each centre received, starting at 1
  double* marks = nullptr;          // rate sum at which averaged row k was last brought up to date
  std::int64_t step = 0;            // schedule steps taken so far
  double rate_sum = 0.0;            // sum of the global rates so far (averaging weights)
};

// One entry of the loss log: the mean loss over the samples of the call after `step` steps.
struct LossRecord {
  std::int64_t step;
  double loss;
};

namespace detail {

// Bring averaged row k up to the current rate sum: centre k sat at `center` for the steps
// since its last mark.
template <class T>
void sync_average(QuantizerState<T>& state, Index k) {
  T* average = state.averaged + k * state.n_features;
  const T* center = state.centers + k * state.n_features;
  const double total = state.rate_sum;
  if (total <= 0.0) return;
  const double old_weight = state.marks[k] / total;
  for (Index j = 0; j < state.n_features; ++j) {
    average[j] = T(old_weight * average[j] + (1.0 - old_weight) * center[j]);
  }
  state.marks[k] = total;
}

template <class T>
void validate_order(const std::int64_t* order, Index n_order, Index n_samples) {
  for (Index i = 0; i < n_order; ++i) {
    if (order[i] < 0 || order[i] >= n_samples) {
      throw std::invalid_argument("order[" + std::to_string(i) + "] = " + std::to_string(order[i]) +
                                  " is outside [0, " + std::to_string(n_samples) + ")");
    }
  }
}

// Work between two interrupt checks, counted in centre-coordinate visits, so one check comes
// every few milliseconds whatever K and d are.
inline Index interrupt_interval(Index n_clusters, Index n_features, Index batch_size) {
  const Index work = std::max<Index>(1, n_clusters * n_features * batch_size);
  return std::max<Index>(1, (Index{1} << 22) / work);
}

// The SQ loop for batch_size == 1, step for step the same arithmetic as the batched loop in
// run_with() (a batch of one sample with count 1), without its per-batch bookkeeping: the
// sample is read in place, the nearest centre comes from the per-sample kernel, and only the
// `transposed` layout of the table follows the moving centre, so a step costs O(K d / width + d).
template <class T, class Optimizer, class Project>
std::vector<LossRecord> run_per_sample(const SamplesView<T>& samples, const T* weights,
                                       const std::int64_t* order, Index n_order,
                                       const QuantizerSettings& settings, QuantizerState<T>& state,
                                       Optimizer& optimizer, CenterTable<T>& table, Project&& project,
                                       const std::function<void()>& check_interrupt) {
  const Index n_features = state.n_features;
  const double rank = settings.rank;
  const Schedule& schedule = settings.schedule;
  // Samples this far ahead in `order` are prefetched: the order is random, so each sample is a
  // cache miss on a large X, and the hardware prefetcher cannot guess the next one.
  constexpr Index prefetch_distance = 8;
  // Bytes of a row to prefetch; 4 cache lines at most, beyond which the hardware prefetcher
  // follows the row by itself.
  const Index row_bytes = std::min<Index>(n_features * static_cast<Index>(sizeof(T)), 256);

  std::vector<LossRecord> log;
  const Index check_every = interrupt_interval(state.n_clusters, n_features, 1);
  Index steps_since_check = 0;

  for (Index position = 0; position < n_order; ++position) {
#if defined(__GNUC__) || defined(__clang__)
    if (position + prefetch_distance < n_order) {
      // Every cache line of the row: a row of 32 floats spans two.
      const char* ahead =
          reinterpret_cast<const char*>(samples.data() + order[position + prefetch_distance] * n_features);
      for (Index offset = 0; offset < row_bytes; offset += 64) __builtin_prefetch(ahead + offset);
    }
#endif
    const std::int64_t index = order[position];
    const T* sample = samples.data() + index * n_features;
    T distance;
    const Index k = nearest_center(table, sample, distance);

    const double weight = weights ? static_cast<double>(weights[index]) : 1.0;
    const double global = schedule.global_rate(state.step);
    if (settings.averaging) state.rate_sum += global;
    if (weight > 0.0) {
      state.mass[k] += weight;
      state.updates[k] += 1;
      const double rate = schedule.center_rate(global, 1.0, state.mass[k], rank);

      // g_k at `point` for this one sample (the batched loop's mean over a count of 1).
      auto gradient = [&](const T* point, double* out) {
        // For rank 2 the factor is 2 unless point == sample, where every difference is 0 and
        // the gradient is 0 either way: skipping the serial sum of squares saves its latency.
        double scale = weight * 2.0;
        if (rank != 2.0) {
          double squared = 0.0;
          for (Index j = 0; j < n_features; ++j) {
            const double diff = static_cast<double>(point[j]) - static_cast<double>(sample[j]);
            squared += diff * diff;
          }
          scale = weight * gradient_scale(squared, rank);
        }
        for (Index j = 0; j < n_features; ++j) {
          out[j] = scale * (static_cast<double>(point[j]) - static_cast<double>(sample[j]));
        }
      };

      if (settings.averaging) sync_average(state, k);
      T* center = state.centers + k * n_features;
      optimizer.step(k, center, rate, gradient, project);
      table.update_transposed(k, center);
    }
    state.step += 1;

    if (settings.log_step > 0 && state.step % settings.log_step == 0) {
      table.reset(CentersView<T>(state.centers, state.n_clusters, n_features));
      const LossTotals totals = objective(samples, weights, table, rank, settings.n_threads);
      log.push_back({state.step, totals.mean()});
    }
    if (++steps_since_check >= check_every) {
      steps_since_check = 0;
      if (check_interrupt) check_interrupt();
    }
  }

  if (settings.averaging) {
    for (Index k = 0; k < state.n_clusters; ++k) sync_average(state, k);
  }
  return log;
}

}  // namespace detail

// Run SQ over samples[order[0]], samples[order[1]], ... in batches of settings.batch_size.
//   samples          in     n x d, finite (not checked)
//   weights          in     n non-negative weights, or null for all ones (not checked)
//   order            in     n_order sample indices in [0, n)
//   state            inout  see QuantizerState; its arrays must match the optimizer
//   check_interrupt  called between batches every few milliseconds; it may throw to stop the
//                    run, leaving the state at a batch boundary
// Returns the loss log (empty unless settings.log_step > 0).
// Throws std::invalid_argument when an order index is outside [0, n), before any step.
// Call `run`, which also checks the settings and the state arrays, rather than this directly.
template <class T, class Optimizer>
std::vector<LossRecord> run_with(const SamplesView<T>& samples, const T* weights, const std::int64_t* order,
                                 Index n_order, const QuantizerSettings& settings, QuantizerState<T>& state,
                                 const std::function<void()>& check_interrupt) {
  const Index n_features = state.n_features;
  const Index n_clusters = state.n_clusters;
  const Index batch_size = settings.batch_size;
  const double rank = settings.rank;
  detail::validate_order<T>(order, n_order, samples.rows());

  OptimizerState<T> optimizer_state{state.first, state.second, state.updates, n_features};
  Optimizer optimizer(settings.optimizer_params, optimizer_state);
  CentersView<T> centers(state.centers, n_clusters, n_features);
  CenterTable<T> table(centers);

  auto project = [&](T* center) {
    if (!settings.lower) return;
    for (Index j = 0; j < n_features; ++j) {
      center[j] = T(std::min(std::max(static_cast<double>(center[j]), settings.lower[j]), settings.upper[j]));
    }
  };

  if (batch_size == 1) {
    return detail::run_per_sample(samples, weights, order, n_order, settings, state, optimizer, table,
                                  project, check_interrupt);
  }

  // Per-batch scratch: the batch rows, their nearest centres, and the members of each centre.
  RowMatrix<T> batch(batch_size, n_features);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch_size));
  std::vector<T> squared_distances(static_cast<std::size_t>(batch_size));
  std::vector<std::vector<Index>> members(static_cast<std::size_t>(n_clusters));
  std::vector<std::int64_t> touched;

  std::vector<LossRecord> log;
  const Index check_every = detail::interrupt_interval(n_clusters, n_features, batch_size);
  Index batches_since_check = 0;

  for (Index start = 0; start < n_order; start += batch_size) {
    const Index size = std::min(batch_size, n_order - start);

    // Nearest centres of the batch, all with the centres as they were before the batch.
    for (Index b = 0; b < size; ++b) batch.row(b) = samples.row(order[start + b]);
    if (size == 1) {
      T distance;
      labels[0] = nearest_center(table, batch.row(0).data(), distance);
    } else {
      SamplesView<T> batch_view(batch.data(), size, n_features);
      assign(batch_view, table, labels.data(), squared_distances.data(), settings.n_threads);
    }

    // Group positive-weight samples by centre; only the touched centres are visited below, so
    // a step costs O(batch * d) beyond the assignment, not O(K).
    touched.clear();
    for (Index b = 0; b < size; ++b) {
      const double weight = weights ? static_cast<double>(weights[order[start + b]]) : 1.0;
      if (weight <= 0.0) continue;
      auto& list = members[static_cast<std::size_t>(labels[b])];
      if (list.empty()) touched.push_back(labels[b]);
      list.push_back(b);
    }
    std::sort(touched.begin(), touched.end());

    // One optimizer step for every centre that received samples.
    const double global = settings.schedule.global_rate(state.step);
    if (settings.averaging) state.rate_sum += global;
    for (const std::int64_t k : touched) {
      auto& list = members[static_cast<std::size_t>(k)];

      double batch_weight = 0.0;
      for (Index b : list) batch_weight += weights ? static_cast<double>(weights[order[start + b]]) : 1.0;
      state.mass[k] += batch_weight;
      state.updates[k] += 1;
      const double count = static_cast<double>(list.size());
      const double rate = settings.schedule.center_rate(global, count, state.mass[k], rank);

      // g_k at `point`: the weighted mean over this centre's samples.
      auto gradient = [&](const T* point, double* out) {
        for (Index j = 0; j < n_features; ++j) out[j] = 0.0;
        for (Index b : list) {
          const T* sample = batch.row(b).data();
          const double weight = weights ? static_cast<double>(weights[order[start + b]]) : 1.0;
          double squared = 0.0;
          for (Index j = 0; j < n_features; ++j) {
            const double diff = static_cast<double>(point[j]) - static_cast<double>(sample[j]);
            squared += diff * diff;
          }
          const double scale = weight * gradient_scale(squared, rank);
          for (Index j = 0; j < n_features; ++j) {
            out[j] += scale * (static_cast<double>(point[j]) - static_cast<double>(sample[j]));
          }
        }
        for (Index j = 0; j < n_features; ++j) out[j] /= count;
      };

      if (settings.averaging) detail::sync_average(state, k);
      T* center = state.centers + k * n_features;
      optimizer.step(k, center, rate, gradient, project);
      table.update_row(k, center);
      list.clear();
    }
    state.step += 1;

    if (settings.log_step > 0 && state.step % settings.log_step == 0) {
      const LossTotals totals = objective(samples, weights, table, rank, settings.n_threads);
      log.push_back({state.step, totals.mean()});
    }
    if (++batches_since_check >= check_every) {
      batches_since_check = 0;
      if (check_interrupt) check_interrupt();
    }
  }

  if (settings.averaging) {
    for (Index k = 0; k < n_clusters; ++k) detail::sync_average(state, k);
  }
  return log;
}

// run_with for the optimizer chosen at run time; the switch sits outside the loop.
// Throws std::invalid_argument, before any step, when the samples and centres differ in d,
// batch_size < 1, rank < 1, an order index is outside [0, n), or state lacks an array that the
// optimizer or averaging needs. The lower and upper bounds, when given, must hold d values
// each with lower <= upper (not checked).
template <class T>
std::vector<LossRecord> run(const SamplesView<T>& samples, const T* weights, const std::int64_t* order,
                            Index n_order, const QuantizerSettings& settings, QuantizerState<T>& state,
                            const std::function<void()>& check_interrupt = {}) {
  if (samples.cols() != state.n_features) {
    throw std::invalid_argument("samples have " + std::to_string(samples.cols()) +
                                " features but the centres have " + std::to_string(state.n_features));
  }
  if (settings.batch_size < 1) {
    throw std::invalid_argument("batch_size must be >= 1, got " + std::to_string(settings.batch_size));
  }
  if (!(settings.rank >= 1.0)) {
    throw std::invalid_argument("rank must be >= 1, got " + std::to_string(settings.rank));
  }
  const int needed = state_arrays(settings.optimizer);
  if ((needed >= 1 && !state.first) || (needed >= 2 && !state.second) ||
      (settings.averaging && !state.averaged)) {
    throw std::invalid_argument("the optimizer or averaging needs a state array that was not given");
  }
  switch (settings.optimizer) {
    case OptimizerKind::sgd:
      return run_with<T, Sgd<T>>(samples, weights, order, n_order, settings, state, check_interrupt);
    case OptimizerKind::momentum:
      return run_with<T, Momentum<T>>(samples, weights, order, n_order, settings, state, check_interrupt);
    case OptimizerKind::nag:
      return run_with<T, Nesterov<T>>(samples, weights, order, n_order, settings, state, check_interrupt);
    case OptimizerKind::adagrad:
      return run_with<T, AdaGrad<T>>(samples, weights, order, n_order, settings, state, check_interrupt);
    case OptimizerKind::rmsprop:
      return run_with<T, RmsProp<T>>(samples, weights, order, n_order, settings, state, check_interrupt);
    case OptimizerKind::adam:
      return run_with<T, Adam<T>>(samples, weights, order, n_order, settings, state, check_interrupt);
  }
  throw std::invalid_argument("unknown optimizer");
}

}  // namespace sq
