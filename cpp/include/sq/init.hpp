// Initial centres: greedy k-means++.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "distance.hpp"
#include "parallel.hpp"
#include "simd.hpp"

namespace sq {

// Number of candidates greedy k-means++ draws per centre: 2 + floor(ln k), as in scikit-learn.
// Assumes n_clusters >= 1.
inline Index default_local_trials(Index n_clusters) {
  return 2 + static_cast<Index>(std::floor(std::log(static_cast<double>(n_clusters))));
}

namespace detail {

// Smallest i with cumulative[i] > target, clamped to the last index so that rounding in the
// running sum (target equal to the total, or above it) can never select past the end.
inline Index search_cumulative(const std::vector<double>& cumulative, double target) {
  const auto found = std::upper_bound(cumulative.begin(), cumulative.end(), target);
  const Index index = static_cast<Index>(found - cumulative.begin());
  return std::min<Index>(index, static_cast<Index>(cumulative.size()) - 1);
}

// cumulative[i] = sum_{j <= i} w_j * values_j (w_j = 1 when weights is null).
template <class T>
void cumulative_weighted(const std::vector<double>& values, const T* weights,
                         std::vector<double>& cumulative) {
  double running = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    running += (weights ? static_cast<double>(weights[i]) : 1.0) * values[i];
    cumulative[i] = running;
  }
}

// Row stride of a transposed block: block_rows plus one cache line, so the d columns written
// for one sample do not all fall into the same few L1 cache sets.
inline constexpr Index column_stride = block_rows + 16;

// Rows [begin, end) of the samples, transposed into `columns` (d x rows, row stride
// column_stride) so the distance loops below run over contiguous rows and vectorise across
// samples.
template <class T>
void transpose_block(const SamplesView<T>& samples, Index begin, Index end, T* columns) {
  const Index n_features = samples.cols();
  for (Index i = begin; i < end; ++i) {
    const T* sample = samples.row(i).data();
    for (Index j = 0; j < n_features; ++j) columns[j * column_stride + (i - begin)] = sample[j];
  }
}

// distances[r] = ||row r - point||^2 for the `rows` transposed rows of `columns`, summed over
// the features in order (the arithmetic of squared_distance()).
template <class T>
void block_distances(const T* columns, Index rows, Index n_features, const T* point, T* distances) {
  for (Index r = 0; r < rows; ++r) distances[r] = T(0);
  for (Index j = 0; j < n_features; ++j) {
    const T* column = columns + j * column_stride;
    const T coordinate = point[j];
    for (Index r = 0; r < rows; ++r) {
      const T diff = column[r] - coordinate;
      distances[r] += diff * diff;
    }
  }
}

}  // namespace detail

