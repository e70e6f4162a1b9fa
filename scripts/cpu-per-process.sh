#!/usr/bin/env bash
# Runs a command and prints the CPU time (user + system, from /proc/PID/stat) every process on the
# machine spent while it ran, grouped: each Troupe process by its command, PostgreSQL's backends
# together, RabbitMQ as beam.smp. How README's "CPU per order" figures were taken, e.g.
#   scripts/cpu-per-process.sh .build/release/troupe-bench orders
# Processes that end during the command are not counted (their /proc entry is gone).
set -euo pipefail
snapshot() {
  for p in /proc/[0-9]*; do
    stat=$(cat "$p/stat" 2>/dev/null) || continue
    args=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null | cut -c1-120)
    set -- ${stat##*) }                     # fields after the command name; utime and stime are 12 and 13
    echo "${p#/proc/} $(( ${12} + ${13} )) $args"
  done
}
before=$(mktemp); after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
snapshot > "$before"
"$@"
snapshot > "$after"
python3 - "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import collections, sys
def read(path):
    out = {}
    for line in open(path):
        pid, ticks, *args = line.rstrip("\n").split(" ", 2)
        out[pid] = (int(ticks), args[0] if args else "")
    return out
before, after, hz = read(sys.argv[1]), read(sys.argv[2]), int(sys.argv[3])
groups = collections.Counter()
for pid, (ticks, args) in after.items():
    spent = ticks - before.get(pid, (0, ""))[0]
    words = args.split()
    name = words[0].split("/")[-1] if words else "(kernel threads)"
    if name.startswith("postgres"): name = "postgres"
    elif "troupe" in args: name = " ".join(w.split("/")[-1] for w in words[:3])
    groups[name] += spent
for name, ticks in groups.most_common(12):
    if ticks: print(f"{name:40s} {ticks / hz:.2f} s")
PY
