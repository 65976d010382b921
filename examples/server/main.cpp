// lastmile-server: the reference server. See docs/server.md.
#include "reference_server.hpp"

#include <csignal>
#include <cstdio>
#include <pthread.h>

namespace {

// Runs the server over the chosen log until SIGINT/SIGTERM (blocked in `stop_signals`).
template <class Log>
int run(const lastmile_server::options& opts, const sigset_t& stop_signals) {
  lastmile_server::basic_reference_server<Log> server(opts);
  if (auto ec = server.listen()) {
    std::fprintf(stderr, "lastmile-server: cannot listen on %s:%u: %s\n", opts.host.c_str(), opts.port,
                 ec.message().c_str());
    return 1;
  }
  server.start();
  std::printf("listening on %s\n", server.url().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  server.shutdown();
  server.wait();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto parsed = lastmile_server::parse_flags(args);
  if (auto* err = std::get_if<std::string>(&parsed)) {
    std::fprintf(stderr, "lastmile-server: %s\n", err->c_str());
    return 2;
  }
  const auto& opts = std::get<lastmile_server::options>(parsed);
  if (opts.help) {
    std::fputs(lastmile_server::usage.data(), stdout);
    return 0;
  }

  // SIGINT/SIGTERM are taken synchronously by this thread; the event-loop threads
  // inherit the blocked mask, so no handler runs at a random place.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    if (opts.log.starts_with("sqlite:")) return run<lastmile::sqlite_log>(opts, stop_signals);
    return run<lastmile::memory_log>(opts, stop_signals);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lastmile-server: %s\n", e.what());
    return 1;
  }
}
