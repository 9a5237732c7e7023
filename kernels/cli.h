// Command-line conventions (CLI11) shared by the demo and the benchmark
// programs: counts, usage errors, and the options of every program that
// compiles the bundled kernels (rtcache-demo, engine_bench, make_corpus).
#pragma once

#include <CLI/CLI.hpp>
#include <limits>
#include <optional>
#include <string>

namespace bundled {

// A count of at least 1 (CLI11's PositiveNumber also takes 0.5, and its
// message names a range up to 1.8e308).
inline CLI::Validator positive_count() {
  return CLI::Range(1, std::numeric_limits<int>::max()).description("POSITIVE");
}

// Parses the command line. --help prints the help and gives exit status 0; a
// usage error prints CLI11's message and gives 2, as these programs always
// have. nullopt: go on.
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

// --kernels DIR (where the kernel sources are) and --jobs N (threads
// compiling at once); the defaults are what the variables hold.
inline void add_kernel_options(CLI::App& app, std::string* kernel_dir, unsigned* jobs) {
  app.add_option("--kernels", *kernel_dir, "Directory of the kernel sources")
      ->type_name("DIR")
      ->capture_default_str();
  app.add_option("--jobs", *jobs, "Threads compiling at once")
      ->type_name("N")
      ->check(positive_count())
      ->capture_default_str();
}

}  // namespace bundled
