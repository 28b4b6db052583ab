#!/usr/bin/env bash
# The part of BEDS's machine set-up that needs root, and nothing else. Run by ensure-services.sh and
# mariadb-admin.mjs, as root or through sudo; every step is idempotent. Steps, in the order given:
#   rabbitmq-management  enable RabbitMQ's management plugin, so that a user who is not root can
#                        make and remove vhosts and close connections (HTTP API on 127.0.0.1:15672,
#                        as guest, which RabbitMQ allows from localhost only)
#   rabbitmq | mariadb   start the system's service if it is down, the way this machine starts
#                        services: systemctl under systemd, else `service` (its /etc/init.d script),
#                        else the daemon's own command. If it dies or its start fails, its own error
#                        is shown at once.
#   mariadb-admin        create (or re-key) the MariaDB account beds_admin@127.0.0.1 through root's
#                        unix socket, with the password read from stdin (never from argv or printed):
#                        all privileges on databases matching beds_% (with grant option) and CREATE
#                        USER, so that `npm run up` and the tests can make their databases and the
#                        node's least-privilege accounts without root.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

[ "$(id -u)" = 0 ] || { echo "root-setup: must run as root (it is run with sudo by ensure-services.sh)" >&2; exit 1; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
have() { command -v "$1" >/dev/null 2>&1; }

# Prints the last lines of each log that changed since the start began (the service's own words).
show_logs() {
  local since=$1; shift
  local shown=0
  for file in "$@"; do
    [ -f "$file" ] && [ -s "$file" ] && [ "$(stat -c %Y "$file")" -ge "$since" ] || continue
    echo "---- $file (last 30 lines)"; tail -n 30 "$file"; shown=1
  done
  [ "$shown" = 1 ]
}

# start NAME UNIT PORT PROCESS-PATTERN LOGS... -- DAEMON-COMMAND...
start() {
  local name=$1 unit=$2 port=$3 pattern=$4; shift 4
  local logs=()
  while [ "$1" != "--" ]; do logs+=("$1"); shift; done
  shift
  if listening "$port"; then return 0; fi

  local how daemon=no
  if [ -d /run/systemd/system ] && have systemctl; then how=(systemctl start "$unit")
  elif have service && [ -x "/etc/init.d/$unit" ]; then how=(service "$unit" start)
  else how=("$@"); daemon=yes
  fi
  echo "services: $name is down; starting it: ${how[*]}"
  local since out=/var/log/beds-start-$unit.log
  since=$(date +%s)
  # The start command runs beside a watch on the port and the daemon's process, so that a daemon
  # that dies is reported now rather than when the start command gives up (the init scripts wait
  # 30 s to 10 min for a server that is already gone).
  # In a session of its own: if the start fails, the whole attempt is ended together.
  setsid "${how[@]}" >"$out" 2>&1 </dev/null &
  local starter=$! waited=0 outcome=
  while :; do
    if listening "$port"; then outcome=up; break; fi
    if ! kill -0 "$starter" 2>/dev/null; then
      if ! wait "$starter"; then outcome="'${how[*]}' failed"; break; fi
      # Started and returned: the daemon may still be opening its port.
      pgrep -f "$pattern" >/dev/null || { outcome="its process is gone"; break; }
    elif [ "$waited" -ge 5 ] && ! pgrep -f "$pattern" >/dev/null; then
      outcome="its process is gone"; break
    fi
    if [ "$waited" -ge 120 ]; then outcome="port $port still closed after 120 s"; break; fi
    sleep 1; waited=$((waited + 1))
  done
  if [ "$outcome" = up ]; then
    # Let an init script finish its own bookkeeping (pid file, post-start checks); it is quick now.
    if [ "$daemon" = no ] && kill -0 "$starter" 2>/dev/null; then wait "$starter" || true; fi
    echo "services: $name is up on 127.0.0.1:$port"
    return 0
  fi
  kill -- "-$starter" 2>/dev/null || true
  echo "services: $name did not start: $outcome. Its own words:" >&2
  if [ -s "$out" ]; then echo "---- ${how[*]} ($out)" >&2; tail -n 30 "$out" >&2; fi
  local found=0
  show_logs "$since" "${logs[@]}" >&2 && found=1
  if [ -d /run/systemd/system ] && have journalctl; then journalctl -u "$unit" -n 30 --no-pager >&2 && found=1; fi
  if [ "$found" = 0 ] && [ "$name" = MariaDB ]; then
    # Debian's mysqld_safe sends the server's errors to syslog, which a container may not run:
    # run the server once more in the foreground for a few seconds with its error log kept.
    echo "---- mariadbd --user=mysql, run again for at most 10 s to catch its error (notes left out):" >&2
    timeout --kill-after=5 10 mariadbd --user=mysql 2>&1 | grep -v '\[Note\]' | tail -n 30 >&2 || true
  fi
  exit 1
}

step_rabbitmq() {
  start RabbitMQ rabbitmq-server 5672 'beam.*-s rabbit boot' \
    /var/log/rabbitmq/startup_err /var/log/rabbitmq/startup_log /var/log/rabbitmq/rabbit@*.log -- \
    rabbitmq-server
  # The port opens before RabbitMQ is ready for vhost changes.
  rabbitmqctl await_startup --timeout 120 >/dev/null
}

step_mariadb() {
  # The daemon's own command (no service manager here) needs its socket directory and, as root,
  # the user to run as: Debian's stock config leaves `user = mysql` commented out.
  if ! { [ -d /run/systemd/system ] && have systemctl; } && ! { have service && [ -x /etc/init.d/mariadb ]; }; then
    install -d -m 755 -o mysql -g root /run/mysqld
  fi
  start MariaDB mariadb 3306 'mariadbd|mysqld' /var/log/mysql/error.log /var/log/syslog /var/log/daemon.log -- \
    mariadbd --user=mysql
}

step_rabbitmq_management() {
  if rabbitmq-plugins -q list -e -m 2>/dev/null | grep -qx rabbitmq_management; then return 0; fi
  echo "services: enabling RabbitMQ's management plugin (HTTP API on 127.0.0.1:15672)"
  if listening 5672; then
    rabbitmq-plugins -q enable rabbitmq_management >/dev/null
    for _ in $(seq 1 60); do listening 15672 && return 0; sleep 1; done
    echo "services: RabbitMQ's management API did not open 127.0.0.1:15672 within 60 s" >&2
    return 1
  fi
  rabbitmq-plugins -q enable --offline rabbitmq_management >/dev/null
}

step_mariadb_admin() {
  local password
  IFS= read -r password || true
  [[ "$password" =~ ^[A-Za-z0-9_-]{24,}$ ]] || { echo "root-setup: mariadb-admin needs a generated password on stdin" >&2; exit 1; }
  local client=mariadb
  have mariadb || client=mysql
  # beds_% and not beds\_%: MariaDB 10.11 refuses database-level GRANTs (error 1044) to an account
  # whose grant option comes from a pattern with an escaped wildcard; object-level ones pass.
  "$client" --protocol=socket -uroot <<SQL
CREATE USER IF NOT EXISTS 'beds_admin'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER 'beds_admin'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`beds_%\`.* TO 'beds_admin'@'127.0.0.1' WITH GRANT OPTION;
GRANT CREATE USER ON *.* TO 'beds_admin'@'127.0.0.1';
SQL
  echo "services: MariaDB account beds_admin@127.0.0.1 ready (databases beds_%, CREATE USER)"
}

[ $# -gt 0 ] || { echo "usage: root-setup.sh rabbitmq-management|rabbitmq|mariadb|mariadb-admin ..." >&2; exit 2; }
for step in "$@"; do
  case "$step" in
    rabbitmq) step_rabbitmq ;;
    mariadb) step_mariadb ;;
    rabbitmq-management) step_rabbitmq_management ;;
    mariadb-admin) step_mariadb_admin ;;
    *) echo "root-setup: unknown step $step" >&2; exit 2 ;;
  esac
done
