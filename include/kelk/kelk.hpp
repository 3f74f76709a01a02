// kelk: parallel-in-time evaluation of nonlinear recurrences on Kokkos. Include this header.
#pragma once

#include <kelk/kelk_adjoint.hpp>
#include <kelk/kelk_affine.hpp>
#include <kelk/kelk_argru.hpp>
#include <kelk/kelk_auto.hpp>
#include <kelk/kelk_block_diagonal.hpp>
#include <kelk/kelk_config.hpp>
#include <kelk/kelk_initialize.hpp>
#include <kelk/kelk_kalman.hpp>
#include <kelk/kelk_maps.hpp>
#include <kelk/kelk_math.hpp>
#include <kelk/kelk_options.hpp>
#include <kelk/kelk_probe.hpp>
#include <kelk/kelk_scan.hpp>
#include <kelk/kelk_solve.hpp>
#include <kelk/kelk_step_map.hpp>
#include <kelk/kelk_views.hpp>
#ifdef KELK_HAVE_HDF5
#include <kelk/kelk_hdf5.hpp>
#endif
#ifdef KELK_HAVE_MPI
#include <kelk/kelk_distributed.hpp>
#endif
#if defined(KELK_HAVE_MPI) && defined(KELK_HAVE_HDF5)
#include <kelk/kelk_checkpoint.hpp>
#include <kelk/kelk_io.hpp>
#endif

// The library ships compiled instantiations of solve() for the built-in step maps on the
// default execution space (its work on kelk's own View types, which every kelk::solve call
// reaches); these declarations keep every user from compiling them again.
#define KELK_IMPL_SOLVE_INSTANTIATION(EXTERN, MAP)                                               \
  EXTERN template SolveResult impl::solve_contiguous<Kokkos::DefaultExecutionSpace, MAP>(        \
      const Kokkos::DefaultExecutionSpace&, const MAP&,                                          \
      const ::kelk::BatchView<const MAP::value_type,                                             \
                              Kokkos::DefaultExecutionSpace::memory_space>&,                     \
      const ::kelk::SequenceView<const MAP::value_type,                                          \
                                 Kokkos::DefaultExecutionSpace::memory_space>&,                  \
      const ::kelk::SequenceView<MAP::value_type, Kokkos::DefaultExecutionSpace::memory_space>&, \
      const ::kelk::SolveOptions&);

#define KELK_IMPL_BUILTIN_INSTANTIATIONS(EXTERN)                  \
  KELK_IMPL_SOLVE_INSTANTIATION(EXTERN, ::kelk::Elman<double>)    \
  KELK_IMPL_SOLVE_INSTANTIATION(EXTERN, ::kelk::Elman<float>)     \
  KELK_IMPL_SOLVE_INSTANTIATION(EXTERN, ::kelk::Gru<double>)      \
  KELK_IMPL_SOLVE_INSTANTIATION(EXTERN, ::kelk::Gru<float>)       \
  KELK_IMPL_SOLVE_INSTANTIATION(EXTERN, ::kelk::Lstm<double>)     \
  KELK_IMPL_SOLVE_INSTANTIATION(EXTERN, ::kelk::Lstm<float>)      \
  KELK_IMPL_SOLVE_INSTANTIATION(EXTERN, ::kelk::Lorenz96<double>) \
  KELK_IMPL_SOLVE_INSTANTIATION(EXTERN, ::kelk::Lorenz96<float>)  \
  KELK_IMPL_SOLVE_INSTANTIATION(EXTERN, ::kelk::ArGru<double>)    \
  KELK_IMPL_SOLVE_INSTANTIATION(EXTERN, ::kelk::ArGru<float>)

#ifndef KELK_IMPL_COMPILING_INSTANTIATIONS
namespace kelk {
KELK_IMPL_BUILTIN_INSTANTIATIONS(extern)
}  // namespace kelk
#endif
