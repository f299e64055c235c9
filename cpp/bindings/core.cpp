// pybind11 bindings of the header-only core: module stochastic_quantization._core.
//
// The functions take NumPy arrays of exactly the right dtype and layout (C-contiguous float32 or
// float64, int64 indices) and never convert them: the Python layer validates and converts once,
// so a mismatch here raises TypeError instead of copying silently. State arrays are updated in
// place. Every loop runs with the GIL released; C++ std::invalid_argument becomes ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <sq/sq.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>

#ifndef SQ_MODULE_NAME
#define SQ_MODULE_NAME _core
#endif

namespace py = pybind11;

namespace {

template <class T>
using Array = py::array_t<T, py::array::c_style>;

template <class T>
sq::SamplesView<T> view_2d(const Array<T>& array, const char* name) {
  if (array.ndim() != 2) {
    throw std::invalid_argument(std::string(name) + " must be 2-D, got " + std::to_string(array.ndim()) +
                                "-D");
  }
  return sq::SamplesView<T>(array.data(), array.shape(0), array.shape(1));
}

template <class T>
const T* optional_vector(const std::optional<Array<T>>& array, sq::Index size, const char* name) {
  if (!array) return nullptr;
  if (array->ndim() != 1 || array->shape(0) != size) {
    throw std::invalid_argument(std::string(name) + " must have shape (" + std::to_string(size) + ",)");
  }
  return array->data();
}

// Mutable pointer to an array of exactly `rows` x `cols` values, or null when it is empty.
template <class T>
T* state_pointer(Array<T>& array, sq::Index rows, sq::Index cols, const char* name) {
  if (array.size() == 0) return nullptr;
  if (array.size() != rows * cols) {
    throw std::invalid_argument(std::string(name) + " must have " + std::to_string(rows) + " x " +
                                std::to_string(cols) + " values, got " + std::to_string(array.size()));
  }
  return array.mutable_data();
}

// Raise KeyboardInterrupt (or whatever a signal handler raised) in the middle of a C++ loop.
void check_signals() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

// Threads worth starting for a call of `work` multiply-adds: starting and joining a thread costs
// tens of microseconds, so each thread gets at least 2**21 multiply-adds (about a millisecond)
// and small calls run on the calling thread. Results do not depend on the count.
int threads_for_work(int n_threads, double work) {
  if (n_threads < 1) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const double useful = std::max(1.0, std::floor(work / static_cast<double>(1 << 21)));
  return static_cast<int>(std::min(static_cast<double>(n_threads), useful));
}

// Rows handed to one kernel call between two interrupt checks: a whole number of blocks holding
// about 2**24 sample-centre-coordinate visits, some milliseconds of work.
sq::Index interrupt_chunk_rows(sq::Index n_clusters, sq::Index n_features) {
  const sq::Index work_per_row = std::max<sq::Index>(1, n_clusters * n_features);
  const sq::Index blocks = std::max<sq::Index>(1, (sq::Index{1} << 24) / (work_per_row * sq::block_rows));
  return blocks * sq::block_rows;
}

template <class T>
sq::SamplesView<T> row_range(const sq::SamplesView<T>& samples, sq::Index begin, sq::Index end) {
  return sq::SamplesView<T>(samples.data() + begin * samples.cols(), end - begin, samples.cols());
}

template <class T>
py::tuple assign(const Array<T>& samples, const Array<T>& centers, int n_threads) {
  const auto samples_view = view_2d(samples, "samples");
  const auto centers_view = view_2d(centers, "centers");
  const sq::Index n_samples = samples_view.rows();
  Array<std::int64_t> labels(n_samples);
  Array<T> squared_distances(n_samples);
  std::int64_t* label_data = labels.mutable_data();
  T* distance_data = squared_distances.mutable_data();
  {
    py::gil_scoped_release release;
    sq::CenterTable<T> table(centers_view);
    if (samples_view.cols() != table.n_features()) {
      throw std::invalid_argument("samples have " + std::to_string(samples_view.cols()) +
                                  " features but the centres have " + std::to_string(table.n_features()));
    }
    // In chunks, so Ctrl-C interrupts a large call within milliseconds.
    const sq::Index chunk = interrupt_chunk_rows(table.n_clusters(), table.n_features());
    for (sq::Index begin = 0; begin < n_samples; begin += chunk) {
      const sq::Index end = std::min(n_samples, begin + chunk);
      const double work = static_cast<double>(end - begin) * table.n_clusters() * table.n_features();
      sq::assign(row_range(samples_view, begin, end), table, label_data + begin, distance_data + begin,
                 threads_for_work(n_threads, work));
      check_signals();
    }
  }
  return py::make_tuple(labels, squared_distances);
}

template <class T>
py::tuple objective(const Array<T>& samples, const std::optional<Array<T>>& weights, const Array<T>& centers,
                    double rank, int n_threads) {
  const auto samples_view = view_2d(samples, "samples");
  const auto centers_view = view_2d(centers, "centers");
  const T* weight_data = optional_vector(weights, samples_view.rows(), "sample_weight");
  if (centers_view.cols() != samples_view.cols()) {
    throw std::invalid_argument("samples have " + std::to_string(samples_view.cols()) +
                                " features but the centres have " + std::to_string(centers_view.cols()));
  }
  sq::LossTotals totals;
  {
    py::gil_scoped_release release;
    sq::CenterTable<T> table(centers_view);
    // In chunks for Ctrl-C; chunks are whole blocks added in order, so the sum still does not
    // depend on the thread count.
    const sq::Index n_samples = samples_view.rows();
    const sq::Index chunk = interrupt_chunk_rows(table.n_clusters(), table.n_features());
    for (sq::Index begin = 0; begin < n_samples; begin += chunk) {
      const sq::Index end = std::min(n_samples, begin + chunk);
      const double work = static_cast<double>(end - begin) * table.n_clusters() * table.n_features();
      const sq::LossTotals part =
          sq::objective(row_range(samples_view, begin, end), weight_data ? weight_data + begin : nullptr,
                        table, rank, threads_for_work(n_threads, work));
      totals.loss_sum += part.loss_sum;
      totals.weight_sum += part.weight_sum;
      check_signals();
    }
  }
  return py::make_tuple(totals.loss_sum, totals.weight_sum);
}

template <class T>
Array<std::int64_t> kmeans_plusplus(const Array<T>& samples, const std::optional<Array<T>>& weights,
                                    sq::Index n_clusters, const Array<double>& uniforms,
                                    sq::Index n_local_trials, int n_threads) {
  const auto samples_view = view_2d(samples, "samples");
  const T* weight_data = optional_vector(weights, samples_view.rows(), "sample_weight");
  if (uniforms.ndim() != 1) throw std::invalid_argument("uniforms must be 1-D");
  // k-means++ only clamps its index into range, so draws outside [0, 1) and weights that are
  // negative, NaN or all zero are rejected here.
  for (sq::Index i = 0; i < uniforms.size(); ++i) {
    const double u = uniforms.data()[i];
    if (!(u >= 0.0 && u < 1.0)) {
      throw std::invalid_argument("uniforms must lie in [0, 1), got uniforms[" + std::to_string(i) +
                                  "] = " + std::to_string(u));
    }
  }
  if (weight_data) {
    sq::Index positive = 0;
    for (sq::Index i = 0; i < samples_view.rows(); ++i) {
      const double w = static_cast<double>(weight_data[i]);
      if (!(w >= 0.0) || !std::isfinite(w)) {
        throw std::invalid_argument("sample_weight must be finite and >= 0, got sample_weight[" +
                                    std::to_string(i) + "] = " + std::to_string(w));
      }
      positive += w > 0.0;
    }
    if (n_clusters > positive) {
      throw std::invalid_argument("n_clusters must be <= the number of samples with positive weight = " +
                                  std::to_string(positive) + ", got " + std::to_string(n_clusters));
    }
  }
  std::vector<sq::Index> chosen;
  {
    py::gil_scoped_release release;
    chosen = sq::kmeans_plusplus(
        samples_view, weight_data, n_clusters, uniforms.data(), uniforms.size(), n_local_trials,
        threads_for_work(n_threads, static_cast<double>(samples_view.size()) * n_local_trials),
        check_signals);
  }
  Array<std::int64_t> result(static_cast<sq::Index>(chosen.size()));
  std::copy(chosen.begin(), chosen.end(), result.mutable_data());
  return result;
}

template <class T>
py::tuple run(const Array<T>& samples, const std::optional<Array<T>>& weights,
              const Array<std::int64_t>& order, Array<T> centers, Array<T> first, Array<T> second,
              Array<T> averaged, Array<std::int64_t> updates, Array<double> mass, Array<double> marks,
              std::int64_t step, double rate_sum, double rank, const std::string& optimizer, double momentum,
              double beta, double beta1, double beta2, double epsilon, const std::string& schedule,
              double learning_rate, double t0, double power, sq::Index batch_size, sq::Index log_step,
              bool averaging, const std::optional<Array<double>>& lower,
              const std::optional<Array<double>>& upper, int n_threads) {
  const auto samples_view = view_2d(samples, "samples");
  if (centers.ndim() != 2) throw std::invalid_argument("centers must be 2-D");
  const sq::Index n_clusters = centers.shape(0);
  const sq::Index n_features = centers.shape(1);

  // Step-size hyper-parameters outside these ranges give 0/0 or steps away from the samples.
  auto require = [](bool valid, const char* rule, double value) {
    if (!valid) throw std::invalid_argument(std::string(rule) + ", got " + std::to_string(value));
  };
  require(learning_rate > 0.0 && std::isfinite(learning_rate), "learning_rate must be finite and > 0",
          learning_rate);
  require(epsilon > 0.0 && std::isfinite(epsilon), "epsilon must be finite and > 0", epsilon);
  require(t0 > 0.0 && std::isfinite(t0), "t0 must be finite and > 0", t0);
  require(power > 0.0 && std::isfinite(power), "power must be finite and > 0", power);
  require(momentum >= 0.0 && momentum < 1.0, "momentum must be in [0, 1)", momentum);
  require(beta >= 0.0 && beta < 1.0, "beta must be in [0, 1)", beta);
  require(beta1 >= 0.0 && beta1 < 1.0, "beta1 must be in [0, 1)", beta1);
  require(beta2 >= 0.0 && beta2 < 1.0, "beta2 must be in [0, 1)", beta2);
  require(std::isfinite(rank), "rank must be finite", rank);

  sq::QuantizerSettings settings;
  settings.rank = rank;
  settings.optimizer = sq::parse_optimizer(optimizer);
  settings.optimizer_params = {momentum, beta, beta1, beta2, epsilon};
  settings.schedule = {sq::parse_schedule(schedule), learning_rate, t0, power};
  settings.batch_size = batch_size;
  settings.log_step = log_step;
  settings.averaging = averaging;
  settings.lower = optional_vector(lower, n_features, "lower");
  settings.upper = optional_vector(upper, n_features, "upper");
  if (static_cast<bool>(settings.lower) != static_cast<bool>(settings.upper)) {
    throw std::invalid_argument("lower and upper bounds must be given together");
  }
  for (sq::Index j = 0; settings.lower && j < n_features; ++j) {
    if (!(settings.lower[j] <= settings.upper[j])) {
      throw std::invalid_argument("lower bounds must be <= upper bounds, got lower[" + std::to_string(j) +
                                  "] = " + std::to_string(settings.lower[j]) + " > upper[" +
                                  std::to_string(j) + "] = " + std::to_string(settings.upper[j]));
    }
  }
  // Threads serve the batched assignment inside a step; a whole-data loss record (log_step) is
  // rare enough to share the count.
  settings.n_threads = threads_for_work(n_threads, static_cast<double>(batch_size) * n_clusters * n_features);

  sq::QuantizerState<T> state;
  state.n_clusters = n_clusters;
  state.n_features = n_features;
  state.centers = centers.mutable_data();
  state.first = state_pointer(first, n_clusters, n_features, "first");
  state.second = state_pointer(second, n_clusters, n_features, "second");
  state.averaged = state_pointer(averaged, n_clusters, n_features, "averaged");
  state.updates = state_pointer(updates, n_clusters, 1, "updates");
  state.mass = state_pointer(mass, n_clusters, 1, "mass");
  state.marks = state_pointer(marks, n_clusters, 1, "marks");
  if (!state.updates || !state.mass || !state.marks) {
    throw std::invalid_argument("updates, mass and marks must have one entry per centre");
  }
  state.step = step;
  state.rate_sum = rate_sum;
  const T* weight_data = optional_vector(weights, samples_view.rows(), "sample_weight");

  std::vector<sq::LossRecord> log;
  {
    py::gil_scoped_release release;
    log = sq::run(samples_view, weight_data, order.data(), order.size(), settings, state, check_signals);
  }
  Array<double> log_array({static_cast<sq::Index>(log.size()), sq::Index{2}});
  auto out = log_array.template mutable_unchecked<2>();
  for (std::size_t i = 0; i < log.size(); ++i) {
    out(i, 0) = static_cast<double>(log[i].step);
    out(i, 1) = log[i].loss;
  }
  return py::make_tuple(state.step, state.rate_sum, log_array);
}

// Whether this CPU runs the `_core_avx2` build (AVX2 and FMA); checked by the baseline module.
bool cpu_has_avx2_fma() {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

template <class T>
void register_functions(py::module_& module) {
  module.def("assign", &assign<T>, py::arg("samples").noconvert(), py::arg("centers").noconvert(),
             py::arg("n_threads"),
             "Nearest centre of every sample: (labels int64 (n,), squared distances (n,)).");
  module.def("objective", &objective<T>, py::arg("samples").noconvert(), py::arg("sample_weight").noconvert(),
             py::arg("centers").noconvert(), py::arg("rank"), py::arg("n_threads"),
             "Return (sum_i w_i min_k ||x_i - c_k||^rank, sum_i w_i).");
  module.def("kmeans_plusplus", &kmeans_plusplus<T>, py::arg("samples").noconvert(),
             py::arg("sample_weight").noconvert(), py::arg("n_clusters"), py::arg("uniforms").noconvert(),
             py::arg("n_local_trials"), py::arg("n_threads"),
             "Row indices of greedy k-means++ centres, drawing with the given U[0, 1) numbers.");
  module.def("run", &run<T>, py::arg("samples").noconvert(), py::arg("sample_weight").noconvert(),
             py::arg("order").noconvert(), py::arg("centers").noconvert(), py::arg("first").noconvert(),
             py::arg("second").noconvert(), py::arg("averaged").noconvert(), py::arg("updates").noconvert(),
             py::arg("mass").noconvert(), py::arg("marks").noconvert(), py::arg("step"), py::arg("rate_sum"),
             py::kw_only(), py::arg("rank"), py::arg("optimizer"), py::arg("momentum"), py::arg("beta"),
             py::arg("beta1"), py::arg("beta2"), py::arg("epsilon"), py::arg("schedule"),
             py::arg("learning_rate"), py::arg("t0"), py::arg("power"), py::arg("batch_size"),
             py::arg("log_step"), py::arg("averaging"), py::arg("lower").noconvert(),
             py::arg("upper").noconvert(), py::arg("n_threads"),
             "Run SQ steps over samples[order] in place on the state arrays; "
             "return (step, rate_sum, loss log (m, 2)).");
}

}  // namespace

PYBIND11_MODULE(SQ_MODULE_NAME, module) {
  module.doc() = "C++ kernels of stochastic-quantization (header-only core in <sq/sq.hpp>).";
  register_functions<float>(module);
  register_functions<double>(module);
  module.def("simd_instruction_sets", &Eigen::SimdInstructionSetsInUse,
             "Instruction sets this build of the kernels was compiled for.");
  module.def("cpu_has_avx2_fma", &cpu_has_avx2_fma, "Whether this CPU has AVX2 and FMA.");
}
