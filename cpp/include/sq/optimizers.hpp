// Update rules for one centre: SGD, Momentum, NAG, AdaGrad, RMSProp and Adam.
//
// Each optimizer keeps its state per centre in caller-owned K x d arrays and moves only the centre
// that received a gradient. The state of the other centres is left as it is. A centre's momentum
// or moment estimates change only when that centre moves (the "lazy" convention of sparse
// optimizers), so a centre that is never the nearest keeps its initial, finite state.
//
// Every optimizer has the same step signature:
//   step(k, center, rate, gradient, project)
//     k         centre index
//     center    inout  d values of centre k
//     rate      rho_t, the step size for this step (> 0)
//     gradient  gradient(point, out): writes the d-value gradient of the loss at `point`
//     project   project(values): clips d values onto the feasible set Y in place
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "distance.hpp"

namespace sq {

enum class OptimizerKind { sgd, momentum, nag, adagrad, rmsprop, adam };

// Parses "sgd", "momentum", "nag", "adagrad", "rmsprop" or "adam". Throws
// std::invalid_argument otherwise.
inline OptimizerKind parse_optimizer(const std::string& name) {
  if (name == "sgd") return OptimizerKind::sgd;
  if (name == "momentum") return OptimizerKind::momentum;
  if (name == "nag") return OptimizerKind::nag;
  if (name == "adagrad") return OptimizerKind::adagrad;
  if (name == "rmsprop") return OptimizerKind::rmsprop;
  if (name == "adam") return OptimizerKind::adam;
  throw std::invalid_argument(
      "optimizer must be one of 'sgd', 'momentum', 'nag', 'adagrad', "
      "'rmsprop', 'adam', got '" +
      name + "'");
}

// Hyper-parameters of all optimizers; each optimizer reads the ones it uses.
struct OptimizerParams {
  double momentum = 0.9;  // gamma of Momentum and NAG
  double beta = 0.9;      // decay of RMSProp's squared-gradient average
  double beta1 = 0.9;     // Adam's first-moment decay
  double beta2 = 0.999;   // Adam's second-moment decay
  double epsilon = 1e-8;  // added to the root of the squared-gradient sum (AdaGrad, RMSProp, Adam)
};

// Caller-owned optimizer state: `first` and `second` are K x d row-major arrays (null when the
// optimizer needs fewer), `updates` counts the moves of each centre (Adam's bias correction).
template <class T>
struct OptimizerState {
  T* first = nullptr;
  T* second = nullptr;
  std::int64_t* updates = nullptr;
  Index n_features = 0;

  T* first_row(Index k) const { return first + k * n_features; }
  T* second_row(Index k) const { return second + k * n_features; }
};

// Number of K x d state arrays each optimizer needs.
inline int state_arrays(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::sgd:
      return 0;
    case OptimizerKind::adam:
      return 2;
    default:
      return 1;
  }
}

template <class T>
class Sgd {
 public:
  Sgd(const OptimizerParams&, const OptimizerState<T>& state) : gradient_(state.n_features) {}

  template <class Gradient, class Project>
  void step(Index, T* center, double rate, Gradient&& gradient, Project&& project) {
    gradient(center, gradient_.data());
    for (Index j = 0; j < gradient_.size(); ++j) center[j] = T(center[j] - rate * gradient_[j]);
    project(center);
  }

 private:
  Vector<double> gradient_;
};

// Heavy ball: y <- P(y - rho g(y) + gamma (y - y_prev)); `first` stores y - y_prev.
template <class T>
class Momentum {
 public:
  Momentum(const OptimizerParams& params, const OptimizerState<T>& state)
      : gamma_(params.momentum), state_(state), gradient_(state.n_features), previous_(state.n_features) {}

  template <class Gradient, class Project>
  void step(Index k, T* center, double rate, Gradient&& gradient, Project&& project) {
    T* displacement = state_.first_row(k);
    gradient(center, gradient_.data());
    for (Index j = 0; j < gradient_.size(); ++j) {
      previous_[j] = center[j];
      center[j] = T(center[j] - rate * gradient_[j] + gamma_ * displacement[j]);
    }
    project(center);
    for (Index j = 0; j < gradient_.size(); ++j) displacement[j] = T(center[j] - previous_[j]);
  }

 private:
  double gamma_;
  OptimizerState<T> state_;
  Vector<double> gradient_;
  Vector<T> previous_;
};

// Nesterov in extrapolation form: z = y + gamma (y - y_prev), y <- P(z - rho g(z)).
// The nearest centre is chosen at y; only the gradient is taken at the extrapolated point z.
template <class T>
class Nesterov {
 public:
  Nesterov(const OptimizerParams& params, const OptimizerState<T>& state)
      : gamma_(params.momentum),
        state_(state),
        gradient_(state.n_features),
        previous_(state.n_features),
        lookahead_(state.n_features) {}

