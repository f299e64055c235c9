# Run with cmake -P (see CMakeLists.txt in this folder for the variables it needs).
#
# 1. cmake --install the sq build into WORK_DIR/prefix.
# 2. Configure and build cpp/examples against that prefix only.
# 3. Run fit_points on the three-blob data set and check the centres and the loss.
# 4. Check that a bad input fails with a message and a non-zero exit code.
cmake_minimum_required(VERSION 3.18)

foreach(variable SQ_BINARY_DIR SQ_EXAMPLES_DIR WORK_DIR EIGEN3_DIR GENERATOR CXX_COMPILER BUILD_TYPE)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "consumer_test.cmake needs -D${variable}=...")
  endif()
endforeach()

# Runs a command and stops with its output when it fails.
function(run_checked description)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${description} failed (exit code ${result}):\n${output}")
  endif()
endfunction()

set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")

# 1. Install.
run_checked("cmake --install" "${CMAKE_COMMAND}" --install "${SQ_BINARY_DIR}" --prefix "${prefix}")
foreach(installed include/sq/sq.hpp include/sq/fit.hpp share/cmake/sq/sqConfig.cmake
                  share/cmake/sq/sqConfigVersion.cmake share/cmake/sq/sqTargets.cmake)
  if(NOT EXISTS "${prefix}/${installed}")
    message(FATAL_ERROR "cmake --install did not install ${installed} into ${prefix}")
  endif()
endforeach()

# 2. Configure the examples against the installed package; Eigen comes from the directory the
# sq build found, through find_dependency in sqConfig.cmake.
run_checked(
  "configuring cpp/examples"
  "${CMAKE_COMMAND}" -S "${SQ_EXAMPLES_DIR}" -B "${build}" -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" "-DCMAKE_PREFIX_PATH=${prefix}" "-DEigen3_DIR=${EIGEN3_DIR}"
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
file(STRINGS "${build}/CMakeCache.txt" sq_dir_line REGEX "^sq_DIR:")
string(REGEX REPLACE "^sq_DIR:[A-Z]*=" "" sq_dir "${sq_dir_line}")
get_filename_component(sq_dir "${sq_dir}" REALPATH)
get_filename_component(real_prefix "${prefix}" REALPATH)
string(FIND "${sq_dir}" "${real_prefix}/" position)
if(NOT position EQUAL 0)
  message(FATAL_ERROR "the examples found sq in '${sq_dir}', not in the installed prefix '${real_prefix}'")
endif()
run_checked("building cpp/examples" "${CMAKE_COMMAND}" --build "${build}" --config "${BUILD_TYPE}")

find_program(fit_points NAMES fit_points PATHS "${build}" "${build}/${BUILD_TYPE}" NO_DEFAULT_PATH REQUIRED)

# 3. Fit three centres with Adam from k-means++. The blobs are centred at (0, 0), (6, 6) and
# (0, 10) with standard deviation 0.5, so each centre must land within 0.3 of one of them and
# the mean squared distance must be near 2 * 0.5^2 = 0.5.
execute_process(
  COMMAND "${fit_points}" "${SQ_EXAMPLES_DIR}/data/blobs.csv" --clusters 3 --optimizer adam --epochs 5 --seed 1
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE errors)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "fit_points failed (exit code ${result}):\n${output}${errors}")
endif()
message(STATUS "fit_points output:\n${output}")

string(REPLACE "\n" ";" lines "${output}")
list(GET lines 0 header)
if(NOT header STREQUAL "centers 3 2")
  message(FATAL_ERROR "expected the first line 'centers 3 2', got '${header}'")
endif()
list(SUBLIST lines 1 3 center_lines)
# Each box is low_x;high_x;low_y;high_y around one blob centre; if(LESS) compares the values
# as floating-point numbers.
foreach(box "-0.3;0.3;-0.3;0.3" "5.7;6.3;5.7;6.3" "-0.3;0.3;9.7;10.3")
  list(GET box 0 low_x)
  list(GET box 1 high_x)
  list(GET box 2 low_y)
  list(GET box 3 high_y)
  set(found FALSE)
  foreach(line IN LISTS center_lines)
    string(REPLACE " " ";" values "${line}")
    list(GET values 0 x)
    list(GET values 1 y)
    if(x GREATER low_x AND x LESS high_x AND y GREATER low_y AND y LESS high_y)
      set(found TRUE)
    endif()
  endforeach()
  if(NOT found)
    message(FATAL_ERROR "no centre in the box x in (${low_x}, ${high_x}), y in (${low_y}, ${high_y}) in:\n${output}")
  endif()
endforeach()

list(GET lines 4 loss_line)
if(NOT loss_line MATCHES "^loss ([0-9.eE+-]+)$")
  message(FATAL_ERROR "expected the line 'loss <value>', got '${loss_line}'")
endif()
set(loss "${CMAKE_MATCH_1}")
if(NOT (loss GREATER 0.3 AND loss LESS 0.8))
  message(FATAL_ERROR "expected a mean squared distance in (0.3, 0.8), got ${loss}")
endif()

# 4. A missing file is reported on stderr with exit code 1.
execute_process(
  COMMAND "${fit_points}" "${WORK_DIR}/missing.csv"
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE errors)
if(NOT result EQUAL 1 OR NOT errors MATCHES "failed to open")
  message(FATAL_ERROR "expected exit code 1 and 'failed to open' for a missing file, got ${result}:\n${errors}")
endif()
message(STATUS "consumer example passed")
