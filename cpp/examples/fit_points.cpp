// Fits stochastic quantization centres to points read from a CSV or raw binary file and prints
// the centres and the mean loss. Run with --help for the options.
//
// Output, with every value printed to full precision (max_digits10) so a reader can compare it
// bit for bit:
//   centers K d
//   <K lines of d values>
//   loss <mean loss over the samples>
//   steps <schedule steps taken>
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <sq/sq.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

const char* const usage = R"(usage: fit_points DATA [options]

Fits stochastic quantization centres to the samples in DATA and prints them with the loss.

  DATA                    CSV file, one sample per row, values separated by commas; blank lines
                          and lines starting with '#' are skipped, and so is a first row that is
                          not numeric (a header)
  --binary FEATURES       read DATA as raw rows of FEATURES values in --dtype, native byte order
  --dtype float32|float64 precision of the fit (default float64)
  --clusters K            number of centres, initialised by k-means++ (default 8)
  --init FILE             CSV file of initial centres, one per row; replaces k-means++
  --order FILE            sample indices visited in every epoch, separated by commas or white
                          space; replaces --sampling
  --sampling NAME         permutation, replacement or sequential (default permutation)
  --epochs N              passes over the data (default 10)
  --optimizer NAME        sgd, momentum, nag, adagrad, rmsprop or adam (default adam)
  --learning-rate RATE    initial step size rho_0, or auto to scale it to the data (default auto)
  --schedule NAME         constant, inverse_time, count, or auto: constant for adagrad,
                          inverse_time for rmsprop and adam, count otherwise (default auto)
  --t0 STEPS              t0 of inverse_time, in steps (default: the steps of one epoch)
  --power POWER           exponent of inverse_time (default 1)
  --batch-size B          samples per step (default 1)
  --rank R                exponent r of the loss ||x - y||^r (default 2)
  --seed SEED             seed of k-means++ and of the sample orders (default 0)
  --threads N             threads for batches and the loss, 0 for all cores (default 0)
)";

// Parses one number. The error names `name` when the text is not entirely a number.
double parse_number(const std::string& text, const std::string& name) {
  std::size_t used = 0;
  double value = 0.0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || text.find_first_not_of(" \t\r", used) != std::string::npos) {
    throw std::invalid_argument(name + " must be a number, got '" + text + "'");
  }
  return value;
}

// Splits a CSV line at commas and parses every field; returns false when a field is not a number.
bool parse_row(const std::string& line, std::vector<double>& row) {
  row.clear();
  std::stringstream fields(line);
  std::string field;
  while (std::getline(fields, field, ',')) {
    try {
      row.push_back(parse_number(field, "field"));
    } catch (const std::invalid_argument&) {
      return false;
    }
  }
  return !row.empty();
}

// Reads a CSV file of numbers into a row-major n x d matrix.
template <class T>
sq::RowMatrix<T> read_csv(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error("failed to open '" + path + "'");
  std::vector<double> values;
  std::vector<double> row;
  std::size_t n_features = 0;
  std::size_t line_number = 0;
  bool first_row = true;
  for (std::string line; std::getline(file, line);) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    const bool numeric = parse_row(line, row);
    if (first_row && !numeric) {  // a header
      first_row = false;
      continue;
    }
    first_row = false;
    if (!numeric)
      throw std::runtime_error(path + ":" + std::to_string(line_number) + ": not a row of numbers");
    if (n_features == 0) n_features = row.size();
    if (row.size() != n_features) {
      throw std::runtime_error(path + ":" + std::to_string(line_number) + ": expected " +
                               std::to_string(n_features) + " values, got " + std::to_string(row.size()));
    }
    values.insert(values.end(), row.begin(), row.end());
  }
  if (values.empty()) throw std::runtime_error("'" + path + "' contains no samples");

  const auto n_samples = static_cast<sq::Index>(values.size() / n_features);
  sq::RowMatrix<T> matrix(n_samples, static_cast<sq::Index>(n_features));
  for (std::size_t i = 0; i < values.size(); ++i) matrix.data()[i] = static_cast<T>(values[i]);
  return matrix;
}

// Reads raw native-endian rows of `n_features` values of type T.
template <class T>
sq::RowMatrix<T> read_binary(const std::string& path, sq::Index n_features) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) throw std::runtime_error("failed to open '" + path + "'");
  const auto bytes = static_cast<sq::Index>(file.tellg());
  const auto row_bytes = n_features * static_cast<sq::Index>(sizeof(T));
  if (bytes == 0 || bytes % row_bytes != 0) {
    throw std::runtime_error("'" + path + "' has " + std::to_string(bytes) +
                             " bytes, not a positive multiple of " + std::to_string(row_bytes) +
                             " (--binary " + std::to_string(n_features) + " values of " +
                             std::to_string(sizeof(T)) + " bytes)");
  }
  sq::RowMatrix<T> matrix(bytes / row_bytes, n_features);
  file.seekg(0);
  file.read(reinterpret_cast<char*>(matrix.data()), bytes);
  return matrix;
}

// Reads sample indices separated by commas or white space.
std::vector<std::int64_t> read_order(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error("failed to open '" + path + "'");
  std::vector<std::int64_t> order;
  std::string token;
  while (file >> token) {
    std::stringstream fields(token);
    for (std::string field; std::getline(fields, field, ',');) {
      if (!field.empty())
        order.push_back(static_cast<std::int64_t>(parse_number(field, "an index in " + path)));
    }
  }
  return order;
}

