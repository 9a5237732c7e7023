// Command-line options (CLI11) the benchmarks share: the child-process mode,
// and store_bench's and peer_bench's corpus, entry counts, rounds and temp
// dir. Apart from bench_common.h, so that the stores' files do not parse
// CLI11.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/cli.h"

namespace bench {

struct CorpusBenchOptions {
  std::filesystem::path corpus_dir;
  std::vector<uint64_t> sizes = {1'000, 10'000};
  int runs = 5;        // slow operations (whole-store reads and writes)
  int fast_runs = 15;  // operations under ~10 ms
  std::filesystem::path tmp_root = "/tmp";
};

// Adds --corpus, --sizes, --runs, --fast-runs and --tmpdir; returns --corpus
// (the caller says whether it is required).
inline CLI::Option* add_corpus_bench_options(CLI::App& app, CorpusBenchOptions* options) {
  CLI::Option* corpus =
      app.add_option("--corpus", options->corpus_dir, "The cubins bench/make_corpus wrote")
          ->check(CLI::ExistingDirectory);
  app.add_option("--sizes", options->sizes, "Entry counts to measure, comma-separated")
      ->type_name("N,...")
      ->delimiter(',')
      ->check(bundled::positive_count())
      ->capture_default_str();
  app.add_option("--runs", options->runs, "Rounds of each measurement")
      ->type_name("N")
      ->check(bundled::positive_count())
      ->capture_default_str();
  app.add_option("--fast-runs", options->fast_runs, "Rounds of the cheap measurements")
      ->type_name("N")
      ->check(bundled::positive_count())
      ->capture_default_str();
  app.add_option("--tmpdir", options->tmp_root, "Directory for the stores' files")
      ->type_name("DIR")
      ->envname("TMPDIR")
      ->capture_default_str();
  return corpus;
}

// For a benchmark that runs itself as child processes (fork + exec with
// --child MODE and options of its own, hidden from --help like --child):
// adds --child, and makes `parent_only` required when --child is absent.
inline void add_child_mode(CLI::App& app, std::string* mode, CLI::Option* parent_only) {
  CLI::Option* child = app.add_option("--child", *mode)->group("");
  app.callback([child, parent_only] {
    if (child->count() == 0 && parent_only->count() == 0)
      throw CLI::RequiredError(parent_only->get_name());
  });
}

}  // namespace bench
