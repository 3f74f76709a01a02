// What the process is doing (kelk::activity::Scope), the temporary file to remove if it dies,
// and the fatal-signal handler that reports both. Everything the handler touches is a fixed
// buffer; it calls only write, unlink and _exit (async-signal-safe).
#include <kelk/kelk_activity.hpp>

#include <unistd.h>
#include <csignal>
#include <cstring>

namespace kelk::activity {

namespace {

constexpr int levels = 8;             // nested scopes kept; deeper ones report the 8th
constexpr std::size_t length = 1024;  // per activity text, cut beyond
char texts[levels][length];
volatile std::sig_atomic_t depth = 0;

char pending_path[4096];
volatile std::sig_atomic_t pending = 0;

char program_name[128] = "kelk";

/// Appends the C string `s` to buffer[n...capacity - 1); async-signal-safe.
void append(char* buffer, std::size_t capacity, std::size_t& n, const char* s) {
  while (*s && n + 1 < capacity) buffer[n++] = *s++;
  buffer[n] = '\0';
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGABRT:
      return "SIGABRT";
    default:
      return "a fatal signal";
  }
}

constexpr int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
char alternate_stack[1 << 16];  // the handler's stack: a stack overflow is reported too

extern "C" void on_fatal_signal(int sig) {
  char line[length + 4096 + 256];
  std::size_t n = 0;
  append(line, sizeof line, n, program_name);
  append(line, sizeof line, n, ": fatal: ");
  append(line, sizeof line, n, signal_name(sig));
  const int d = depth < levels ? int(depth) : levels;
  if (d > 0) {
    append(line, sizeof line, n, " while ");
    append(line, sizeof line, n, texts[d - 1]);
  }
  if (pending && ::unlink(pending_path) == 0) {
    append(line, sizeof line, n, "; removed the temporary file '");
    append(line, sizeof line, n, pending_path);
    append(line, sizeof line, n, "'");
  }
  append(line, sizeof line, n, "\n");
  for (std::size_t done = 0; done < n;) {
    const ssize_t w = ::write(STDERR_FILENO, line + done, n - done);
    if (w <= 0) break;
    done += std::size_t(w);
  }
  ::_exit(128 + sig);
}

}  // namespace

Scope::Scope(const char* verb, const std::string& path) noexcept : level_(depth) {
  if (level_ < levels) {
    char* text = texts[level_];
    std::size_t n = 0;
    text[0] = '\0';
    append(text, length, n, verb);
    append(text, length, n, " '");
    append(text, length, n, path.c_str());
    append(text, length, n, "'");
  }
  depth = level_ + 1;
}

Scope::~Scope() {
  depth = level_;
}

bool set_pending_file(const std::string& path) noexcept {
  pending = 0;
  if (path.size() >= sizeof pending_path) return false;
  std::memcpy(pending_path, path.c_str(), path.size() + 1);
  pending = 1;
  return true;
}

void clear_pending_file() noexcept {
  pending = 0;
}

void remove_pending_file() noexcept {
  if (pending) ::unlink(pending_path);
}

void install_fatal_signal_handler(const char* program) {
  std::size_t n = 0;
  append(program_name, sizeof program_name, n, program);
  stack_t stack{};
  stack.ss_sp = alternate_stack;
  stack.ss_size = sizeof alternate_stack;
  ::sigaltstack(&stack, nullptr);
  struct sigaction action {};
  action.sa_handler = on_fatal_signal;
  // SA_RESETHAND: a fault inside the handler ends the process the default way
  action.sa_flags = SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (const int sig : fatal_signals) sigaddset(&action.sa_mask, sig);
  for (const int sig : fatal_signals) ::sigaction(sig, &action, nullptr);
}

}  // namespace kelk::activity