using Options = std::map<std::string, std::string>;

const char* const known_options[] = {"--binary",        "--dtype",    "--clusters", "--init",
                                     "--order",         "--sampling", "--epochs",   "--optimizer",
                                     "--learning-rate", "--schedule", "--t0",       "--power",
                                     "--batch-size",    "--rank",     "--seed",     "--threads"};

bool is_known_option(const std::string& name) {
  for (const char* known : known_options) {
    if (name == known) return true;
  }
  return false;
}

std::string option(const Options& options, const std::string& name, const std::string& fallback) {
  const auto found = options.find(name);
  return found == options.end() ? fallback : found->second;
}

template <class T>
int fit_and_print(const std::string& data_path, const Options& options) {
  const std::string binary = option(options, "--binary", "");
  const sq::RowMatrix<T> data =
      binary.empty() ? read_csv<T>(data_path)
                     : read_binary<T>(data_path, static_cast<sq::Index>(parse_number(binary, "--binary")));
  const sq::SamplesView<T> samples(data.data(), data.rows(), data.cols());

  sq::FitSettings settings;
  sq::QuantizerSettings& loop = settings.quantizer;
  loop.rank = parse_number(option(options, "--rank", "2"), "--rank");
  loop.optimizer = sq::parse_optimizer(option(options, "--optimizer", "adam"));
  loop.batch_size =
      static_cast<sq::Index>(parse_number(option(options, "--batch-size", "1"), "--batch-size"));
  loop.n_threads = static_cast<int>(parse_number(option(options, "--threads", "0"), "--threads"));
  settings.n_epochs = static_cast<sq::Index>(parse_number(option(options, "--epochs", "10"), "--epochs"));
  settings.sampling = sq::parse_sampling(option(options, "--sampling", "permutation"));
  sq::Random random(static_cast<std::uint64_t>(parse_number(option(options, "--seed", "0"), "--seed")));

  // Initial centres: the given file, or k-means++.
  const std::string init_path = option(options, "--init", "");
  const sq::RowMatrix<T> initial =
      init_path.empty()
          ? sq::kmeans_plusplus_centers<T>(
                samples, nullptr,
                static_cast<sq::Index>(parse_number(option(options, "--clusters", "8"), "--clusters")),
                random, loop.n_threads)
          : read_csv<T>(init_path);

  // Step sizes, with the defaults of the Python estimator.
  const std::string schedule = option(options, "--schedule", "auto");
  loop.schedule.kind = schedule == "auto" ? sq::auto_schedule(loop.optimizer) : sq::parse_schedule(schedule);
  const std::string rate = option(options, "--learning-rate", "auto");
  loop.schedule.learning_rate =
      rate == "auto" ? sq::auto_learning_rate<T>(samples, initial, loop.optimizer, loop.rank, loop.n_threads,
                                                 loop.optimizer_params.momentum)
                     : parse_number(rate, "--learning-rate");
  const double epoch_steps =
      std::max(1.0, static_cast<double>(data.rows()) / static_cast<double>(loop.batch_size));
  const std::string t0 = option(options, "--t0", "");
  loop.schedule.t0 = t0.empty() ? epoch_steps : parse_number(t0, "--t0");
  loop.schedule.power = parse_number(option(options, "--power", "1"), "--power");

  const std::string order_path = option(options, "--order", "");
  const sq::FitResult<T> result =
      order_path.empty() ? sq::fit<T>(samples, nullptr, initial, settings, random)
                         : sq::fit<T>(samples, nullptr, initial, settings, read_order(order_path));

  std::cout.precision(std::numeric_limits<T>::max_digits10);
  std::cout << "centers " << result.centers.rows() << ' ' << result.centers.cols() << '\n';
  for (sq::Index k = 0; k < result.centers.rows(); ++k) {
    for (sq::Index j = 0; j < result.centers.cols(); ++j) {
      std::cout << (j ? " " : "") << static_cast<double>(result.centers(k, j));
    }
    std::cout << '\n';
  }
  std::cout.precision(std::numeric_limits<double>::max_digits10);
  std::cout << "loss " << result.loss << '\n' << "steps " << result.n_steps << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_path;
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "-h" || argument == "--help") {
      std::cout << usage;
      return 0;
    }
    if (argument.rfind("--", 0) == 0) {
      if (!is_known_option(argument)) {
        std::cerr << "error: unknown option " << argument << "\n" << usage;
        return 2;
      }
      if (i + 1 >= argc) {
        std::cerr << "error: option " << argument << " needs a value\n" << usage;
        return 2;
      }
      options[argument] = argv[++i];
    } else if (data_path.empty()) {
      data_path = argument;
    } else {
      std::cerr << "error: unexpected argument '" << argument << "'\n" << usage;
      return 2;
    }
  }
  if (data_path.empty()) {
    std::cerr << "error: missing DATA\n" << usage;
    return 2;
  }

  try {
    const std::string dtype = option(options, "--dtype", "float64");
    if (dtype == "float32") return fit_and_print<float>(data_path, options);
    if (dtype == "float64") return fit_and_print<double>(data_path, options);
    throw std::invalid_argument("--dtype must be float32 or float64, got '" + dtype + "'");
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << '\n';
    return 1;
  }
}
