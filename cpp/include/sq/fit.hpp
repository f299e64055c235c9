// A complete fit for C++ users: initial centres, sample orders and epochs of the SQ loop.
//
// The Python estimator drives the same core functions (kmeans_plusplus, run, objective) from
// NumPy. Given the same initial centres, sample orders and settings, `fit` returns the same
// centres as StochasticQuantization.fit. Its own random draws (k-means++ uniforms, permutations)
// come from a std::mt19937_64 and differ from NumPy's, so seeded k-means++ or permutation runs
// give different (equally valid) centres in the two languages.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "distance.hpp"
#include "init.hpp"
#include "nearest.hpp"
#include "optimizers.hpp"
#include "quantizer.hpp"

namespace sq {

namespace detail {

// Puts T in a non-deduced context, so that T is deduced from the samples alone and callers can
// pass nullptr for the weights and a plain RowMatrix for the centres (C++20's type_identity).
template <class T>
struct NonDeduced {
  using type = T;
};
template <class T>
using NonDeducedT = typename NonDeduced<T>::type;

}  // namespace detail

// Seeded random draws whose values depend only on the seed. The standard fixes the output of
// std::mt19937_64 but leaves std::uniform_real_distribution implementation-defined, so the
// conversions to doubles and bounded integers are written out here.
class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}

  // Returns a double in [0, 1) made of the top 53 bits of one 64-bit draw (scaled by 2^-53).
  double uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }

  // Returns an integer in [0, bound), uniformly, by rejecting draws at or above the largest
  // multiple of bound. Throws std::invalid_argument when bound is 0.
  std::uint64_t below(std::uint64_t bound) {
    if (bound == 0) throw std::invalid_argument("Random::below needs bound >= 1, got 0");
    const std::uint64_t limit =
        std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % bound;
    std::uint64_t draw = engine_();
    while (draw >= limit) draw = engine_();
    return draw % bound;
  }

 private:
  std::mt19937_64 engine_;
};

// Order in which one epoch visits the samples.
//   permutation  every sample once, in a fresh random order
//   replacement  n draws with replacement
//   sequential   0, 1, ..., n - 1 (no randomness; matches the Python estimator exactly)
enum class Sampling { permutation, replacement, sequential };

// Parses "permutation", "replacement" or "sequential". Throws std::invalid_argument otherwise.
inline Sampling parse_sampling(const std::string& name) {
  if (name == "permutation") return Sampling::permutation;
  if (name == "replacement") return Sampling::replacement;
  if (name == "sequential") return Sampling::sequential;
  throw std::invalid_argument("sampling must be one of 'permutation', 'replacement', 'sequential', got '" +
                              name + "'");
}

// Settings of `fit`: the SQ loop settings plus the number of epochs and the sampling of each.
// NOTE: `fit` always runs n_epochs epochs. It has no early stop like the estimator's `tol`, so
// it matches the estimator only with tol=None.
struct FitSettings {
  QuantizerSettings quantizer;  // rank, optimizer, schedule, batch size, projection, averaging, threads
  Index n_epochs = 10;          // passes over the data; 0 returns the initial centres
  Sampling sampling = Sampling::permutation;
};

// Outcome of `fit`.
template <class T>
struct FitResult {
  RowMatrix<T> centers;              // K x d: the final centres (the averaged ones with averaging)
  double loss = 0.0;                 // mean loss F(y) of `centers` over the samples
  std::vector<LossRecord> loss_log;  // every settings.quantizer.log_step steps, over all epochs
  std::int64_t n_steps = 0;          // schedule steps taken (batches)
};

// Draws the initial centres by greedy k-means++ with 2 + floor(ln K) local trials.
//   samples     in     n x d
//   weights     in     n non-negative weights with a positive sum, or null for all ones
//   n_clusters  K, in [1, n]
//   random      inout  source of the 1 + (K - 1) * trials uniforms
// Returns the K x d chosen rows. Throws std::invalid_argument when K is outside [1, n].
template <class T>
RowMatrix<T> kmeans_plusplus_centers(const SamplesView<T>& samples, const detail::NonDeducedT<T>* weights,
                                     Index n_clusters, Random& random, int n_threads) {
  const Index trials = default_local_trials(std::max<Index>(n_clusters, 1));
  std::vector<double> uniforms(static_cast<std::size_t>(1 + std::max<Index>(n_clusters - 1, 0) * trials));
  for (double& value : uniforms) value = random.uniform();
  const std::vector<Index> chosen = kmeans_plusplus(samples, weights, n_clusters, uniforms.data(),
                                                    static_cast<Index>(uniforms.size()), trials, n_threads);
  RowMatrix<T> centers(n_clusters, samples.cols());
  for (Index k = 0; k < n_clusters; ++k) centers.row(k) = samples.row(chosen[static_cast<std::size_t>(k)]);
  return centers;
}

