// The command-line rules every kelk app shares, on top of CLI11: an unknown option, a stray
// positional argument, an empty value, a number that is not finite or out of range, and a
// misspelt Kokkos flag are all errors that exit 1 with one short line naming the option:
//
//   kelk::apps::cli::Parser cli("kelk-demo");   // before Kokkos sees argv
//   app.add_option("--dt", dt, "RK4 step")->check(kelk::apps::cli::positive());
//   if (const int code = cli.parse(app, argc, argv); code >= 0) return code;
//
// Numbers are checked as text before CLI11 converts them, so NaN and Inf never pass (CLI11's
// own PositiveNumber lets NaN through and prints DBL_MAX with 309 digits).
#pragma once

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace kelk::apps::cli {

/// A number as a person writes it: %g (1e+308, not 309 digits).
inline std::string short_number(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", x);
  return text;
}

/// The value of `text` as a double, or a message saying why it is not a finite number.
inline std::string parse_finite(const std::string& text, double& value) {
  char* end = nullptr;
  errno = 0;
  value = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || *end != '\0')
    return "expects a number, got '" + text + "'";
  if (!std::isfinite(value) || errno == ERANGE && std::abs(value) > 1)
    return "expects a finite number, got '" + text + "'";
  return "";
}

/// A finite number in [lo, hi] (either bound may be infinite: no bound on that side).
inline CLI::Validator range(double lo, double hi) {
  const std::string description = std::isinf(lo) && std::isinf(hi) ? "finite"
                                  : std::isinf(hi)                 ? ">= " + short_number(lo)
                                  : std::isinf(lo)
                                      ? "<= " + short_number(hi)
                                      : "in [" + short_number(lo) + ", " + short_number(hi) + "]";
  return CLI::Validator(
      [lo, hi](std::string& text) {
        double v = 0;
        std::string why = parse_finite(text, v);
        if (!why.empty()) return why;
        if (v < lo || v > hi) {
          if (std::isinf(hi)) return "must be >= " + short_number(lo) + ", got " + text;
          if (std::isinf(lo)) return "must be <= " + short_number(hi) + ", got " + text;
          return "must be between " + short_number(lo) + " and " + short_number(hi) + ", got " +
                 text;
        }
        return std::string();
      },
      description, "");
}

/// Any finite number.
inline CLI::Validator finite() {
  constexpr double inf = std::numeric_limits<double>::infinity();
  return range(-inf, inf);
}

/// A finite number >= 0.
inline CLI::Validator non_negative() {
  return range(0, std::numeric_limits<double>::infinity());
}

/// A finite number > 0.
inline CLI::Validator positive() {
  return CLI::Validator(
      [](std::string& text) {
        double v = 0;
        std::string why = parse_finite(text, v);
        if (!why.empty()) return why;
        return v > 0 ? std::string() : "must be > 0, got " + text;
      },
      "> 0", "");
}

/// Decimal digits only: a seed or count that must not be negative (CLI11 would wrap "-1" into
/// an unsigned variable).
inline CLI::Validator unsigned_integer() {
  return CLI::Validator(
      [](std::string& text) {
        const bool digits =
            !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        return digits ? std::string() : "expects an integer >= 0, got '" + text + "'";
      },
      "", "");
}

/// Refuses an empty value for every option of `app` that takes one ("" is never meant: it is a
/// variable that expanded to nothing). Runs before the option's own checks.
inline void refuse_empty_values(CLI::App& app) {
  const CLI::Validator non_empty(
      [](std::string& text) {
        return text.empty() ? std::string("must not be empty") : std::string();
      },
      "", "");
  for (CLI::Option* option : app.get_options())
    if (option->get_type_size_max() > 0) option->transform(non_empty);
}

/// One Kokkos command-line flag kelk passes through: its name and what may follow it.
struct KokkosFlag {
  const char* name;
  enum Value { none, boolean, positive, non_negative, devices, text, map_device } value;
};

/// The flags the Kokkos kelk is built with knows (Kokkos 3.4: core/src/impl/Kokkos_Core.cpp;
/// Kokkos 4.x: the same file and Kokkos_Profiling.cpp). The thread count is accepted in both
/// spellings: kelk::initialize translates it.
inline const std::vector<KokkosFlag>& kokkos_flags() {
  static const std::vector<KokkosFlag> flags = {
    {"--kokkos-threads", KokkosFlag::positive},
    {"--kokkos-num-threads", KokkosFlag::positive},
    {"--kokkos-device-id", KokkosFlag::non_negative},
#if KOKKOS_VERSION < 40000
    {"--kokkos-numa", KokkosFlag::positive},
    {"--kokkos-device", KokkosFlag::non_negative},
    {"--kokkos-num-devices", KokkosFlag::devices},
    {"--kokkos-ndevices", KokkosFlag::devices},
    {"--kokkos-disable-warnings", KokkosFlag::none},
    {"--kokkos-tune-internals", KokkosFlag::none},
    {"--kokkos-tools-library", KokkosFlag::text},
#else
    {"--kokkos-map-device-id-by", KokkosFlag::map_device},
    {"--kokkos-disable-warnings", KokkosFlag::boolean},
    {"--kokkos-print-configuration", KokkosFlag::boolean},
    {"--kokkos-tune-internals", KokkosFlag::boolean},
    {"--kokkos-tools-libs", KokkosFlag::text},
    {"--kokkos-tools-library", KokkosFlag::text},
#endif
    {"--kokkos-tools-args", KokkosFlag::text},
    {"--kokkos-tools-help", KokkosFlag::none},
    {"--kokkos-help", KokkosFlag::none},
  };
  return flags;
}

