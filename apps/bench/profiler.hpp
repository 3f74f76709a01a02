// What kelk-bench measures besides wall time, through Kokkos' tool callbacks (no tool library
// needed): the time of every labelled kernel and region, the bytes held in Kokkos View
// allocations (current and peak), and the process's resident-set high-water mark.
#pragma once

#include <Kokkos_Core.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace kelk::bench {

/// Seconds per kernel label and per innermost region label (regions that enclose kernels are
/// not counted, so that no time is counted twice), and View bytes. One instance per process (Kokkos'
/// callbacks are plain function pointers); install() after Kokkos::initialize.
class Profiler {
 public:
  static Profiler& instance() {
    static Profiler p;
    return p;
  }

  void install() {
    namespace tools = Kokkos::Tools::Experimental;
    tools::set_begin_parallel_for_callback(&begin_kernel);
    tools::set_begin_parallel_reduce_callback(&begin_kernel);
    tools::set_begin_parallel_scan_callback(&begin_kernel);
    tools::set_end_parallel_for_callback(&end_kernel);
    tools::set_end_parallel_reduce_callback(&end_kernel);
    tools::set_end_parallel_scan_callback(&end_kernel);
    tools::set_push_region_callback(&push_region);
    tools::set_pop_region_callback(&pop_region);
    tools::set_allocate_data_callback(&allocate);
    tools::set_deallocate_data_callback(&deallocate);
  }

  /// Forgets the kernel times and restarts the View peak from the bytes held now.
  void reset() {
    seconds_.clear();
    peak_bytes_ = current_bytes_;
  }
  const std::map<std::string, double>& seconds() const { return seconds_; }
  std::int64_t current_bytes() const { return current_bytes_; }
  std::int64_t peak_bytes() const { return peak_bytes_; }

 private:
  using clock = std::chrono::steady_clock;
  struct Open {
    std::string label;
    clock::time_point start;
    bool has_children = false;  ///< a region around kernels or regions is not itself timed
  };

  static void begin_kernel(const char* name, std::uint32_t, std::uint64_t* id) {
    auto& p = instance();
    *id = p.next_id_++;
    if (!p.regions_.empty()) p.regions_.back().has_children = true;
    p.open_kernels_[*id] = {name, clock::now(), false};
  }
  static void end_kernel(std::uint64_t id) {
    auto& p = instance();
    const auto it = p.open_kernels_.find(id);
    if (it == p.open_kernels_.end()) return;
    p.seconds_[it->second.label] +=
        std::chrono::duration<double>(clock::now() - it->second.start).count();
    p.open_kernels_.erase(it);
  }
  static void push_region(const char* name) {
    auto& p = instance();
    if (!p.regions_.empty()) p.regions_.back().has_children = true;
    p.regions_.push_back({name, clock::now(), false});
  }
  static void pop_region() {
    auto& p = instance();
    if (p.regions_.empty()) return;
    const Open r = p.regions_.back();
    p.regions_.pop_back();
    if (!r.has_children)
      p.seconds_[r.label] += std::chrono::duration<double>(clock::now() - r.start).count();
  }
  static void allocate(Kokkos::Profiling::SpaceHandle, const char*, const void*,
                       std::uint64_t bytes) {
    auto& p = instance();
    p.current_bytes_ += std::int64_t(bytes);
    if (p.current_bytes_ > p.peak_bytes_) p.peak_bytes_ = p.current_bytes_;
  }
  static void deallocate(Kokkos::Profiling::SpaceHandle, const char*, const void*,
                         std::uint64_t bytes) {
    instance().current_bytes_ -= std::int64_t(bytes);
  }

  std::uint64_t next_id_ = 0;
  std::unordered_map<std::uint64_t, Open> open_kernels_;
  std::vector<Open> regions_;
  std::map<std::string, double> seconds_;
  std::int64_t current_bytes_ = 0, peak_bytes_ = 0;
};

/// The process's peak resident set (VmHWM) in MiB; 0 where /proc is not there.
inline double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      double kib = 0;
      status >> kib;
      return kib / 1024.0;
    }
    status.ignore(1 << 12, '\n');
  }
  return 0;
}

/// Restarts VmHWM from the current resident set (Linux: "5" into /proc/self/clear_refs).
/// Returns false where that is not possible; the peak then covers the whole process.
inline bool reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  if (!clear) return false;
  clear << "5";
  return bool(clear.flush());
}

}  // namespace kelk::bench