// Returns the sample indices of one epoch. Samples of zero weight are left out, as in the
// Python estimator. `random` is not used for Sampling::sequential. T is the weights' type:
// write epoch_order<float>(...) for float weights.
template <class T = double>
std::vector<std::int64_t> epoch_order(Sampling sampling, Random& random, Index n_samples,
                                      const detail::NonDeducedT<T>* weights) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n_samples));
  if (sampling == Sampling::replacement) {
    for (auto& index : order)
      index = static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(n_samples)));
  } else {
    for (Index i = 0; i < n_samples; ++i) order[static_cast<std::size_t>(i)] = i;
  }

  // Fisher-Yates shuffle.
  if (sampling == Sampling::permutation) {
    for (Index i = n_samples - 1; i > 0; --i) {
      const auto j = static_cast<Index>(random.below(static_cast<std::uint64_t>(i + 1)));
      std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
    }
  }
  if (weights) {
    order.erase(std::remove_if(order.begin(), order.end(), [&](std::int64_t i) { return !(weights[i] > 0); }),
                order.end());
  }
  return order;
}

// Returns the schedule the Python estimator's schedule="auto" picks: the count schedule for
// SGD, Momentum and NAG, a constant rate for AdaGrad (whose accumulator already shrinks the
// steps), and inverse_time for RMSProp and Adam.
inline ScheduleKind auto_schedule(OptimizerKind optimizer) {
  switch (optimizer) {
    case OptimizerKind::adagrad:
      return ScheduleKind::constant;
    case OptimizerKind::rmsprop:
    case OptimizerKind::adam:
      return ScheduleKind::inverse_time;
    default:
      return ScheduleKind::count;
  }
}

// Returns the step size rho_0 that the Python estimator's learning_rate="auto" picks. With s
// the root mean squared distance from every max(1, floor(n / 10000))-th sample to its nearest
// centre: 0.1 s for AdaGrad, 0.03 s for RMSProp and Adam, 1 / s^(rank - 2) for SGD and
// (1 - momentum) / s^(rank - 2) for Momentum and NAG.
//   samples  in  n x d
//   centers  in  K x d initial centres
template <class T>
double auto_learning_rate(const SamplesView<T>& samples,
                          const Eigen::Ref<const detail::NonDeducedT<RowMatrix<T>>>& centers,
                          OptimizerKind optimizer, double rank, int n_threads, double momentum = 0.9) {
  const Index stride = std::max<Index>(1, samples.rows() / 10000);
  const Index n_subsample = (samples.rows() + stride - 1) / stride;
  RowMatrix<T> subsample(n_subsample, samples.cols());
  for (Index i = 0; i < n_subsample; ++i) subsample.row(i) = samples.row(i * stride);

  const SamplesView<T> view(subsample.data(), n_subsample, samples.cols());
  const LossTotals totals = objective<T>(view, nullptr, CenterTable<T>(centers), 2.0, n_threads);
  double scale = std::sqrt(totals.mean());
  if (!(scale > 0.0)) scale = 1.0;
  switch (optimizer) {
    case OptimizerKind::adagrad:
      return 0.1 * scale;
    case OptimizerKind::rmsprop:
    case OptimizerKind::adam:
      return 0.03 * scale;
    case OptimizerKind::momentum:
    case OptimizerKind::nag:
      return (1.0 - momentum) / std::pow(scale, rank - 2.0);
    default:
      return 1.0 / std::pow(scale, rank - 2.0);
  }
}

