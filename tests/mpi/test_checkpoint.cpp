// The checkpoint API (kelk_checkpoint.hpp) from a plain DistributedSolver::solve: a Checkpointer
// plugged into SolveOptions::on_iteration writes the iterate, read_checkpoint resumes it with
// InitialGuess::provided, and the resumed solve ends where the uninterrupted one does; a
// checkpoint of another problem is refused naming what differs; due() is one decision on
// every rank, the signal's request OR-reduced; the signal's previous handler comes back.
#include "../test_common.hpp"
#include "mpi_common.hpp"

#include <kelk/kelk_checkpoint.hpp>

#include <mpi.h>
#include <signal.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using kelk_test::world_rank;
using kelk_test::world_size;

std::string shared_name(const std::string& stem) {
  return stem + "_np" + std::to_string(world_size()) + ".h5";
}

/// This rank's block of a global problem, as contiguous Views.
struct Block {
  kelk::BatchView<double> s0;
  kelk::SequenceView<double> inputs;
};
Block block_of(const kelk_test::Problem<double>& p, const kelk::Partition& part) {
  const auto s0 = kelk::local_block(part, p.s0);
  const auto in = kelk::local_block(part, p.inputs);
  Block b{kelk::BatchView<double>("s0", s0.extent(0), s0.extent(1)),
          kelk::SequenceView<double>("inputs", in.extent(0), in.extent(1), in.extent(2))};
  Kokkos::deep_copy(b.s0, s0);
  Kokkos::deep_copy(b.inputs, in);
  return b;
}

const int B = 2, T = 301, D = 5, Din = 2;

/// The fingerprint of this test's problem, as kelk-run builds one.
kelk::Fingerprint fingerprint_of(const kelk::Partition& part, const kelk::SolveOptions& options,
                                 const Block& block) {
  kelk::Fingerprint data;
  data.add("model", "random GRU, seed 3");
  data.add("input", kelk::fingerprint_blocks(MPI_COMM_WORLD, block.s0, block.inputs));
  return kelk::solve_fingerprint<double>(part, D, options, data);
}

}  // namespace

