// What the process is doing, for the one line a fatal signal leaves behind. A crash inside a
// third-party library (libhdf5 reading a damaged file, seen with 1.10.8) would otherwise end in
// MPI's own signal handler, which can hang every rank; kelk's handler instead prints
//
//   kelk-run: fatal: SIGSEGV while reading 'model.h5'
//
// removes the temporary file of an output being written, and ends the process with _exit, so
// that the MPI launcher ends the other ranks. The activity lives in fixed buffers that only
// async-signal-safe calls read.
#pragma once

#include <string>

namespace kelk::activity {

/// Marks "VERB 'PATH'" (e.g. reading 'model.h5') as what this process does while it lives;
/// the one before it is what it did again afterwards. Scopes nest; a path too long for the
/// buffer is cut.
class Scope {
 public:
  Scope(const char* verb, const std::string& path) noexcept;
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  int level_;
};

/// Registers `path` (a temporary file being written) for removal when the process dies of a
/// signal; false if the path is too long to register. One file at a time.
bool set_pending_file(const std::string& path) noexcept;
/// Forgets the pending file (it was renamed or removed).
void clear_pending_file() noexcept;
/// Removes the pending file, if any; async-signal-safe.
void remove_pending_file() noexcept;

/// Installs kelk's handler for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT: one line
/// "PROGRAM: fatal: SIGNAL while ACTIVITY" on stderr, the pending file removed, _exit(128 +
/// signal). Call it after MPI_Init (MPI installs handlers of its own there) and before the
/// work. The handler runs on an alternate stack, so a stack overflow is reported too.
void install_fatal_signal_handler(const char* program);

}  // namespace kelk::activity
