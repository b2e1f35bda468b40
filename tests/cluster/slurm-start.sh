#!/usr/bin/env bash
# slurm-start.sh - starts a private single-node Slurm cluster for the tests and the scale-out
# benchmark: munged, slurmctld and slurmd on 127.0.0.1 only, every file (config, munge key and
# socket, state, spool, logs, pid files) under $SLURM_LOCAL_PREFIX. Nothing under /etc is
# changed; a system munged or Slurm, if any, is left alone (own socket, own ports).
#
#   SLURM_LOCAL_PREFIX=$(mktemp -d) bash tests/cluster/slurm-start.sh
#   source "$SLURM_LOCAL_PREFIX/env.sh"      # SLURM_CONF for sbatch, squeue, scancel, ...
#   ...
#   SLURM_LOCAL_PREFIX=... bash tests/cluster/slurm-stop.sh
#
# Env: SLURM_LOCAL_PREFIX (required: a directory the caller owns, usually from mktemp -d),
#      SLURMCTLD_PORT / SLURMD_PORT (default: two free ports on 127.0.0.1),
#      SLURM_LOCAL_INSTALL=0 to fail instead of installing the Debian packages when missing.
# Needs root (SlurmUser=root; munged runs as user munge). Debian 12: slurm 22.05, munge 0.5.15;
# packages slurmctld slurmd slurm-client munge (--no-install-recommends, ~4 MB).
# Jobs' per-task exit codes go to $SLURM_LOCAL_PREFIX/log/jobcomp.txt (jobcomp/filetxt,
# no database needed). A start takes < 1 s once installed.
set -euo pipefail

PREFIX=${SLURM_LOCAL_PREFIX:?set SLURM_LOCAL_PREFIX to a directory for the cluster state (e.g. \$(mktemp -d))}
t0=$EPOCHREALTIME
log() { printf '[slurm-start %5.1fs] %s\n' "$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{print a-b}')" "$*"; }
die() {
  log "ERROR: $*"
  for f in "$PREFIX"/log/slurmctld.log "$PREFIX"/log/slurmd.log "$PREFIX"/munge/munged.log; do
    [ -f "$f" ] && { echo "--- last lines of $f"; tail -n 15 "$f"; }
  done
  exit 1
}
[ "$(id -u)" = 0 ] || die "must run as root (SlurmUser=root, munged started as user munge)"