TEST_CASE("a Checkpointer in on_iteration, resumed by read_checkpoint, continues the solve",
          "[checkpoint]") {
  const auto map = kelk::make_random_gru<double>(D, Din, 0.5, 3);
  const auto problem = kelk_test::random_problem<double>(B, T, D, Din, 4);
  const kelk::DistributedSolver solver(MPI_COMM_WORLD, B, T);
  const auto& part = solver.partition();
  const auto block = block_of(problem, part);
  const std::string file = shared_name("checkpoint_api");
  if (world_rank() == 0) std::remove(file.c_str());
  MPI_Barrier(MPI_COMM_WORLD);

  struct Case {
    kelk::Method method;
    int total;     // iterations of the uninterrupted solve (0: until converged)
    int stop;      // the interrupted solve's max_iter
    int every;     // its checkpoints
    int expected;  // the checkpoint's iteration
  };
  // jacobi with a fixed count: far from converged, so any other iterate resumed would end
  // elsewhere; deer until converged
  for (const Case c : {Case{kelk::Method::jacobi, 9, 6, 4, 4}, Case{kelk::Method::deer, 0, 2, 2, 2},
                       Case{kelk::Method::quasi_deer, 0, 3, 1, 3}}) {
    CAPTURE(kelk::to_string(c.method), world_rank());
    kelk::SolveOptions options;
    options.method = c.method;
    options.keep_best = false;  // the last iterate, in both runs
    options.record_history = true;
    if (c.total) {
      options.max_iter = c.total;
      options.fixed_iterations = true;
    }
    const auto fingerprint = fingerprint_of(part, options, block);

    kelk::SequenceView<double> full("full", part.local_batch(), part.local_length(), D);
    const auto uninterrupted = solver.solve(map, block.s0, block.inputs, full, options);
    REQUIRE(uninterrupted.iterations > c.stop);

    // interrupted after c.stop iterations, with a checkpoint every c.every
    {
      kelk::SequenceView<double> states("states", part.local_batch(), part.local_length(), D);
      kelk::Checkpointer checkpointer(MPI_COMM_WORLD, part, {file, c.every}, fingerprint,
                                      {{"note", std::string("from the test")}});
      auto interrupted = options;
      interrupted.max_iter = c.stop;
      interrupted.on_iteration = checkpointer.on_iteration(states, interrupted);
      solver.solve(map, block.s0, block.inputs, states, interrupted);
      CHECK(checkpointer.last_written() == c.expected);
      CHECK(checkpointer.history().size() == std::size_t(c.stop));
    }
    const auto h5 = kelk::hdf5::File::open_read(file);
    CHECK(h5.read_attribute<std::int64_t>("checkpoint_iteration") == c.expected);
    CHECK(h5.read_attribute<std::string>("checkpoint_method") == kelk::to_string(c.method));
    CHECK(h5.read_attribute<std::string>("checkpoint_input") == *fingerprint.find("input"));
    CHECK(h5.read_attribute<std::string>("note") == "from the test");
    CHECK(h5.has_checksum("states"));

    // resumed: the checkpoint's iterate as the initial guess, the count carried on
    kelk::SequenceView<double> resumed("resumed", part.local_batch(), part.local_length(), D);
    const auto checkpoint = kelk::read_checkpoint(file, MPI_COMM_WORLD, part, fingerprint, resumed);
    CHECK(checkpoint.iteration == c.expected);
    CHECK_FALSE(checkpoint.converged);
    CHECK(checkpoint.history.size() == std::size_t(c.expected));
    for (std::size_t i = 0; i < checkpoint.history.size(); ++i) {
      CHECK(checkpoint.history[i].iteration == int(i) + 1);
      CHECK(checkpoint.history[i].max_update == uninterrupted.history[i].max_update);
    }
    auto rest = options;
    rest.initial_guess = kelk::InitialGuess::provided;
    rest.max_iter = (c.total ? c.total : kelk::default_max_iter(c.method, T)) - checkpoint.iteration;
    kelk::Checkpointer again(MPI_COMM_WORLD, part, {file + ".again", 0}, fingerprint);
    again.resume(checkpoint);
    rest.on_iteration = again.on_iteration(resumed, rest);
    const auto after = solver.solve(map, block.s0, block.inputs, resumed, rest);
    CHECK(checkpoint.iteration + after.iterations == uninterrupted.iterations);
    CHECK(after.converged == uninterrupted.converged);
    CHECK(again.history().size() == uninterrupted.history.size());
    CHECK(again.history().back().iteration == uninterrupted.iterations);
    CHECK(again.last_written() == -1);  // every = 0, no signal: never due
    const double diff = kelk_test::max_abs_diff(resumed, full);
    INFO("max |resumed - uninterrupted| = " << diff);
    CHECK(diff <= 1e-12);

    // the same in one call: solve_checkpointed numbers on and merges the count and the history
    kelk::SequenceView<double> again_states("again", part.local_batch(), part.local_length(), D);
    const auto from = kelk::read_checkpoint(file, MPI_COMM_WORLD, part, fingerprint, again_states);
    std::vector<int> seen;
    auto numbered = options;
    numbered.on_iteration = [&](const kelk::IterationProgress& p) { seen.push_back(p.iteration); };
    const auto whole = kelk::solve_checkpointed(solver, Kokkos::DefaultExecutionSpace(), map,
                                                block.s0, block.inputs, again_states, numbered,
                                                nullptr, &from);
    CHECK(whole.iterations == uninterrupted.iterations);
    CHECK(whole.converged == uninterrupted.converged);
    REQUIRE(whole.history.size() == uninterrupted.history.size());
    for (std::size_t i = 0; i < whole.history.size(); ++i) {
      CHECK(whole.history[i].iteration == uninterrupted.history[i].iteration);
      CHECK(whole.history[i].max_update == uninterrupted.history[i].max_update);
    }
    REQUIRE_FALSE(seen.empty());
    CHECK(seen.front() == from.iteration + 1);
    CHECK(seen.back() == uninterrupted.iterations);
    CHECK(kelk_test::max_abs_diff(again_states, full) <= 1e-12);

    // and the iterate it resumed from is not the answer: the check can fail
    kelk::SequenceView<double> start("start", part.local_batch(), part.local_length(), D);
    kelk::read_checkpoint(file, MPI_COMM_WORLD, part, fingerprint, start);
    double gap = kelk_test::max_abs_diff(start, full);
    MPI_Allreduce(MPI_IN_PLACE, &gap, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    CHECK(gap > 1e-6);
  }
}

TEST_CASE("read_checkpoint refuses a checkpoint of another problem, naming what differs",
          "[checkpoint]") {
  const auto map = kelk::make_random_gru<double>(D, Din, 0.5, 3);
  const auto problem = kelk_test::random_problem<double>(B, T, D, Din, 4);
  const kelk::DistributedSolver solver(MPI_COMM_WORLD, B, T);
  const auto& part = solver.partition();
  const auto block = block_of(problem, part);
  const std::string file = shared_name("checkpoint_refused");
  kelk::SolveOptions options;
  options.method = kelk::Method::deer;
  const auto fingerprint = fingerprint_of(part, options, block);
  kelk::SequenceView<double> states("states", part.local_batch(), part.local_length(), D);
  {
    kelk::Checkpointer checkpointer(MPI_COMM_WORLD, part, {file, 1}, fingerprint);
    auto one = options;
    one.max_iter = 1;
    one.on_iteration = checkpointer.on_iteration(states, one);
    solver.solve(map, block.s0, block.inputs, states, one);
    REQUIRE(checkpointer.last_written() == 1);
  }
  const auto read = [&](const std::string& path, const kelk::Fingerprint& f) {
    kelk::SequenceView<double> s("s", part.local_batch(), part.local_length(), D);
    return kelk::read_checkpoint(path, MPI_COMM_WORLD, part, f, s);
  };
  CHECK(read(file, fingerprint).iteration == 1);

  auto other_method = options;
  other_method.method = kelk::Method::jacobi;
  CHECK_THROWS_WITH(read(file, fingerprint_of(part, other_method, block)),
                    Catch::Contains("'" + file + "' does not match this run: its method is "
                                    "'deer', this run's 'jacobi'"));
  const auto other_problem = kelk_test::random_problem<double>(B, T, D, Din, 5);
  CHECK_THROWS_WITH(read(file, fingerprint_of(part, options, block_of(other_problem, part))),
                    Catch::Contains("does not match this run: its input is 'fnv1a "));
  auto more = fingerprint;
  more.add("mesh", "refined twice");
  CHECK_THROWS_WITH(read(file, more),
                    Catch::Contains("its mesh is '(none)', this run's 'refined twice'"));
  // an output file that is not a checkpoint
  const std::string output = shared_name("checkpoint_not");
  kelk::SolveResult result;
  result.method = kelk::Method::deer;
  kelk::io::write_output(output, MPI_COMM_WORLD, part, states, result,
                         kelk::io::describe(options, result));
  CHECK_THROWS_WITH(read(output, fingerprint), Catch::Contains("is not a kelk-run checkpoint"));
  // fp32's fingerprint differs in its precision
  const auto single = kelk::solve_fingerprint<float>(part, D, options);
  CHECK(*single.find("precision") == "fp32");
  CHECK(*fingerprint.find("precision") == "fp64");
}

TEST_CASE("Checkpointer::due: one decision on every rank; the signal handler is restored",
          "[checkpoint]") {
  const kelk::DistributedSolver solver(MPI_COMM_WORLD, B, T);
  const auto& part = solver.partition();
  struct sigaction ignore {}, before {}, during {}, after {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGUSR2, &ignore, &before);
  {
    kelk::Checkpointer checkpointer(MPI_COMM_WORLD, part,
                                    {shared_name("checkpoint_due"), 3, 0.0, SIGUSR2},
                                    kelk::Fingerprint{});
    ::sigaction(SIGUSR2, nullptr, &during);
    CHECK(during.sa_handler != SIG_IGN);
    CHECK_FALSE(checkpointer.due(1));
    CHECK(checkpointer.due(3));
    CHECK_FALSE(checkpointer.due(4));
    if (world_rank() == world_size() - 1) ::raise(SIGUSR2);  // on one rank only
    CHECK(checkpointer.due(5));
    CHECK_FALSE(checkpointer.due(5));  // the request was consumed
  }
  ::sigaction(SIGUSR2, nullptr, &after);
  CHECK(after.sa_handler == SIG_IGN);
  ::sigaction(SIGUSR2, &before, nullptr);

  // seconds: rank 0's clock decides for every rank
  kelk::Checkpointer timed(MPI_COMM_WORLD, part, {shared_name("checkpoint_timed"), 0, 1e-9},
                           kelk::Fingerprint{});
  CHECK(timed.due(1));
  CHECK_THROWS_WITH(kelk::Checkpointer(MPI_COMM_WORLD, part, {"ck.h5", -1}, kelk::Fingerprint{}),
                    Catch::Contains("checkpoint every/seconds must be >= 0"));
  CHECK(kelk::checkpoint_signal_number("USR1") == SIGUSR1);
  CHECK(kelk::checkpoint_signal_number("SIGTERM") == SIGTERM);
  CHECK_THROWS_WITH(kelk::checkpoint_signal_number("KILL"),
                    Catch::Contains("unknown checkpoint signal 'KILL'"));
}
