#!/bin/bash
# Runs inside the fresh machine that scripts/fresh-machine.sh made (its own root directory and its
# own network, PID, UTS and mount namespaces), as that machine's root. Starts the inside half of the
# registry tunnel, then runs the README's two commands in ~USER/beds as USER (a normal user with
# sudo, or root), as a newcomer would: `npm run up` on a terminal until the node is up, then Ctrl-C;
# `npm run up` again (nothing to install or build); `npm test`. Times each and checks the outcome.
# Usage (by fresh-machine.sh): inside.sh USER
set -uo pipefail
user=$1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
state=/var/lib/beds-fresh
logs=$state/logs
mkdir -p "$logs" && chmod 777 "$logs"

node "$state/registry-tunnel.mjs" inside "$state/tunnel.sock" 3128 &

home=$(getent passwd "$user" | cut -d: -f6)
as_user() { if [ "$user" = root ]; then bash -lc "$1"; else su - "$user" -c "$1"; fi; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f s", b - a }'; }
fail() { echo "fresh-machine: FAILED: $*"; exit 1; }
summary=()
# A terminal's output as lines: colours, npm's spinner and carriage returns taken out.
plain() { sed -E 's/[\\|/-]?\x1b\[1G\x1b\[0K//g; s/\x1b\[[0-9;]*[A-Za-z]//g; s/\r//g' "$1" | grep -v '^\s*$'; }

# Waits until FILE shows PATTERN (0), PID ends first (1) or SECONDS pass (2).
wait_for() {
  local pattern=$1 file=$2 seconds=$3 pid=$4
  for _ in $(seq 1 $((seconds * 2))); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 2
}

# `npm run up` on a pseudo-terminal (script(1)), Ctrl-C typed once the node is up. $1: log name.
up_then_ctrl_c() {
  local name=$1 out="$logs/$1.out" fifo="$logs/$1.in" start pid
  rm -f "$fifo" && mkfifo "$fifo" && chmod 666 "$fifo"
  exec 3<>"$fifo"
  start=$(now)
  as_user "cd ~/beds && script -qfec 'npm run up' /dev/null" <&3 >"$out" 2>&1 &
  pid=$!
  wait_for "node up; SIGINT or SIGTERM stops it" "$out" 900 "$pid"
  local ready=$?
  UP_TIME=$(took "$start")
  if [ $ready != 0 ]; then
    kill "$pid" 2>/dev/null; exec 3>&-
    echo "---- $out"; cat "$out"; fail "npm run up ($name): the node did not come up"
  fi
  printf '\003' >&3
  local code=timeout
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || { wait "$pid"; code=$?; break; }; sleep 0.5; done
  exec 3>&-
  echo "---- npm run up ($name), as typed on a terminal; Ctrl-C sent once the node was up:"
  plain "$out"
  # 130 is npm's own exit after a SIGINT (128 + 2), as a shell shows it after Ctrl-C.
  [ "$code" = 0 ] || [ "$code" = 130 ] || fail "npm run up ($name): exit $code after Ctrl-C"
  for line in "shutdown: signal received" "shutdown: done, exiting" "up: node exited (0)"; do
    grep -q -- "$line" "$out" || fail "npm run up ($name): after Ctrl-C, no \"$line\" on the terminal"
  done
  grep -q "node up DEGRADED" "$out" && fail "npm run up ($name): the node came up degraded"
  return 0
}

echo "== fresh machine: $(. /etc/os-release && echo "$PRETTY_NAME"), hostname $(hostname), node $(node --version) (lts: $(node -p 'process.release.lts || "no"')), npm $(npm --version), user $user"

echo "== 5.1 npm run up (first time: install, build, set-up)"
up_then_ctrl_c up1
summary+=("npm run up, first time: node up after $UP_TIME, stopped by Ctrl-C with its shutdown lines")

echo "== 5.2 npm run up (again: lock and sources unchanged)"
up_then_ctrl_c up2
grep -q "deps: node_modules matches package-lock.json; not reinstalled" "$logs/up2.out" || fail "second npm run up reinstalled"
grep -q "build: dist/ is current" "$logs/up2.out" || fail "second npm run up rebuilt"
summary+=("npm run up, again: node up after $UP_TIME, no install, no build")

echo "== 5.3 the node's MariaDB account (from config/env_dev.toml; password not shown)"
account=$(as_user "cd ~/beds && node --input-type=module -e '
  import { parse } from \"smol-toml\"; import { readFileSync } from \"node:fs\"
  const m = parse(readFileSync(\"config/env_dev.toml\", \"utf8\")).mariadb.master
  console.log(m.username + \" \" + m.password)'")
node_user=${account%% *}
probe() { MYSQL_PWD=${account#* } mariadb -h 127.0.0.1 -u "$node_user" beds_dev -e "$1" 2>&1; }
echo "as $node_user: SHOW GRANTS"; probe "SHOW GRANTS" | sed -E 's/IDENTIFIED BY PASSWORD .*//'
echo "as $node_user: SELECT COUNT(*) FROM cus_view"; probe "SELECT COUNT(*) FROM cus_view" || fail "the node's account cannot read its view"
echo "as $node_user: SELECT * FROM cus_customers (the base table)"
refused=$(probe "SELECT * FROM cus_customers" || true); echo "$refused"
[[ "$refused" == *"ERROR 1142"* ]] || fail "the node's account could read the base table"
summary+=("node account $node_user: its view readable, the base table refused (ERROR 1142)")

echo "== 5.4 npm test"
start=$(now)
as_user "cd ~/beds && npm test" >"$logs/test.out" 2>&1
code=$?
test_time=$(took "$start")
sed 's/\x1b\[[0-9;]*m//g' "$logs/test.out" | grep -vE "^\s*$" | grep -E "^ (✓|×|❯)|Test Files|Tests |Duration|FAIL|Error|services:|mariadb:|deps:|npm (error|ERR)" | head -80
counts=$(sed 's/\x1b\[[0-9;]*m//g' "$logs/test.out" | grep -E "^\s+Tests " | tail -1 | sed 's/^ *//')
[ $code = 0 ] || { sed 's/\x1b\[[0-9;]*m//g' "$logs/test.out" | tail -80; fail "npm test exited $code"; }
summary+=("npm test: green in $test_time ($counts)")

echo "== fresh machine: all green"
for line in "${summary[@]}"; do echo "  - $line"; done