// Greedy k-means++ (Arthur and Vassilvitskii 2007, with the local trials of scikit-learn).
//
// The first centre is drawn with probability proportional to its weight. Each later centre is
// the best of `n_local_trials` candidates drawn with probability proportional to w_i * D_i^2,
// where D_i is the distance to the nearest centre chosen so far: the candidate that most
// lowers sum_i w_i D_i^2 wins (the first one on ties).
//   samples         in  n x d, finite (not checked)
//   weights         in  n non-negative weights with a positive sum, or null for all ones (not
//                       checked)
//   n_clusters      K, in [1, n]
//   uniforms        in  1 + (n_clusters - 1) * n_local_trials draws from U[0, 1), consumed in
//                       order; drawing them in the caller keeps the result reproducible by a
//                       reference implementation
//   n_local_trials  candidates per centre after the first, >= 1 (see default_local_trials)
//   n_threads       threads for the distance updates; < 1 means all cores. The result does
//                   not depend on it.
//   check_interrupt  called once per chosen centre; it may throw to abandon the draw
// Returns the K row indices of the chosen centres, in the order chosen.
// Throws std::invalid_argument when K is outside [1, n], n_local_trials < 1 or n_uniforms is
// not 1 + (K - 1) * n_local_trials.
template <class T>
std::vector<Index> kmeans_plusplus(const SamplesView<T>& samples, const T* weights, Index n_clusters,
                                   const double* uniforms, Index n_uniforms, Index n_local_trials,
                                   int n_threads, const std::function<void()>& check_interrupt = {}) {
  const Index n_samples = samples.rows();
  const Index n_features = samples.cols();
  if (n_clusters < 1 || n_clusters > n_samples) {
    throw std::invalid_argument("n_clusters must be in [1, n_samples=" + std::to_string(n_samples) +
                                "], got " + std::to_string(n_clusters));
  }
  if (n_local_trials < 1) {
    throw std::invalid_argument("n_local_trials must be >= 1, got " + std::to_string(n_local_trials));
  }
  if (n_uniforms != 1 + (n_clusters - 1) * n_local_trials) {
    throw std::invalid_argument("kmeans_plusplus needs 1 + (n_clusters - 1) * n_local_trials = " +
                                std::to_string(1 + (n_clusters - 1) * n_local_trials) + " uniforms, got " +
                                std::to_string(n_uniforms));
  }

  std::vector<Index> chosen;
  chosen.reserve(static_cast<std::size_t>(n_clusters));
  std::vector<double> cumulative(static_cast<std::size_t>(n_samples));

  // First centre: proportional to the weights alone.
  std::vector<double> closest(static_cast<std::size_t>(n_samples), 1.0);
  detail::cumulative_weighted(closest, weights, cumulative);
  chosen.push_back(detail::search_cumulative(cumulative, uniforms[0] * cumulative.back()));

  // closest[i] = squared distance of sample i to its nearest chosen centre.
  const T* first = samples.row(chosen[0]).data();
  parallel_for(count_blocks(n_samples), n_threads, [&](Index block) {
    const Index end = std::min(n_samples, (block + 1) * block_rows);
    for (Index i = block * block_rows; i < end; ++i) {
      closest[i] = squared_distance(samples.row(i).data(), first, n_features);
    }
  });

  const Index n_blocks = count_blocks(n_samples);
  std::vector<double> block_potential(static_cast<std::size_t>(n_blocks * n_local_trials));
  std::vector<const T*> candidate_rows(static_cast<std::size_t>(n_local_trials));
  const double* draw = uniforms + 1;
  for (Index c = 1; c < n_clusters; ++c) {
    if (check_interrupt) check_interrupt();

    // Draw candidates proportionally to w_i * D_i^2.
    detail::cumulative_weighted(closest, weights, cumulative);
    std::vector<Index> candidates(static_cast<std::size_t>(n_local_trials));
    for (Index t = 0; t < n_local_trials; ++t) {
      candidates[t] = detail::search_cumulative(cumulative, (*draw++) * cumulative.back());
      candidate_rows[t] = samples.row(candidates[t]).data();
    }

    // Potential of each candidate: sum_i w_i min(D_i^2, ||xi_i - candidate||^2), summed per
    // block and then in block order so the thread count cannot change the choice. Each sample
    // is read once for all candidates.
    parallel_for(n_blocks, n_threads, [&](Index block) {
      const Index begin = block * block_rows;
      const Index rows = std::min(n_samples, begin + block_rows) - begin;
      std::vector<T> columns(static_cast<std::size_t>(n_features * detail::column_stride));
      T distances[block_rows];
      detail::transpose_block(samples, begin, begin + rows, columns.data());
      for (Index t = 0; t < n_local_trials; ++t) {
        detail::block_distances(columns.data(), rows, n_features, candidate_rows[t], distances);
        // Four running sums, added in a fixed order, break the chain of dependent additions.
        double sums[4] = {0.0, 0.0, 0.0, 0.0};
        for (Index r = 0; r < rows; ++r) {
          const double weight = weights ? static_cast<double>(weights[begin + r]) : 1.0;
          sums[r % 4] += weight * std::min(closest[begin + r], static_cast<double>(distances[r]));
        }
        block_potential[block * n_local_trials + t] = (sums[0] + sums[1]) + (sums[2] + sums[3]);
      }
    });

    Index best = 0;
    double best_potential = 0.0;
    for (Index t = 0; t < n_local_trials; ++t) {
      double potential = 0.0;
      for (Index block = 0; block < n_blocks; ++block) {
        potential += block_potential[block * n_local_trials + t];
      }
      if (t == 0 || potential < best_potential) {
        best = t;
        best_potential = potential;
      }
    }
    chosen.push_back(candidates[best]);

    // D_i^2 with the winner added, recomputed with the same arithmetic as its potential: one
    // more distance pass costs less than storing n x n_local_trials candidate distances.
    const T* winner = candidate_rows[best];
    parallel_for(n_blocks, n_threads, [&](Index block) {
      const Index begin = block * block_rows;
      const Index rows = std::min(n_samples, begin + block_rows) - begin;
      std::vector<T> columns(static_cast<std::size_t>(n_features * detail::column_stride));
      T distances[block_rows];
      detail::transpose_block(samples, begin, begin + rows, columns.data());
      detail::block_distances(columns.data(), rows, n_features, winner, distances);
      for (Index r = 0; r < rows; ++r) {
        closest[begin + r] = std::min(closest[begin + r], static_cast<double>(distances[r]));
      }
    });
  }
  return chosen;
}

}  // namespace sq