  template <class Gradient, class Project>
  void step(Index k, T* center, double rate, Gradient&& gradient, Project&& project) {
    T* displacement = state_.first_row(k);
    for (Index j = 0; j < gradient_.size(); ++j) {
      previous_[j] = center[j];
      lookahead_[j] = T(center[j] + gamma_ * displacement[j]);
    }
    gradient(lookahead_.data(), gradient_.data());
    for (Index j = 0; j < gradient_.size(); ++j) center[j] = T(lookahead_[j] - rate * gradient_[j]);
    project(center);
    for (Index j = 0; j < gradient_.size(); ++j) displacement[j] = T(center[j] - previous_[j]);
  }

 private:
  double gamma_;
  OptimizerState<T> state_;
  Vector<double> gradient_;
  Vector<T> previous_;
  Vector<T> lookahead_;
};

// AdaGrad: G <- G + g^2, y <- P(y - rho g / (sqrt(G) + eps)); `first` stores G.
template <class T>
class AdaGrad {
 public:
  AdaGrad(const OptimizerParams& params, const OptimizerState<T>& state)
      : epsilon_(params.epsilon), state_(state), gradient_(state.n_features) {}

  template <class Gradient, class Project>
  void step(Index k, T* center, double rate, Gradient&& gradient, Project&& project) {
    T* sum_squares = state_.first_row(k);
    gradient(center, gradient_.data());
    for (Index j = 0; j < gradient_.size(); ++j) {
      const double accumulated = sum_squares[j] + gradient_[j] * gradient_[j];
      sum_squares[j] = T(accumulated);
      center[j] = T(center[j] - rate * gradient_[j] / (std::sqrt(accumulated) + epsilon_));
    }
    project(center);
  }

 private:
  double epsilon_;
  OptimizerState<T> state_;
  Vector<double> gradient_;
};

// RMSProp: G <- beta G + (1 - beta) g^2, y <- P(y - rho g / (sqrt(G) + eps)); `first` stores G.
template <class T>
class RmsProp {
 public:
  RmsProp(const OptimizerParams& params, const OptimizerState<T>& state)
      : beta_(params.beta), epsilon_(params.epsilon), state_(state), gradient_(state.n_features) {}

  template <class Gradient, class Project>
  void step(Index k, T* center, double rate, Gradient&& gradient, Project&& project) {
    T* average_squares = state_.first_row(k);
    gradient(center, gradient_.data());
    for (Index j = 0; j < gradient_.size(); ++j) {
      const double average = beta_ * average_squares[j] + (1.0 - beta_) * gradient_[j] * gradient_[j];
      average_squares[j] = T(average);
      center[j] = T(center[j] - rate * gradient_[j] / (std::sqrt(average) + epsilon_));
    }
    project(center);
  }

 private:
  double beta_;
  double epsilon_;
  OptimizerState<T> state_;
  Vector<double> gradient_;
};

// Adam with bias correction by the number of moves n_k of this centre:
// m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
// y <- P(y - rho (m / (1 - b1^n_k)) / (sqrt(v / (1 - b2^n_k)) + eps)).
template <class T>
class Adam {
 public:
  Adam(const OptimizerParams& params, const OptimizerState<T>& state)
      : beta1_(params.beta1),
        beta2_(params.beta2),
        epsilon_(params.epsilon),
        state_(state),
        gradient_(state.n_features) {}

  template <class Gradient, class Project>
  void step(Index k, T* center, double rate, Gradient&& gradient, Project&& project) {
    T* first_moment = state_.first_row(k);
    T* second_moment = state_.second_row(k);
    const double moves = static_cast<double>(state_.updates[k]);
    const double first_correction = 1.0 - std::pow(beta1_, moves);
    const double second_correction = 1.0 - std::pow(beta2_, moves);

    gradient(center, gradient_.data());
    for (Index j = 0; j < gradient_.size(); ++j) {
      const double m = beta1_ * first_moment[j] + (1.0 - beta1_) * gradient_[j];
      const double v = beta2_ * second_moment[j] + (1.0 - beta2_) * gradient_[j] * gradient_[j];
      first_moment[j] = T(m);
      second_moment[j] = T(v);
      center[j] =
          T(center[j] - rate * (m / first_correction) / (std::sqrt(v / second_correction) + epsilon_));
    }
    project(center);
  }

 private:
  double beta1_;
  double beta2_;
  double epsilon_;
  OptimizerState<T> state_;
  Vector<double> gradient_;
};

}  // namespace sq
