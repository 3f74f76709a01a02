/* kelk's C API over an MPI communicator: include after (or instead of) kelk.h in MPI programs. */
#ifndef KELK_MPI_H
#define KELK_MPI_H

#include <mpi.h>

#include <kelk/kelk.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Collective over `comm` (kelk duplicates it; the caller keeps and frees its own): splits its
 * ranks into batch_ranks groups of sequences, each group's ranks splitting the T steps of
 * `batch` sequences. Every rank gets the same status. */
kelk_status kelk_solver_create(kelk_solver** solver, MPI_Comm comm, int batch, int length,
                               int batch_ranks);

#ifdef __cplusplus
}
#endif

#endif /* KELK_MPI_H */
