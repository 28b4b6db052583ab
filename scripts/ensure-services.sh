#!/usr/bin/env bash
# Makes sure RabbitMQ (127.0.0.1:5672) and MariaDB (127.0.0.1:3306) accept connections, starting
# whichever is down with this machine's own command, and waits for them (up to 90 s each).
# jongodb and dynalite are not started here: the tests and `npm run up` start their own.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure() {
  local name=$1 port=$2; shift 2
  if listening "$port"; then echo "services: $name is up on 127.0.0.1:$port"; return 0; fi
  echo "services: $name is down; starting it: $*"
  "$@" || { echo "services: could not start $name" >&2; return 1; }
  for _ in $(seq 1 90); do
    if listening "$port"; then echo "services: $name is up on 127.0.0.1:$port"; return 0; fi
    sleep 1
  done
  echo "services: $name did not come up on 127.0.0.1:$port within 90 s" >&2
  return 1
}

ensure RabbitMQ 5672 rabbitmq-server -detached
ensure MariaDB 3306 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
# RabbitMQ opens its port before it is ready for vhost changes; wait until it answers.
if command -v rabbitmqctl >/dev/null; then
  rabbitmqctl await_startup --timeout 90 >/dev/null
fi