# 1. packages
need=()
for b in slurmctld slurmd sbatch munged mungekey; do command -v "$b" >/dev/null || need+=("$b"); done
if [ ${#need[@]} -gt 0 ]; then
  [ "${SLURM_LOCAL_INSTALL:-1}" = 1 ] || die "missing ${need[*]} and SLURM_LOCAL_INSTALL=0"
  log "installing slurmctld slurmd slurm-client munge (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

# is the pid in file $1 alive and the program $2?
alive() { local p; [ -s "$1" ] || return 1; p=$(cat "$1"); [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ]; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

mkdir -p "$PREFIX"/{etc,run,log,state/ctld,state/d,munge}
# munged wants its socket, key and log in a directory that only munge can write to and that
# every client can traverse (o+x), below directories that others cannot write to
chown munge:munge "$PREFIX/munge"
chmod 0711 "$PREFIX/munge"
chmod 0755 "$PREFIX"
runuser -u munge -- test -x "$PREFIX/munge" || die "user munge cannot reach $PREFIX (a parent directory lacks o+x; mktemp -d makes 0700: chmod 0755 it)"
SOCK=$PREFIX/munge/munge.socket

# 2. munge: private key, private socket
if [ ! -s "$PREFIX/munge/munge.key" ]; then
  mungekey --create --keyfile="$PREFIX/munge/munge.key" --bits=1024
  chown munge:munge "$PREFIX/munge/munge.key"
  chmod 0600 "$PREFIX/munge/munge.key"
fi
if ! alive "$PREFIX/munge/munged.pid" munged; then
  rm -f "$SOCK" "$SOCK.lock"
  runuser -u munge -- munged --socket="$SOCK" --key-file="$PREFIX/munge/munge.key" \
    --pid-file="$PREFIX/munge/munged.pid" --log-file="$PREFIX/munge/munged.log" \
    --seed-file="$PREFIX/munge/munged.seed" || die "munged did not start"
  log "munged pid $(cat "$PREFIX/munge/munged.pid")"
fi
munge -S "$SOCK" -n | unmunge -S "$SOCK" >/dev/null || die "munge credential round trip failed"

# 3. slurm.conf (ports chosen once and kept, so a second start reuses the running daemons)
CONF=$PREFIX/etc/slurm.conf
if [ -s "$PREFIX/etc/ports" ]; then
  read -r CTLD_PORT SLURMD_PORT < "$PREFIX/etc/ports"
else
  CTLD_PORT=${SLURMCTLD_PORT:-$(free_port)}
  SLURMD_PORT=${SLURMD_PORT:-$(free_port)}
  while [ "$SLURMD_PORT" = "$CTLD_PORT" ]; do SLURMD_PORT=$(free_port); done
  echo "$CTLD_PORT $SLURMD_PORT" > "$PREFIX/etc/ports"
fi
HOST=$(hostname -s)
HW=$(slurmd -C | head -n1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ UpTime=.*//')
cat > "$CONF" <<CONF
# written by tests/cluster/slurm-start.sh
ClusterName=ferbatch
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
# listen on 127.0.0.1 only (the default is every address)
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SrunPortRange=$((CTLD_PORT < 60000 ? 60000 : 50000))-$((CTLD_PORT < 60000 ? 60999 : 50999))
StateSaveLocation=$PREFIX/state/ctld
SlurmdSpoolDir=$PREFIX/state/d
SlurmctldPidFile=$PREFIX/run/slurmctld.pid
SlurmdPidFile=$PREFIX/run/slurmd.pid
SlurmctldLogFile=$PREFIX/log/slurmctld.log
SlurmdLogFile=$PREFIX/log/slurmd.log
# no cgroups (containers, CI): /proc process tracking, no task confinement
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# per-task exit codes without slurmdbd: one line per finished job or array task
JobCompType=jobcomp/filetxt
JobCompLoc=$PREFIX/log/jobcomp.txt
MpiDefault=none
MailProg=/bin/true
# schedule every second (the default cycle makes array tasks wait ~3 s each)
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# SIGTERM, then SIGKILL this many seconds later (scancel, time limit)
KillWait=30
ReturnToService=2
NodeName=$HOST NodeAddr=127.0.0.1 $HW State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
echo "export SLURM_CONF=$CONF" > "$PREFIX/env.sh"
export SLURM_CONF=$CONF

# 4. daemons (they fork and write their pid files)
start_daemon() {  # name
  local name=$1 i
  if alive "$PREFIX/run/$name.pid" "$name"; then log "$name already running"; return; fi
  "$name" -f "$CONF" || die "$name did not start"
  for i in $(seq 100); do alive "$PREFIX/run/$name.pid" "$name" && break; sleep 0.1; done
  alive "$PREFIX/run/$name.pid" "$name" || die "$name exited after starting"
  log "$name pid $(cat "$PREFIX/run/$name.pid") (port $([ "$name" = slurmctld ] && echo "$CTLD_PORT" || echo "$SLURMD_PORT"), 127.0.0.1)"
}
start_daemon slurmctld
start_daemon slurmd

# 5. wait for the node to accept jobs
state=
for i in $(seq 300); do
  state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
  case $state in idle|mixed|allocated) break;; esac
  sleep 0.1
done
case $state in idle|mixed|allocated) ;; *) die "node $HOST is '$state', not idle";; esac

# 6. the daemons listen on loopback only
if command -v ss >/dev/null; then
  bad=$(ss -Hltn | awk -v a=":$CTLD_PORT" -v b=":$SLURMD_PORT" '($4 ~ a"$" || $4 ~ b"$") && $4 !~ /^127\.0\.0\.1:/ {print $4}')
  [ -z "$bad" ] || die "listening beyond loopback: $bad"
fi
log "cluster up: node $HOST ($HW), partition local; source $PREFIX/env.sh"
