// Built-in step maps, each in its own header: Elman RNN (kelk_map_elman.hpp), GRU
// (kelk_map_gru.hpp), LSTM (kelk_map_lstm.hpp), Lorenz-96 with RK4 (kelk_map_lorenz96.hpp), a
// chain of damped, driven pendulums with RK4 (kelk_map_pendulum_chain.hpp); the ELK paper's
// autoregressive GRU is in kelk_argru.hpp. This header includes the five.
#pragma once

#include <kelk/kelk_map_elman.hpp>
#include <kelk/kelk_map_gru.hpp>
#include <kelk/kelk_map_lstm.hpp>
#include <kelk/kelk_map_lorenz96.hpp>
#include <kelk/kelk_map_pendulum_chain.hpp>
