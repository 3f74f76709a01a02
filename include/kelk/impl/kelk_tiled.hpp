// Tiled parallel loops over many small work items that each need a private scratch buffer
// (the step map's temporaries): Kokkos teams with per-thread scratch, so that no backend
// allocates inside a kernel and the scratch is sized by the running threads, not by the items.
#pragma once

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

namespace kelk::impl {

/// The reduction (Kokkos::Max, Kokkos::Sum) over i in [0, n_items) of body(i, scratch), where
/// body gets `scratch_scalars` private scalars. Returns 0 when n_items = 0.
template <class Scalar, template <class...> class Reducer, class ExecutionSpace, class Body>
Scalar tiled_reduce(const std::string& label, const ExecutionSpace& space, std::int64_t n_items,
                    int scratch_scalars, const Body& body) {
  using policy_type = Kokkos::TeamPolicy<ExecutionSpace>;
  using member_type = typename policy_type::member_type;
  if (n_items <= 0) return Scalar(0);
  constexpr bool host =
      Kokkos::SpaceAccessibility<Kokkos::HostSpace,
                                 typename ExecutionSpace::memory_space>::accessible;
  // One thread per team on CPUs (each team walks a contiguous tile of items); on GPUs the
  // items of a tile are spread over the team's threads.
  constexpr int threads_per_team_guess = host ? 1 : 128;
  const std::int64_t wanted = std::max(1, space.concurrency() / threads_per_team_guess) * 4;
  const int league = static_cast<int>(std::max<std::int64_t>(1, std::min(n_items, wanted)));
  const std::size_t bytes = sizeof(Scalar) * static_cast<std::size_t>(std::max(1, scratch_scalars));
  const int level = bytes * threads_per_team_guess <= 16384 ? 0 : 1;
  policy_type policy =
      host ? policy_type(space, league, 1) : policy_type(space, league, Kokkos::AUTO);
  policy.set_scratch_size(level, Kokkos::PerThread(bytes));

  Scalar result = Scalar(0);
  Kokkos::parallel_reduce(
      label, policy,
      KOKKOS_LAMBDA(const member_type& team, Scalar& acc) {
        Scalar* scratch = static_cast<Scalar*>(team.thread_scratch(level).get_shmem(bytes));
        const std::int64_t r = team.league_rank();
        const std::int64_t begin = r * n_items / league, end = (r + 1) * n_items / league;
        Scalar tile = Scalar(0);
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(team, begin, end),
            [&](std::int64_t i, Scalar& m) { Reducer<Scalar>(m).join(m, body(i, scratch)); },
            Reducer<Scalar>(tile));
        Reducer<Scalar>(acc).join(acc, tile);
      },
      Reducer<Scalar>(result));
  return result;
}

/// max over i in [0, n_items) of body(i, scratch), where body returns a value >= 0 (+inf for
/// anything non-finite) and gets `scratch_scalars` private scalars. Returns 0 when n_items = 0.
template <class Scalar, class ExecutionSpace, class Body>
Scalar tiled_max(const std::string& label, const ExecutionSpace& space, std::int64_t n_items,
                 int scratch_scalars, const Body& body) {
  return tiled_reduce<Scalar, Kokkos::Max>(label, space, n_items, scratch_scalars, body);
}

}  // namespace kelk::impl
