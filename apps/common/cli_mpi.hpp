// The shared command-line rules (cli.hpp) for the apps that run under MPI: every rank parses
// the same arguments and takes the same decision, rank 0 alone prints, and ranks started with
// different arguments (an MPMD launch) are refused before they could disagree and hang.
//
//   MPI_Init(&argc, &argv);
//   if (const int code = kelk::apps::cli::parse_on_every_rank(cli, app, argc, argv); code >= 0) {
//     MPI_Finalize();
//     return code;
//   }
#pragma once

#include "cli.hpp"

#include <mpi.h>

#include <string>

namespace kelk::apps::cli {

/// The lowest rank of comm whose command line differs from rank 0's, or -1. Collective.
inline int first_different_command_line(MPI_Comm comm, int argc, char* argv[]) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::string mine;
  for (int i = 1; i < argc; ++i) mine.append(argv[i]).push_back('\0');
  int length = static_cast<int>(mine.size());
  MPI_Bcast(&length, 1, MPI_INT, 0, comm);
  std::string first = mine;
  first.resize(std::size_t(length));
  MPI_Bcast(&first[0], length, MPI_CHAR, 0, comm);
  int differs = first == mine ? size : rank;
  MPI_Allreduce(MPI_IN_PLACE, &differs, 1, MPI_INT, MPI_MIN, comm);
  return differs == size ? -1 : differs;
}

/// Parser::parse on every rank of MPI_COMM_WORLD, rank 0 printing; -1 to go on, otherwise the
/// exit code (the same on every rank). Collective.
inline int parse_on_every_rank(const Parser& cli, CLI::App& app, int argc, char* argv[]) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (const int other = first_different_command_line(MPI_COMM_WORLD, argc, argv); other >= 0)
    return cli.fail("rank " + std::to_string(other) +
                        " was started with other arguments than rank 0; every rank must be "
                        "given the same command line",
                    rank == 0);
  return cli.parse(app, argc, argv, rank == 0);
}

}  // namespace kelk::apps::cli