namespace detail {

template <class T>
FitResult<T> fit_epochs(const SamplesView<T>& samples, const detail::NonDeducedT<T>* weights,
                        const Eigen::Ref<const detail::NonDeducedT<RowMatrix<T>>>& initial_centers,
                        const FitSettings& settings,
                        const std::function<const std::vector<std::int64_t>&(Index)>& order_of_epoch) {
  const Index n_clusters = initial_centers.rows();
  const Index n_features = initial_centers.cols();
  if (n_clusters < 1 || n_features != samples.cols()) {
    throw std::invalid_argument(
        "initial centres must be K x d with K >= 1 and d = " + std::to_string(samples.cols()) +
        " features, got " + std::to_string(n_clusters) + " x " + std::to_string(n_features));
  }
  if (settings.n_epochs < 0) {
    throw std::invalid_argument("n_epochs must be >= 0, got " + std::to_string(settings.n_epochs));
  }

  // State at step 0: zero optimizer moments, no moves, each centre's mass 1 (the initial centre).
  const int n_arrays = state_arrays(settings.quantizer.optimizer);
  RowMatrix<T> centers = initial_centers;
  RowMatrix<T> first = RowMatrix<T>::Zero(n_arrays >= 1 ? n_clusters : 0, n_features);
  RowMatrix<T> second = RowMatrix<T>::Zero(n_arrays >= 2 ? n_clusters : 0, n_features);
  RowMatrix<T> averaged = settings.quantizer.averaging ? centers : RowMatrix<T>(0, n_features);
  std::vector<std::int64_t> updates(static_cast<std::size_t>(n_clusters), 0);
  std::vector<double> mass(static_cast<std::size_t>(n_clusters), 1.0);
  std::vector<double> marks(static_cast<std::size_t>(n_clusters), 0.0);

  QuantizerState<T> state;
  state.n_clusters = n_clusters;
  state.n_features = n_features;
  state.centers = centers.data();
  state.first = n_arrays >= 1 ? first.data() : nullptr;
  state.second = n_arrays >= 2 ? second.data() : nullptr;
  state.averaged = settings.quantizer.averaging ? averaged.data() : nullptr;
  state.updates = updates.data();
  state.mass = mass.data();
  state.marks = marks.data();

  FitResult<T> result;
  for (Index epoch = 0; epoch < settings.n_epochs; ++epoch) {
    const std::vector<std::int64_t>& order = order_of_epoch(epoch);
    const std::vector<LossRecord> log =
        run(samples, weights, order.data(), static_cast<Index>(order.size()), settings.quantizer, state);
    result.loss_log.insert(result.loss_log.end(), log.begin(), log.end());
  }

  result.centers = settings.quantizer.averaging ? averaged : centers;
  result.n_steps = state.step;
  const CenterTable<T> table(result.centers);
  result.loss =
      objective(samples, weights, table, settings.quantizer.rank, settings.quantizer.n_threads).mean();
  return result;
}

}  // namespace detail

// Runs settings.n_epochs epochs of SQ from `initial_centers`, each epoch visiting the samples
// in the order settings.sampling draws from `random`.
//   samples          in     n x d, row-major; not copied
//   weights          in     n non-negative weights, or null for all ones
//   initial_centers  in     K x d
//   random           inout  source of the sample orders
// The schedule is used as given: resolve a data-scaled rate first with auto_learning_rate.
// Throws std::invalid_argument on mismatched shapes or invalid settings (see `run`).
template <class T>
FitResult<T> fit(const SamplesView<T>& samples, const detail::NonDeducedT<T>* weights,
                 const Eigen::Ref<const detail::NonDeducedT<RowMatrix<T>>>& initial_centers,
                 const FitSettings& settings, Random& random) {
  std::vector<std::int64_t> order;
  return detail::fit_epochs<T>(samples, weights, initial_centers, settings,
                               [&](Index) -> const std::vector<std::int64_t>& {
                                 order = epoch_order<T>(settings.sampling, random, samples.rows(), weights);
                                 return order;
                               });
}

// Runs settings.n_epochs epochs of SQ from `initial_centers`, each epoch visiting
// samples[order[0]], samples[order[1]], ...; settings.sampling is not used.
//   order  in  sample indices in [0, n); throws std::invalid_argument on an index outside
template <class T>
FitResult<T> fit(const SamplesView<T>& samples, const detail::NonDeducedT<T>* weights,
                 const Eigen::Ref<const detail::NonDeducedT<RowMatrix<T>>>& initial_centers,
                 const FitSettings& settings, const std::vector<std::int64_t>& order) {
  return detail::fit_epochs<T>(samples, weights, initial_centers, settings,
                               [&](Index) -> const std::vector<std::int64_t>& { return order; });
}

}  // namespace sq
