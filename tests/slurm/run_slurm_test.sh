#!/usr/bin/env bash
# The SLURM scaling jobs under a real SLURM: starts a private one-node cluster on this machine
# (its own munged, slurmctld and slurmd, Debian's slurm-wlm 22.05), submits
# scripts/slurm/strong_scaling.sbatch and weak_scaling.sbatch for a tiny problem with sbatch,
# waits for them, merges their CSVs with scripts/collect_bench.py and checks the merged table.
#   run_slurm_test.sh BUILD_DIR REPO_ROOT
# Everything lives in a private temporary folder (configuration, munge key and socket, state,
# spool, logs, job output) and the daemons listen on free ports, so a system-wide SLURM or
# MUNGE is neither used nor touched; the daemons started here are stopped, and the folder
# removed, on every exit. Runs as root (SlurmUser=root) or as any user that may run the
# daemons. Installs nothing: scripts/setup.sh installs the packages.
# Exit status 77 (CTest's SKIP_RETURN_CODE) with "SKIP: reason" when the SLURM or MUNGE
# programs are missing or the cluster cannot start here; KELK_SLURM_REQUIRED=1 makes that
# a failure instead. KELK_SLURM_KEEP=1 keeps the temporary folder (its path is printed);
# KELK_SLURM_MPI=pmix|pmi2|none sets srun's MPI plugin (default: pmix if SLURM has it).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR REPO_ROOT" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
repo=$(cd "$2" && pwd)
bench=$build/apps/kelk-bench
py=/usr/bin/python3
[ -x "$py" ] || py=python3
start_time=$SECONDS

log() { printf '[slurm test %(%T)T] %s\n' -1 "$*"; }
fail() {
  log "FAIL: $*" >&2
  exit 1
}
skip() {
  if [ "${KELK_SLURM_REQUIRED:-0}" = 1 ]; then fail "SLURM required (KELK_SLURM_REQUIRED=1): $*"; fi
  echo "SKIP: $*"
  exit 77
}

# --- programs ---------------------------------------------------------------------------------
# The daemons are in /usr/sbin, which a non-root PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin
missing=()
for prog in munged munge unmunge slurmctld slurmd sbatch srun scontrol sinfo scancel; do
  command -v "$prog" >/dev/null 2>&1 || missing+=("$prog")
