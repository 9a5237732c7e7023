// save_on_signals: a signal handler that only writes the signal number to a
// pipe, and a thread that saves the registered handles, then hands the
// signal back to whatever handled it before.
#include "rtcache/signals.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "lifecycle/exit_registry.h"
#include "rtcache/log.h"

namespace rtcache {
namespace {

struct SignalState {
  std::mutex mu;
  int pipe_read = -1;
  int pipe_write = -1;
  pid_t owner = 0;
  std::atomic<int64_t> deadline_ms{5000};
  struct sigaction previous[NSIG];
  bool installed[NSIG] = {};
  bool thread_started = false;
};

SignalState& state() {
  static SignalState* s = new SignalState();  // never destroyed: the handler may run at any time
  return *s;
}

// Async-signal-safe: getpid, write, sigaction and raise only.
void on_signal(int signo) {
  SignalState& s = state();
  int saved_errno = errno;
  if (getpid() != s.owner) {
    // A forked child: behave as if nothing had been installed.
    sigaction(signo, &s.previous[signo], nullptr);
    raise(signo);
  } else {
    unsigned char byte = static_cast<unsigned char>(signo);
    ssize_t ignored = write(s.pipe_write, &byte, 1);
    (void)ignored;
  }
  errno = saved_errno;
}

void watch_signals() {
  SignalState& s = state();
  while (true) {
    unsigned char byte = 0;
    ssize_t n = read(s.pipe_read, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) return;
    const int signo = byte;
    auto deadline = std::chrono::milliseconds(s.deadline_ms.load());
    size_t saved = save_registered_handles(deadline);
    log(LogLevel::kInfo, "signal " + std::to_string(signo) + ": saved " + std::to_string(saved) +
                             " runtime cache(s)");
    struct sigaction previous;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      previous = s.previous[signo];
      s.installed[signo] = false;
    }
    sigaction(signo, &previous, nullptr);
    raise(signo);  // the process now ends (or not) as it would have
  }
}

}  // namespace

size_t save_registered_handles(std::chrono::milliseconds deadline) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    size_t saved = 0;
  };
  auto shared = std::make_shared<Shared>();
  // On its own thread so that a save stuck on a lock cannot hold the
  // process past the deadline.
  std::thread([shared] {
    size_t saved = 0;
    for (auto& handle : exit_registry::live_handles()) {
      if (!handle->autosave_enabled()) continue;
      Status s = handle->save();
      if (s.ok()) {
        ++saved;
      } else {
        log(LogLevel::kWarning, "saving on signal failed: " + s.to_string());
      }
    }
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->saved = saved;
    shared->done = true;
    shared->cv.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(shared->mu);
  if (!shared->cv.wait_for(lock, deadline, [&] { return shared->done; })) {
    log(LogLevel::kWarning, "saving on signal: deadline of " + std::to_string(deadline.count()) +
                                " ms passed before every cache was saved");
  }
  return shared->saved;
}

Status save_on_signals(std::initializer_list<int> signals, std::chrono::milliseconds deadline) {
  SignalState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.deadline_ms.store(deadline.count());
  if (s.pipe_read < 0) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      return Status::IOError(std::string("save_on_signals: pipe: ") + std::strerror(errno));
    }
    s.pipe_read = fds[0];
    s.pipe_write = fds[1];
    // The handler must never block, even if signals arrive faster than saves.
    fcntl(s.pipe_write, F_SETFL, fcntl(s.pipe_write, F_GETFL) | O_NONBLOCK);
  }
  s.owner = getpid();
  if (!s.thread_started) {
    std::thread(watch_signals).detach();
    s.thread_started = true;
  }
  for (int signo : signals) {
    if (signo <= 0 || signo >= NSIG) {
      return Status::InvalidArgument("save_on_signals: bad signal " + std::to_string(signo));
    }
    if (s.installed[signo]) continue;
    struct sigaction action = {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    if (sigaction(signo, &action, &s.previous[signo]) != 0) {
      return Status::InvalidArgument("save_on_signals: signal " + std::to_string(signo) + ": " +
                                     std::strerror(errno));
    }
    s.installed[signo] = true;
  }
  return Status::OK();
}

}  // namespace rtcache