/// Throws unless `arg` is a Kokkos flag of kokkos_flags() with a valid value (Kokkos ignores a
/// misspelt flag, and aborts the process on a bad value or treats 0 threads as an error).
inline void check_kokkos_flag(const std::string& arg) {
  const auto eq = arg.find('=');
  const std::string name = arg.substr(0, eq);
  const bool has_value = eq != std::string::npos;
  const std::string value = has_value ? arg.substr(eq + 1) : "";
  for (const auto& flag : kokkos_flags()) {
    if (name != flag.name) continue;
    const auto integer = [&](long lowest) {
      char* end = nullptr;
      errno = 0;
      const long v = std::strtol(value.c_str(), &end, 10);
      return !value.empty() && value.find_first_not_of("0123456789") == std::string::npos &&
             *end == '\0' && errno == 0 && v >= lowest && v <= std::numeric_limits<int>::max();
    };
    std::string needs;
    switch (flag.value) {
      case KokkosFlag::none:
        if (has_value) needs = "no value";
        break;
      case KokkosFlag::boolean:
        if (has_value && value != "true" && value != "false" && value != "1" && value != "0" &&
            value != "yes" && value != "no")
          needs = "no value, or =true or =false";
        break;
      case KokkosFlag::positive:
        if (!integer(1)) needs = "a positive integer, e.g. " + name + "=2";
        break;
      case KokkosFlag::non_negative:
        if (!integer(0)) needs = "an integer >= 0, e.g. " + name + "=0";
        break;
      case KokkosFlag::devices: {
        const auto comma = value.find(',');
        const std::string count = value.substr(0, comma);
        const std::string skip = comma == std::string::npos ? "0" : value.substr(comma + 1);
        const auto digits = [](const std::string& s) {
          return !s.empty() && s.size() < 10 &&
                 s.find_first_not_of("0123456789") == std::string::npos;
        };
        if (!digits(count) || !digits(skip) || std::atoi(count.c_str()) < 1)
          needs = "a device count, optionally a device to skip, e.g. " + name + "=2 or " + name +
                  "=2,0";
        break;
      }
      case KokkosFlag::text:
        if (value.empty()) needs = "a value, e.g. " + name + "=...";
        break;
      case KokkosFlag::map_device:
        if (value != "random" && value != "mpi_rank") needs = "random or mpi_rank";
        break;
    }
    if (!needs.empty()) throw std::invalid_argument("Kokkos option '" + arg + "' needs " + needs);
    return;
  }
  std::string known;
  for (const auto& flag : kokkos_flags())
    known += std::string(known.empty() ? "" : ", ") + flag.name;
  throw std::invalid_argument("unknown Kokkos option '" + name + "' (Kokkos " +
                              std::to_string(KOKKOS_VERSION / 10000) + "." +
                              std::to_string(KOKKOS_VERSION / 100 % 100) + " knows " + known + ")");
}

/// What CLI11 left over (app.remaining()): only Kokkos flags may be there.
inline void check_extras(const std::vector<std::string>& extras, const std::string& program) {
  for (const auto& extra : extras) {
    if (extra.rfind("--kokkos-", 0) == 0)
      check_kokkos_flag(extra);
    else if (!extra.empty() && extra[0] == '-' && extra != "-")
      throw std::invalid_argument("unknown option '" + extra + "' (" + program +
                                  " --help lists them)");
    else
      throw std::invalid_argument("unexpected argument '" + extra + "' (" + program +
                                  " --help lists the options)");
  }
}

/// Parses the command line by the shared rules. Prints an error as one line
/// "PROGRAM: error: ..." on stderr, and help on stdout, only where `talk` (rank 0 of an MPI
/// program: every rank parses the same arguments and takes the same decision).
class Parser {
 public:
  explicit Parser(std::string program) : program_(std::move(program)) {}

  const std::string& program() const { return program_; }

  /// -1 to go on; otherwise the code to exit with: 0 after --help, 1 on any error.
  int parse(CLI::App& app, int argc, char** argv, bool talk = true) const {
    app.allow_extras();
    refuse_empty_values(app);
    try {
      app.parse(argc, argv);
      check_extras(app.remaining(), program_);
    } catch (const CLI::ParseError& e) {
      if (e.get_exit_code() == 0) {  // --help
        if (talk) app.exit(e);
        return 0;
      }
      return fail(e.what(), talk);
    } catch (const std::exception& e) {
      return fail(e.what(), talk);
    }
    return -1;
  }

  /// Prints "PROGRAM: error: MESSAGE" where `talk`; returns 1.
  int fail(const std::string& message, bool talk = true) const {
    if (talk) std::fprintf(stderr, "%s: error: %s\n", program_.c_str(), message.c_str());
    return 1;
  }

 private:
  std::string program_;
};

}  // namespace kelk::apps::cli
