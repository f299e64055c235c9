// Nearest centre of one sample and of a batch of samples.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "distance.hpp"
#include "parallel.hpp"
#include "simd.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace sq {

// The centres in the layouts the kernels read, kept in step with the centres as they move.
//
// Three layouts, all padded to a whole number of column blocks (two 256-bit vectors of
// centres):
//   transposed          d x padded: one coordinate of every centre in a row, so the per-sample
//                       kernel puts one coordinate of 8 (float) or 4 (double) centres in a
//                       vector register; padding centres sit at +infinity, so they are never
//                       the nearest
//   shifted_transposed  d x padded: the centres minus `origin`, the mean of the centres when the
//                       table was built; padding is 0
//   shifted_norms       padded squared norms of the shifted centres; padding is +infinity
// The expansion kernel ranks centres by ||c - o||^2 - 2 (x - o).(c - o), which equals
// ||x - c||^2 - ||x - o||^2. Shifting by o keeps float32 accurate for data far from the
// coordinate origin (coordinates near 4e6 with clusters a few units apart).
template <class T>
class CenterTable {
 public:
  // Centres per column block of the kernels.
  static constexpr Index block_width = 64 / static_cast<Index>(sizeof(T));

  CenterTable() = default;

  explicit CenterTable(const Eigen::Ref<const RowMatrix<T>>& centers) { reset(centers); }

  void reset(const Eigen::Ref<const RowMatrix<T>>& centers) {
    if (centers.rows() < 1 || centers.cols() < 1) {
      throw std::invalid_argument("centers must have at least one row and one column, got " +
                                  std::to_string(centers.rows()) + " x " + std::to_string(centers.cols()));
    }
    n_clusters_ = centers.rows();
    n_features_ = centers.cols();
    padded_ = (n_clusters_ + block_width - 1) / block_width * block_width;
    centers_ = centers;
    origin_.assign(static_cast<std::size_t>(n_features_), T(0));
    for (Index j = 0; j < n_features_; ++j) {
      double sum = 0.0;
      for (Index k = 0; k < n_clusters_; ++k) sum += static_cast<double>(centers(k, j));
      origin_[j] = static_cast<T>(sum / static_cast<double>(n_clusters_));
    }
    const T infinity = std::numeric_limits<T>::infinity();
    transposed_.assign(static_cast<std::size_t>(n_features_ * padded_), infinity);
    shifted_transposed_.assign(static_cast<std::size_t>(n_features_ * padded_), T(0));
    shifted_norms_.assign(static_cast<std::size_t>(padded_), infinity);
    for (Index k = 0; k < n_clusters_; ++k) update_row(k, centers_.row(k).data());
  }

  // Refresh every layout after centre k moved to `center` (d values).
  void update_row(Index k, const T* center) {
    update_transposed(k, center);
    double norm = 0.0;
    for (Index j = 0; j < n_features_; ++j) {
      const T shifted = center[j] - origin_[j];
      shifted_transposed_[j * padded_ + k] = shifted;
      norm += static_cast<double>(shifted) * static_cast<double>(shifted);
    }
    shifted_norms_[k] = static_cast<T>(norm);
  }

  // Refresh only the layouts the per-sample kernel reads (centres and `transposed`). The
  // expansion layouts are then stale until the next reset(), so only nearest_center() may be
  // called in between: the per-sample SQ loop uses this to keep each step O(d).
  void update_transposed(Index k, const T* center) {
    T* row = centers_.row(k).data();
    for (Index j = 0; j < n_features_; ++j) row[j] = center[j];
#if SQ_SIMD
    // Rewrite whole vectors: the next sample loads exactly these vectors, and a vector load
    // that overlaps a recent scalar store cannot be forwarded from the store buffer, which
    // would stall every step of the per-sample loop.
    using Lanes = simd::Lanes<T>;
    using LaneIndex = decltype(Lanes{}[0] + 0);
    constexpr Index width = simd::Traits<T>::width;
    const Index base = k / width * width;
    const Lanes here = simd::lane_ids<T>() == static_cast<LaneIndex>(k - base);
    for (Index j = 0; j < n_features_; ++j) {
      T* slot = transposed_.data() + j * padded_ + base;
      const simd::Vec<T> old = simd::load(slot);
      simd::store(slot, here ? simd::broadcast(center[j]) : old);
    }
#else
    for (Index j = 0; j < n_features_; ++j) transposed_[j * padded_ + k] = center[j];
#endif
  }