done
if ((${#missing[@]})); then
  skip "SLURM/MUNGE programs not found: ${missing[*]} (scripts/setup.sh installs slurmctld slurmd slurm-client munge)"
fi
[ -x "$bench" ] || fail "kelk-bench not found: $bench"
for f in strong_scaling.sbatch weak_scaling.sbatch; do
  [ -f "$repo/scripts/slurm/$f" ] || fail "missing $repo/scripts/slurm/$f"
done

# --- private folder and clean-up --------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kelk-slurm.XXXXXX")
# munged wants its socket folder and the folders above it searchable by all.
chmod 0755 "$tmp"
daemon_pids=()
cleanup() {
  local status=$?
  set +e
  # Cancel what is still queued or running, then stop the daemons started here (by PID).
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && ((${#daemon_pids[@]} > 1)); then
    timeout 10 scancel --full ${job_ids[@]+"${job_ids[@]}"} >/dev/null 2>&1
  fi
  local i pid
  for ((i = ${#daemon_pids[@]} - 1; i >= 0; i--)); do
    pid=${daemon_pids[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  # Job steps (slurmstepd) of a killed slurmd: whatever still runs from our spool folder.
  for pid in $(pgrep -f "$tmp" 2>/dev/null); do
    [ "$pid" != $$ ] && kill -KILL "$pid" 2>/dev/null
  done
  if [ "${KELK_SLURM_KEEP:-0}" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  log "daemons stopped; $((SECONDS - start_time)) s in all"
  exit "$status"
}
job_ids=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() { # the daemons' logs, for a failure or a skip
  local f
  for f in "$tmp"/munge/munged.log "$tmp"/log/slurmctld.log "$tmp"/log/slurmd.log \
    "$tmp"/log/*.stderr; do
    [ -s "$f" ] || continue
    echo "----- ${f#"$tmp"/} (last 25 lines)"
    tail -n 25 "$f"
  done
}

mkdir -p "$tmp"/{munge,socket,state,spool,tmpfs,log,run,jobs,out}
chmod 0700 "$tmp"/munge
chmod 0755 "$tmp"/socket

# --- munge ------------------------------------------------------------------------------------
# munged refuses a key readable by others and folders writable by others (key, seed and log
# are in a 0700 folder, the key 0600) and a socket folder that not all can search (0755).
key=$tmp/munge/munge.key
socket=$tmp/socket/munge.socket
if command -v mungekey >/dev/null 2>&1; then
  mungekey --create --keyfile="$key" --bits=1024 >/dev/null 2>&1 || true
fi
if [ ! -s "$key" ]; then
  dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
fi
chmod 0600 "$key"
munged --foreground --socket="$socket" --key-file="$key" --pid-file="$tmp/munge/munged.pid" \
  --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/munged.seed" \
  >"$tmp/log/munged.stderr" 2>&1 &
daemon_pids+=($!)
for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
if ! [ -S "$socket" ] || ! munge --socket="$socket" --no-input 2>/dev/null |
  unmunge --socket="$socket" >/dev/null 2>&1; then
  show_logs
  skip "munged does not start here (logs above)"
fi
log "munged up: $socket"

# --- slurm.conf -------------------------------------------------------------------------------
node=$(hostname -s 2>/dev/null || hostname)
# This machine as slurmd sees it: CPUs, sockets, cores, threads, memory.
hw=$(slurmd -C 2>/dev/null | head -n 1) || true
field() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<<"$hw"; }
cpus=$(field CPUs) boards=$(field Boards) sockets=$(field SocketsPerBoard)
cores=$(field CoresPerSocket) threads_per_core=$(field ThreadsPerCore) mem=$(field RealMemory)
if [ -z "$cpus" ] || [ -z "$mem" ]; then
  skip "slurmd -C does not describe this machine: '$hw'"
fi
if [ "$cpus" -lt 2 ]; then
  skip "the jobs need 2 CPUs for 2 ranks; slurmd -C reports $cpus"
fi
# Two free TCP ports on the loopback interface (the system ports 6817/6818 may be taken).
read -r ctld_port slurmd_port < <("$py" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
EOF
)

# The client commands below read SLURM_CONF; the SLURM and sbatch/srun input variables of an
# allocation this test may run in (SBATCH_PARTITION, SLURM_JOB_ID, ...) would reach them too.
while read -r var; do
  unset "$var"
done < <(compgen -e | grep -E '^(SLURM|SBATCH|SALLOC|SRUN|SCRUN)_' || true)
export SLURM_CONF=$tmp/slurm.conf
: >"$tmp/plugstack.conf"
user=$(id -un)
cat >"$SLURM_CONF" <<EOF
# Generated by tests/slurm/run_slurm_test.sh: a private one-node cluster.
ClusterName=kelktest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
# TmpFS: where the PMIx plugin makes its per-step folders (/tmp/spmix_appdir_<uid>_<job>.<step>
# by default, which clash with those a killed earlier run left, as job ids restart at 1).
TmpFS=$tmp/tmpfs
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$tmp/plugstack.conf
ProctrackType=proctrack/linuxproc
# No cgroups needed; srun binds no task to CPUs (the scripts then leave the ranks unpinned).
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus Boards=${boards:-1} SocketsPerBoard=${sockets:-1} CoresPerSocket=${cores:-$cpus} ThreadsPerCore=${threads_per_core:-1} RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
# How srun starts MPI ranks: PMIx when SLURM has the plugin (Debian's Open MPI 4.1 is a PMIx
# client through its external libpmix; it has no PMI-2 client), else PMI-2, else none.
# KELK_SLURM_MPI=pmix|pmi2|none overrides the choice.
mpi_types=$(srun --mpi=list 2>&1 || true)
mpi_default=${KELK_SLURM_MPI:-}
if [ -n "$mpi_default" ]; then
  :
elif grep -qw pmix <<<"$mpi_types"; then
  mpi_default=pmix
elif grep -qw pmi2 <<<"$mpi_types"; then
  mpi_default=pmi2
else
  mpi_default=none
fi
sed -i "s/^MpiDefault=none\$/MpiDefault=$mpi_default/" "$SLURM_CONF"
log "cluster: node $node, $cpus CPUs, ${mem} MB, ports $ctld_port/$slurmd_port, MpiDefault=$mpi_default"

# --- daemons ----------------------------------------------------------------------------------
slurmctld -D -i -f "$SLURM_CONF" >"$tmp/log/slurmctld.stderr" 2>&1 &
daemon_pids+=($!)
slurmd -D -N "$node" -f "$SLURM_CONF" >"$tmp/log/slurmd.stderr" 2>&1 &
daemon_pids+=($!)
state=
for _ in $(seq 60); do
  for pid in "${daemon_pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { show_logs; skip "a SLURM daemon exited at start (logs above)"; }
  done
  state=$(sinfo --noheader --nodes="$node" --format=%T 2>/dev/null | head -n 1) || true
  [ "$state" = idle ] && break
  sleep 0.5
done
if [ "$state" != idle ]; then
  show_logs
  scontrol show node "$node" 2>&1 || true
  skip "the node did not become idle within 30 s (state '${state:-none}'; logs above)"
fi
log "slurmctld and slurmd up, node $node idle"

# --- the jobs ---------------------------------------------------------------------------------
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_hwloc_base_binding_policy=none
export KELK_BENCH=$bench KELK_D=8 KELK_REPEATS=1 KELK_WARMUP=0
export KELK_METHODS=block_jacobi,quasi_deer
unset KELK_RANKS KELK_BENCH_ARGS KELK_SRUN_ARGS KELK_DRY_RUN KELK_WEAK_AXIS KELK_B \
  KELK_B_PER_RANK KELK_BATCH_RANKS KELK_MAP KELK_PRECISION KELK_BLOCKS KELK_T KELK_T_PER_RANK \
  KELK_OUT
job_time=5 # minutes
# Two ranks on one node. --ntasks-per-node, not --ntasks: the scripts' #SBATCH
# --ntasks-per-node=4 would stay in force beside an --ntasks, and this node may have 2 CPUs.
submit() { # submit NAME SCRIPT ENV... : prints the job id
  local name=$1 script=$2
  shift 2
  (cd "$tmp/jobs" && env "$@" sbatch --parsable --nodes=1 --ntasks-per-node=2 \
    --time="$job_time" --output="$tmp/jobs/$name-%j.out" "$repo/scripts/slurm/$script")
}
strong_id=$(submit strong strong_scaling.sbatch KELK_T=2000 KELK_OUT="$tmp/out/strong") ||
  fail "sbatch strong_scaling.sbatch failed"
job_ids+=("${strong_id%%;*}")
weak_id=$(submit weak weak_scaling.sbatch KELK_T_PER_RANK=1000 KELK_OUT="$tmp/out/weak") ||
  fail "sbatch weak_scaling.sbatch failed"
job_ids+=("${weak_id%%;*}")
log "submitted: strong job ${job_ids[0]}, weak job ${job_ids[1]}"

job_state() { scontrol show job --oneliner "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
job_exit() { scontrol show job --oneliner "$1" 2>/dev/null | sed -n 's/.* ExitCode=\([0-9:]*\).*/\1/p'; }
show_job() {
  local id=$1 f
  scontrol show job "$id" 2>&1 || true
  for f in "$tmp"/jobs/*-"$id".out; do
    [ -f "$f" ] || continue
    echo "----- job output ${f##*/}"
    cat "$f"
  done
}
deadline=$((SECONDS + 60 * job_time + 30))
declare -A final=()
while ((${#final[@]} < ${#job_ids[@]})); do
  for id in "${job_ids[@]}"; do
    [ -z "${final[$id]:-}" ] || continue
    s=$(job_state "$id")
    case $s in
      PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | '') ;;
      *)
        final[$id]=$s
        log "job $id: $s, exit code $(job_exit "$id")"
        ;;
    esac
  done
  ((${#final[@]} < ${#job_ids[@]})) || break
  if ((SECONDS > deadline)); then
    for id in "${job_ids[@]}"; do show_job "$id"; done
    show_logs
    fail "the jobs did not finish within $((60 * job_time + 30)) s"
  fi
  sleep 1
done
bad=0
for id in "${job_ids[@]}"; do
  if [ "${final[$id]}" != COMPLETED ]; then
    show_job "$id"
    bad=1
  fi
done
if [ "$bad" = 1 ]; then
  show_logs
  fail "a job did not complete (output above)"
fi
for id in "${job_ids[@]}"; do
  echo "----- job output $(basename "$tmp"/jobs/*-"$id".out)"
  cat "$tmp"/jobs/*-"$id".out
done

# --- collect and check ------------------------------------------------------------------------
"$py" "$repo/scripts/collect_bench.py" -o "$tmp/all.csv" --markdown "$tmp/table.md" \
  "$tmp/out/strong" "$tmp/out/weak" || fail "collect_bench.py failed"
echo "----- merged table (collect_bench.py --markdown)"
cat "$tmp/table.md"
"$py" - "$tmp/all.csv" "$tmp/table.md" <<'EOF' || fail "the merged table is not as expected"
import csv, sys

rows = list(csv.DictReader(open(sys.argv[1])))
table = open(sys.argv[2]).read()
errors = []
methods = ["block_jacobi", "quasi_deer"]
# kind -> T at 1 and 2 ranks (strong: fixed T = 2000; weak: T = 1000 per rank)
sizes = {"strong": {1: 2000, 2: 2000}, "weak": {1: 1000, 2: 2000}}
for kind, by_ranks in sizes.items():
    for method in methods:
        for ranks, T in by_ranks.items():
            name = "%s_r%d_t1.csv" % (kind, ranks)
            found = [r for r in rows if r["source_file"].endswith("/" + kind + "/" + name)
                     and r["method"] == method]
            what = "%s %s ranks=%d" % (kind, method, ranks)
            if len(found) != 1:
                errors.append("%s: %d rows in %s, expected 1" % (what, len(found), name))
                continue
            r = found[0]
            checks = [
                (r["map"] == "gru", "map %r" % r["map"]),
                (int(r["ranks"]) == ranks, "ranks %r" % r["ranks"]),
                (int(r["threads"]) == 1, "threads %r" % r["threads"]),
                (int(r["T"]) == T and int(r["D"]) == 8 and int(r["B"]) == 1,
                 "B, T, D = %s, %s, %s" % (r["B"], r["T"], r["D"])),
                (r["converged"] == "1", "converged %r" % r["converged"]),
                (int(r["iterations"]) >= 1, "iterations %r" % r["iterations"]),
                (float(r["max_err"]) <= 1e-6, "max_err %r" % r["max_err"]),
                (float(r["t_median"]) > 0, "t_median %r" % r["t_median"]),
                (float(r["speedup"]) > 0, "speedup %r" % r["speedup"]),
                (int(r["repeats"]) == 1, "repeats %r" % r["repeats"]),
            ]
            errors += ["%s: %s" % (what, msg) for ok, msg in checks if not ok]

# The Markdown: a strong and a weak table, with a row per method and rank count, and the
# parallel efficiency: 1 at one rank (the reference), at two ranks the collector's formula
# (strong t1 / (2 t2), weak t1 / t2) applied to the table's own times, to its rounding.
sections = {}
current = None
for line in table.splitlines():
    if line.startswith("## "):
        current = line[3:].strip()
        sections[current] = []
    elif current and line.startswith("| ") and not line.startswith("| map "):
        sections[current].append([c.strip() for c in line.strip("|").split("|")])
for kind, title in (("strong", "Strong scaling"), ("weak", "Weak scaling")):
    lines = sections.get(title)
    if lines is None:
        errors.append("no '%s' table in the Markdown" % title)
        continue
    for method in methods:
        t = {}
        for ranks, T in sizes[kind].items():
            hit = [c for c in lines if c[1] == method and c[6] == str(ranks) and c[4] == str(T)]
            if len(hit) != 1:
                errors.append("%s table: %d rows for %s at %d ranks" % (kind, len(hit), method, ranks))
                continue
            t[ranks], eff = float(hit[0][9]), hit[0][12]
            if ranks == 1 and eff != "1.00":
                errors.append("%s table: %s efficiency at 1 rank %r != 1.00" % (kind, method, eff))
            if ranks == 2 and 1 in t:
                expected = t[1] / (t[2] * (2 if kind == "strong" else 1))
                try:
                    ok = abs(float(eff) - expected) <= 0.006 + 1e-3 * expected
                except ValueError:
                    ok = False
                if not ok:
                    errors.append("%s table: %s efficiency at 2 ranks %r, expected %.4f"
                                  % (kind, method, eff, expected))
                # Two ranks on two cores: far slower than one rank means that they share a
                # core (OpenMP pinning of ranks srun did not bind: ~100x for block_jacobi).
                if method == "block_jacobi" and t[2] > 20 * t[1] + 0.02:
                    errors.append("%s table: block_jacobi takes %.4g s at 2 ranks, %.4g s at 1: "
                                  "do the ranks share a core?" % (kind, t[2], t[1]))
if "Other runs" in sections:
    errors.append("runs outside the strong and weak tables: %s" % sections["Other runs"])
if errors:
    print("\n".join("check: " + e for e in errors))
    sys.exit(1)
print("check: %d merged rows; strong and weak tables hold %s at 1 and 2 ranks, converged"
      % (len(rows), " and ".join(methods)))
EOF
log "PASS: strong and weak scaling jobs ran under SLURM and the merged table checks out"
