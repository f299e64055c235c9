// Umbrella header of the header-only stochastic quantization core.
#pragma once

#include "distance.hpp"
#include "fit.hpp"
#include "init.hpp"
#include "nearest.hpp"
#include "optimizers.hpp"
#include "parallel.hpp"
#include "quantizer.hpp"
