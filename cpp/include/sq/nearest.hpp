// Nearest centre of one sample and of a batch of samples.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "distance.hpp"
#include "parallel.hpp"

namespace sq {

// The centres in the layouts the kernels read, kept in step with the centres as they move.
//
// `transposed` (d x K) puts one coordinate of all centres in a row, so the per-sample kernel
// vectorises across centres. `shifted` (K x d) holds the centres minus `origin`, the mean of the
// centres when the table was built, with their squared norms; the batched kernel expands
// ||x - c||^2 = ||x - o||^2 - 2 (x - o).(c - o) + ||c - o||^2 around that origin, which keeps
// float32 accurate for data far from the coordinate origin.
template <class T>
class CenterTable {
 public:
  CenterTable() = default;

  explicit CenterTable(const Eigen::Ref<const RowMatrix<T>>& centers) { reset(centers); }

  void reset(const Eigen::Ref<const RowMatrix<T>>& centers) {
    if (centers.rows() < 1 || centers.cols() < 1) {
      throw std::invalid_argument("centers must have at least one row and one column, got " +
                                  std::to_string(centers.rows()) + " x " +
                                  std::to_string(centers.cols()));
    }
    origin_ = centers.colwise().mean().transpose();
    transposed_ = centers.transpose();
    shifted_ = centers.rowwise() - origin_.transpose();
    shifted_norms_ = shifted_.rowwise().squaredNorm();
  }

  // Refresh every layout after centre k moved to `center` (d values).
  void update_row(Index k, const T* center) {
    for (Index j = 0; j < n_features(); ++j) {
      transposed_(j, k) = center[j];
      shifted_(k, j) = center[j] - origin_[j];
    }
    shifted_norms_[k] = shifted_.row(k).squaredNorm();
  }

  Index n_clusters() const { return transposed_.cols(); }
  Index n_features() const { return transposed_.rows(); }
  const RowMatrix<T>& transposed() const { return transposed_; }
  const RowMatrix<T>& shifted() const { return shifted_; }
  const Vector<T>& shifted_norms() const { return shifted_norms_; }
  const Vector<T>& origin() const { return origin_; }

