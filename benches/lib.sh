# Shared by the benchmark scripts (sourced, not run): the machine line, free ports, the
# pinned Python venv, and waiting for a server. Sourcing scripts own their traps.
# shellcheck shell=bash

target_dir=${CARGO_TARGET_DIR:-target}

# The machine and its load, printed with every figure (benches/README.md records them).
machine() {
  local cpu ram
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  ram=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
  echo "machine: $(nproc) cores, $cpu, $ram RAM; load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # url
  for _ in $(seq 1 200); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.05
  done
  echo "$1 did not come up" >&2
  return 1
}

# A venv (kept between runs under the target dir) with exactly the pinned packages given.
# Prints the venv's python.
bench_venv() { # PACKAGE==VERSION...
  local venv="$target_dir/bench-venv" missing=0 pkg
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
  for pkg in "$@"; do
    "$venv/bin/pip" show "${pkg%%==*}" 2>/dev/null | grep -qx "Version: ${pkg#*==}" || missing=1
  done
  if [ "$missing" = 1 ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
  fi
  echo "$venv/bin/python"
}
