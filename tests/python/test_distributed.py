"""kelk.DistributedSolver under mpiexec at 1-3 ranks (mpi_distributed.py), when mpi4py and
mpiexec are there."""

import os
import shutil
import subprocess
import sys

import pytest

import kelk

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec")
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec")
@pytest.mark.skipif(not getattr(kelk._kelk, "have_mpi", False), reason="kelk without MPI")
@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_distributed_matches_one_process(ranks):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1",
               OMP_PROC_BIND="false")
    p = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable,
                        os.path.join(HERE, "mpi_distributed.py")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"ok at {ranks} ranks" in p.stdout


def test_comm_must_be_mpi4py():
    if not getattr(kelk._kelk, "have_mpi", False):
        pytest.skip("kelk without MPI")
    with pytest.raises(TypeError):
        kelk.DistributedSolver("world", 1, 10)