  Index n_clusters() const { return n_clusters_; }
  Index n_features() const { return n_features_; }
  Index padded_clusters() const { return padded_; }
  const T* center(Index k) const { return centers_.row(k).data(); }
  const T* transposed() const { return transposed_.data(); }
  const T* shifted_transposed() const { return shifted_transposed_.data(); }
  const T* shifted_norms() const { return shifted_norms_.data(); }
  const T* origin() const { return origin_.data(); }

 private:
  Index n_clusters_ = 0;
  Index n_features_ = 0;
  Index padded_ = 0;
  RowMatrix<T> centers_;
  std::vector<T> origin_;
  std::vector<T> transposed_;
  std::vector<T> shifted_transposed_;
  std::vector<T> shifted_norms_;
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

namespace detail {

// Smallest of `count` (value, index) lanes, the lowest index on ties: the same choice as a scan
// over the centres in increasing order with a strict "<".
template <class T, class IndexType>
Index reduce_lanes(const T* values, const IndexType* indices, Index count, T& best_value) {
  Index best = static_cast<Index>(indices[0]);
  best_value = values[0];
  for (Index lane = 1; lane < count; ++lane) {
    const Index index = static_cast<Index>(indices[lane]);
    if (values[lane] < best_value || (values[lane] == best_value && index < best)) {
      best = index;
      best_value = values[lane];
    }
  }
  return best;
}

#if SQ_SIMD
// reduce_lanes over `count` vectors of lanes. With AVX2 the common case (one lane holds the
// minimum) is found without branches on the data: a branch per lane mispredicts on random data
// and would cost more than the distances themselves in the per-sample SQ loop.
template <class T>
SQ_INLINE Index reduce_vectors(const simd::Vec<T>* values, const simd::Lanes<T>* indices, int count,
                               T& best_value) {
  constexpr Index width = simd::Traits<T>::width;
#if defined(__AVX2__)
  simd::Vec<T> low = values[0];
  for (int v = 1; v < count; ++v) low = values[v] < low ? values[v] : low;
  int mask = 0;
  if constexpr (sizeof(T) == 4) {
    __m256 m = reinterpret_cast<__m256>(low);
    m = _mm256_min_ps(m, _mm256_permute2f128_ps(m, m, 1));
    m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm256_min_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
    for (int v = 0; v < count; ++v) {
      mask |= _mm256_movemask_ps(_mm256_cmp_ps(reinterpret_cast<__m256>(values[v]), m, _CMP_EQ_OQ))
              << (v * width);
    }
  } else {
    __m256d m = reinterpret_cast<__m256d>(low);
    m = _mm256_min_pd(m, _mm256_permute2f128_pd(m, m, 1));
    m = _mm256_min_pd(m, _mm256_shuffle_pd(m, m, 0x5));
    for (int v = 0; v < count; ++v) {
      mask |= _mm256_movemask_pd(_mm256_cmp_pd(reinterpret_cast<__m256d>(values[v]), m, _CMP_EQ_OQ))
              << (v * width);
    }
  }
  // Exactly one lane at the minimum: no tie to break by index.
  if (mask != 0 && (mask & (mask - 1)) == 0) {
    const int lane = __builtin_ctz(static_cast<unsigned>(mask));
    best_value = values[lane / width][lane % width];
    return static_cast<Index>(indices[lane / width][lane % width]);
  }
#endif
  T lane_values[4 * width];
  decltype(indices[0][0] + 0) lane_indices[4 * width];
  std::memcpy(lane_values, values, static_cast<std::size_t>(count) * sizeof(simd::Vec<T>));
  std::memcpy(lane_indices, indices, static_cast<std::size_t>(count) * sizeof(simd::Lanes<T>));
  return reduce_lanes(lane_values, lane_indices, count * width, best_value);
}
#endif

#if SQ_SIMD
// One pass of nearest_center() over `vectors` vectors of centres starting at column `base`.
template <class T, int vectors>
SQ_INLINE void nearest_pass(const T* column, Index padded, Index n_features, const T* sample, Index base,
                            const simd::Lanes<T>& ids, simd::Vec<T>& best_values,
                            simd::Lanes<T>& best_indices) {
  using Vec = simd::Vec<T>;
  using Lanes = simd::Lanes<T>;
  using LaneIndex = decltype(Lanes{}[0] + 0);
  constexpr Index width = simd::Traits<T>::width;
  Vec sums[vectors];
  for (int v = 0; v < vectors; ++v) {
    const Vec diff = simd::load(column + v * width) - sample[0];
    sums[v] = diff * diff;
  }
  for (Index j = 1; j < n_features; ++j) {
    column += padded;
    for (int v = 0; v < vectors; ++v) {
      const Vec diff = simd::load(column + v * width) - sample[j];
      sums[v] += diff * diff;
    }
  }
  // In increasing centre order with a strict "<", so each lane keeps its lowest index on ties.
  for (int v = 0; v < vectors; ++v) {
    const Lanes less = sums[v] < best_values;
    best_values = less ? sums[v] : best_values;
    best_indices = less ? ids + static_cast<LaneIndex>(base + v * width) : best_indices;
  }
}
#endif

}  // namespace detail

// Nearest centre of one sample by direct differences, vectorised across centres.
//   sample            in   d values
//   squared_distance  out  squared distance to the returned centre
// Returns the index of the nearest centre (lowest index on ties). Reads only the layouts that
// update_transposed() keeps current.
template <class T>
SQ_INLINE Index nearest_center(const CenterTable<T>& table, const T* sample, T& squared_distance) {
  const Index n_features = table.n_features();
  const Index padded = table.padded_clusters();
  const T* transposed = table.transposed();
#if SQ_SIMD
  using Vec = simd::Vec<T>;
  using Lanes = simd::Lanes<T>;
  constexpr Index width = simd::Traits<T>::width;
  const Lanes ids = simd::lane_ids<T>();
  Vec best_values = simd::broadcast(std::numeric_limits<T>::infinity());
  Lanes best_indices = ids;
  // Up to 8 vectors of centres per pass (the table is padded to 2): 8 independent chains of
  // FMAs over the features keep both FMA pipes busy, where one chain would wait 4 cycles per
  // feature on the previous FMA.
  Index base = 0;
  for (; base + 8 * width <= padded; base += 8 * width) {
    detail::nearest_pass<T, 8>(transposed + base, padded, n_features, sample, base, ids, best_values,
                               best_indices);
  }
  if (base + 4 * width <= padded) {
    detail::nearest_pass<T, 4>(transposed + base, padded, n_features, sample, base, ids, best_values,
                               best_indices);
    base += 4 * width;
  }
  if (base < padded) {
    detail::nearest_pass<T, 2>(transposed + base, padded, n_features, sample, base, ids, best_values,
                               best_indices);
  }
  Index best = detail::reduce_vectors<T>(&best_values, &best_indices, 1, squared_distance);
#else
  Index best = 0;
  squared_distance = std::numeric_limits<T>::infinity();
  for (Index k = 0; k < table.n_clusters(); ++k) {
    T sum = 0;
    for (Index j = 0; j < n_features; ++j) {
      const T diff = transposed[j * padded + k] - sample[j];
      sum += diff * diff;
    }
    if (sum < squared_distance) {
      squared_distance = sum;
      best = k;
    }
  }
#endif
  // Only reachable with non-finite centres; keeps the label a valid index.
  if (best >= table.n_clusters()) best = 0;
  return best;
}

// Nearest centre of one sample, also writing its squared distance to every centre.
//   distances  out  K values
template <class T>
Index nearest_center(const CenterTable<T>& table, const T* sample, Vector<T>& distances) {
  distances.resize(table.n_clusters());
  for (Index k = 0; k < table.n_clusters(); ++k) {
    distances[k] = squared_distance(sample, table.center(k), table.n_features());
  }
  return argmin_first(distances);
}

// The batched kernel uses the norm expansion (register-blocked dot products) from this many
// features on; below it, direct differences are as fast and exact.
inline constexpr Index expansion_min_features = 16;

namespace detail {

// Nearest centres of rows [begin, end) by direct differences, vectorised across samples: one
// vector register holds one coordinate of 8 (float) or 4 (double) samples, and the centres are
// visited in increasing order with a strict "<", so ties go to the lowest index.
template <class T>
void assign_rows_direct(const SamplesView<T>& samples, const CenterTable<T>& table, Index begin, Index end,
                        std::int64_t* labels, T* squared_distances) {
  const Index n_features = table.n_features();
  const Index n_clusters = table.n_clusters();
  Index i = begin;
#if SQ_SIMD
  using Vec = simd::Vec<T>;
  using Lanes = simd::Lanes<T>;
  using LaneIndex = decltype(Lanes{}[0] + 0);
  constexpr Index width = simd::Traits<T>::width;
  Vec coordinates[expansion_min_features];
  T gathered[width];
  for (; i + width <= end; i += width) {
    for (Index j = 0; j < n_features; ++j) {
      for (Index lane = 0; lane < width; ++lane) gathered[lane] = samples(i + lane, j);
      coordinates[j] = simd::load(gathered);
    }
    Vec best_values = simd::broadcast(std::numeric_limits<T>::infinity());
    Lanes best_indices{};
    for (Index k = 0; k < n_clusters; ++k) {
      const T* center = table.center(k);
      Vec diff = coordinates[0] - center[0];
      Vec sum = diff * diff;
      for (Index j = 1; j < n_features; ++j) {
        diff = coordinates[j] - center[j];
        sum += diff * diff;
      }
      const Lanes less = sum < best_values;
      best_values = less ? sum : best_values;
      best_indices = less ? Lanes{} + static_cast<LaneIndex>(k) : best_indices;
    }
    for (Index lane = 0; lane < width; ++lane) {
      labels[i - begin + lane] = static_cast<std::int64_t>(best_indices[lane]);
      squared_distances[i - begin + lane] = best_values[lane];
    }
  }
#endif
  for (; i < end; ++i) {
    T distance;
    labels[i - begin] = nearest_center(table, samples.row(i).data(), distance);
    squared_distances[i - begin] = distance;
  }
}

#if SQ_SIMD
// Best (score, index) per lane of `rows` shifted samples over all centre blocks: a register
// tile of rows x (2 vectors of centres) accumulates the dot products over d, then
// score = ||c - o||^2 - 2 (x - o).(c - o) is compared with the running best in place.
//   shifted  in  rows x d samples minus the origin, row-major
template <class T, int rows>
void expansion_tile(const CenterTable<T>& table, const T* shifted, Index n_features,
                    simd::Vec<T>* best_values, simd::Lanes<T>* best_indices) {
  using Vec = simd::Vec<T>;
  using Lanes = simd::Lanes<T>;
  using LaneIndex = decltype(Lanes{}[0] + 0);
  constexpr Index width = simd::Traits<T>::width;
  const Index padded = table.padded_clusters();
  const T* columns = table.shifted_transposed();
  const T* norms = table.shifted_norms();
  const Lanes ids = simd::lane_ids<T>();
  for (int r = 0; r < 2 * rows; ++r) {
    best_values[r] = simd::broadcast(std::numeric_limits<T>::infinity());
    best_indices[r] = ids + static_cast<LaneIndex>((r % 2) * width);
  }
  for (Index base = 0; base < padded; base += 2 * width) {
    Vec low[rows];
    Vec high[rows];
    for (int r = 0; r < rows; ++r) {
      low[r] = Vec{};
      high[r] = Vec{};
    }
    const T* column = columns + base;
    for (Index j = 0; j < n_features; ++j, column += padded) {
      const Vec c0 = simd::load(column);
      const Vec c1 = simd::load(column + width);
      for (int r = 0; r < rows; ++r) {
        const Vec x = simd::broadcast(shifted[r * n_features + j]);
        low[r] += x * c0;
        high[r] += x * c1;
      }
    }
    const Vec norm0 = simd::load(norms + base);
    const Vec norm1 = simd::load(norms + base + width);
    const Lanes index0 = ids + static_cast<LaneIndex>(base);
    const Lanes index1 = index0 + static_cast<LaneIndex>(width);
    for (int r = 0; r < rows; ++r) {
      const Vec score0 = norm0 - T(2) * low[r];
      const Vec score1 = norm1 - T(2) * high[r];
      const Lanes less0 = score0 < best_values[2 * r];
      const Lanes less1 = score1 < best_values[2 * r + 1];
      best_values[2 * r] = less0 ? score0 : best_values[2 * r];
      best_indices[2 * r] = less0 ? index0 : best_indices[2 * r];
      best_values[2 * r + 1] = less1 ? score1 : best_values[2 * r + 1];
      best_indices[2 * r + 1] = less1 ? index1 : best_indices[2 * r + 1];
    }
  }
}
#endif

// Nearest centres of rows [begin, end) (at most block_rows of them) by the norm expansion
// around the table's origin, then the exact squared distance to the chosen centre by direct
// differences.
template <class T>
void assign_rows_expansion(const SamplesView<T>& samples, const CenterTable<T>& table, Index begin, Index end,
                           std::int64_t* labels, T* squared_distances) {
  const Index n_features = table.n_features();
  const Index n_rows = end - begin;
  const T* origin = table.origin();
  std::vector<T> shifted(static_cast<std::size_t>(n_rows * n_features));
  for (Index i = 0; i < n_rows; ++i) {
    const T* sample = samples.row(begin + i).data();
    for (Index j = 0; j < n_features; ++j) shifted[i * n_features + j] = sample[j] - origin[j];
  }

  Index i = 0;
#if SQ_SIMD
  using Vec = simd::Vec<T>;
  using Lanes = simd::Lanes<T>;
  using LaneIndex = decltype(Lanes{}[0] + 0);
  constexpr Index width = simd::Traits<T>::width;
#if defined(__AVX__)
  // 12 accumulators, 2 centre vectors and a broadcast fill the 16 AVX registers and give
  // enough independent FMAs to hide their latency.
  constexpr int tile_rows = 6;
#else
  // Without AVX each 256-bit vector takes two of the 16 SSE registers.
  constexpr int tile_rows = 2;
#endif
  Vec best_values[2 * tile_rows];
  Lanes best_indices[2 * tile_rows];
  auto finish_row = [&](Index row, int r) {
    T score;
    Index k = reduce_vectors<T>(best_values + 2 * r, best_indices + 2 * r, 2, score);
    if (k >= table.n_clusters()) k = 0;  // only with non-finite centres
    labels[row] = k;
  };
  for (; i + tile_rows <= n_rows; i += tile_rows) {
    expansion_tile<T, tile_rows>(table, shifted.data() + i * n_features, n_features, best_values,
                                 best_indices);
    for (int r = 0; r < tile_rows; ++r) finish_row(i + r, r);
  }
  for (; tile_rows > 2 && i + 2 <= n_rows; i += 2) {
    expansion_tile<T, 2>(table, shifted.data() + i * n_features, n_features, best_values, best_indices);
    for (int r = 0; r < 2; ++r) finish_row(i + r, r);
  }
  for (; i < n_rows; ++i) {
    expansion_tile<T, 1>(table, shifted.data() + i * n_features, n_features, best_values, best_indices);
    finish_row(i, 0);
  }
#else
  for (; i < n_rows; ++i) {
    Index best = 0;
    T best_score = std::numeric_limits<T>::infinity();
    for (Index k = 0; k < table.n_clusters(); ++k) {
      T dot = 0;
      for (Index j = 0; j < n_features; ++j) {
        dot += shifted[i * n_features + j] * table.shifted_transposed()[j * table.padded_clusters() + k];
      }
      const T score = table.shifted_norms()[k] - T(2) * dot;
      if (score < best_score) {
        best_score = score;
        best = k;
      }
    }
    labels[i] = best;
  }
#endif
  for (i = 0; i < n_rows; ++i) {
    squared_distances[i] =
        squared_distance(samples.row(begin + i).data(), table.center(labels[i]), n_features);
  }
}

}  // namespace detail

// Nearest centres of rows [begin, end) of `samples`.
//   labels             out  end - begin indices
//   squared_distances  out  end - begin exact squared distances to the chosen centre
template <class T>
void assign_rows(const SamplesView<T>& samples, const CenterTable<T>& table, Index begin, Index end,
                 std::int64_t* labels, T* squared_distances) {
  if (table.n_features() < expansion_min_features) {
    detail::assign_rows_direct(samples, table, begin, end, labels, squared_distances);
  } else {
    detail::assign_rows_expansion(samples, table, begin, end, labels, squared_distances);
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
                                " features but the centres have " + std::to_string(table.n_features()));
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
