// Squared Euclidean distances, the r-th power loss and its gradient for one sample.
#pragma once

#include <Eigen/Core>
#include <cmath>

#include "parallel.hpp"

namespace sq {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

// Read-only view of n samples with d features, row-major (C order), as NumPy hands them over.
template <class T>
using SamplesView = Eigen::Map<const RowMatrix<T>>;
// Writable view of K centres with d features, row-major.
template <class T>
using CentersView = Eigen::Map<RowMatrix<T>>;

// ||a - b||^2 by direct differences. Unlike the norm expansion ||a||^2 - 2 a.b + ||b||^2 it
// loses no precision when both points lie far from the origin.
template <class T>
T squared_distance(const T* a, const T* b, Index n_features) {
  T sum = 0;
  for (Index j = 0; j < n_features; ++j) {
    const T diff = a[j] - b[j];
    sum += diff * diff;
  }
  return sum;
}

// ||xi - y||^r from the squared distance, computed in double so float32 input cannot overflow
// for r > 2.
inline double rank_loss(double squared_distance, double rank) {
  if (rank == 2.0) return squared_distance;
  if (squared_distance <= 0.0) return 0.0;
  return std::pow(squared_distance, 0.5 * rank);
}

// The factor s in the gradient g = s * (y - xi) of ||xi - y||^r, namely r * ||xi - y||^(r-2).
// It is 0 when xi == y: the generalized gradient of the norm there may be taken as 0, and this
// keeps ranks in [1, 2) free of 0 * inf.
inline double gradient_scale(double squared_distance, double rank) {
  if (squared_distance <= 0.0) return 0.0;
  if (rank == 2.0) return 2.0;
  return rank * std::pow(squared_distance, 0.5 * (rank - 2.0));
}

}  // namespace sq