 private:
  Vector<T> origin_;
  RowMatrix<T> transposed_;
  RowMatrix<T> shifted_;
  Vector<T> shifted_norms_;
};

// Index of the smallest value; ties go to the lowest index.
template <class Values>
Index argmin_first(const Values& values) {
  Index best = 0;
  for (Index k = 1; k < values.size(); ++k) {
    if (values[k] < values[best]) best = k;
  }
  return best;
}

// Nearest centre of one sample by direct differences, vectorised across centres.
//   sample      in   d values
//   distances   out  scratch of K values (squared distances to every centre)
// Returns the index of the nearest centre (lowest index on ties).
template <class T>
Index nearest_center(const CenterTable<T>& table, const T* sample, Vector<T>& distances) {
  const auto& transposed = table.transposed();
  distances = (transposed.row(0).array() - sample[0]).square().transpose();
  for (Index j = 1; j < table.n_features(); ++j) {
    distances.array() += (transposed.row(j).array() - sample[j]).square().transpose();
  }
  return argmin_first(distances);
}

// The batched kernel uses the norm expansion (one GEMM per block) from this many features on;
// below it, direct differences are as fast and exact.
inline constexpr Index expansion_min_features = 16;

// Nearest centres of rows [begin, end) of `samples`.
//   labels             out  end - begin indices
//   squared_distances  out  end - begin exact squared distances to the chosen centre
template <class T>
void assign_rows(const SamplesView<T>& samples, const CenterTable<T>& table, Index begin, Index end,
                 std::int64_t* labels, T* squared_distances) {
  const Index n_features = table.n_features();
  if (n_features < expansion_min_features) {
    Vector<T> distances(table.n_clusters());
    for (Index i = begin; i < end; ++i) {
      const T* sample = samples.row(i).data();
      const Index k = nearest_center(table, sample, distances);
      labels[i - begin] = k;
      squared_distances[i - begin] = distances[k];
    }
    return;
  }

  // ||x - c||^2 - ||x - o||^2 = ||c - o||^2 - 2 (x - o).(c - o); the dropped term is the same
  // for every centre, so the argmin is unchanged.
  const RowMatrix<T> shifted_samples =
      samples.middleRows(begin, end - begin).rowwise() - table.origin().transpose();
  RowMatrix<T> scores = shifted_samples * table.shifted().transpose();
  scores = (-2 * scores).rowwise() + table.shifted_norms().transpose();

  // Argmin per row, then the exact distance to the chosen centre by direct differences.
  for (Index i = begin; i < end; ++i) {
    const Index k = argmin_first(scores.row(i - begin));
    labels[i - begin] = k;
    const Vector<T> center = table.shifted().row(k).transpose() + table.origin();
    squared_distances[i - begin] = squared_distance(samples.row(i).data(), center.data(), n_features);
  }
}

// Nearest centre of every sample, split over threads in fixed blocks of rows.
//   samples            in   n x d, finite (not checked)
//   table              in   the K centres, built from a K x d matrix
//   labels             out  n indices in [0, K), the lowest index on ties
//   squared_distances  out  n squared distances
//   n_threads          < 1 means all cores; the output does not depend on it
// Throws std::invalid_argument when samples and centres differ in d.
template <class T>
void assign(const SamplesView<T>& samples, const CenterTable<T>& table, std::int64_t* labels,
            T* squared_distances, int n_threads) {
  if (samples.cols() != table.n_features()) {
    throw std::invalid_argument("samples have " + std::to_string(samples.cols()) +
                                " features but the centres have " +
                                std::to_string(table.n_features()));
  }
  const Index n_samples = samples.rows();
  parallel_for(count_blocks(n_samples), n_threads, [&](Index block) {
    const Index begin = block * block_rows;
    const Index end = std::min(n_samples, begin + block_rows);
    assign_rows(samples, table, begin, end, labels + begin, squared_distances + begin);
  });
}

// Weighted loss sum_i w_i min_k ||xi_i - y_k||^r and the weight total sum_i w_i (w_i = 1 when
// `weights` is null). Partial sums are kept per block and added in block order, so the result
// does not depend on the thread count.
struct LossTotals {
  double loss_sum = 0.0;
  double weight_sum = 0.0;
  double mean() const { return weight_sum > 0.0 ? loss_sum / weight_sum : 0.0; }
};

//   samples    in  n x d, with the same d as the centres (not checked)
//   weights    in  n non-negative weights, or null for all ones
//   rank       r >= 1 of the loss ||xi - y||^r
//   n_threads  < 1 means all cores
template <class T>
LossTotals objective(const SamplesView<T>& samples, const T* weights, const CenterTable<T>& table,
                     double rank, int n_threads) {
  const Index n_samples = samples.rows();
  const Index n_blocks = count_blocks(n_samples);
  std::vector<LossTotals> partial(static_cast<std::size_t>(n_blocks));
  parallel_for(n_blocks, n_threads, [&](Index block) {
    const Index begin = block * block_rows;
    const Index end = std::min(n_samples, begin + block_rows);
    std::int64_t labels[block_rows];
    T squared_distances[block_rows];
    assign_rows(samples, table, begin, end, labels, squared_distances);

    LossTotals& totals = partial[static_cast<std::size_t>(block)];
    for (Index i = begin; i < end; ++i) {
      const double weight = weights ? static_cast<double>(weights[i]) : 1.0;
      totals.loss_sum += weight * rank_loss(squared_distances[i - begin], rank);
      totals.weight_sum += weight;
    }
  });

  LossTotals totals;
  for (const LossTotals& block : partial) {
    totals.loss_sum += block.loss_sum;
    totals.weight_sum += block.weight_sum;
  }
  return totals;
}

}  // namespace sq
