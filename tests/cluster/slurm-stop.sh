#!/usr/bin/env bash
# slurm-stop.sh - stops the cluster that slurm-start.sh started under $SLURM_LOCAL_PREFIX:
# cancels its jobs, then stops slurmd, slurmctld and munged by the pids in their pid files
# (each checked against its program name first; nothing is killed by name). Idempotent.
# The prefix directory itself is the caller's to remove.
set -uo pipefail
PREFIX=${SLURM_LOCAL_PREFIX:?set SLURM_LOCAL_PREFIX}
export SLURM_CONF=$PREFIX/etc/slurm.conf
t0=$EPOCHREALTIME
log() { printf '[slurm-stop %5.1fs] %s\n' "$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{print a-b}')" "$*"; }
alive() { local p; [ -s "$1" ] || return 1; p=$(cat "$1"); [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ]; }

# 1. jobs first, so that no job step outlives slurmd
if alive "$PREFIX/run/slurmctld.pid" slurmctld && [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
  log "cancelling the remaining jobs"
  scancel --partition=local 2>/dev/null
  for i in $(seq 400); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
fi

stop() {  # pidfile program
  local f=$1 name=$2 p i
  if ! alive "$f" "$name"; then rm -f "$f"; return 0; fi
  p=$(cat "$f")
  kill -TERM "$p"
  for i in $(seq 300); do [ -d "/proc/$p" ] || break; sleep 0.1; done
  if alive "$f" "$name"; then log "$name (pid $p) still running 30 s after SIGTERM: SIGKILL"; kill -KILL "$p"; sleep 0.2; fi
  rm -f "$f"
  log "$name (pid $p) stopped"
}
stop "$PREFIX/run/slurmd.pid" slurmd
stop "$PREFIX/run/slurmctld.pid" slurmctld
stop "$PREFIX/munge/munged.pid" munged
exit 0
