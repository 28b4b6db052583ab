#!/usr/bin/env bash
# Makes sure this machine's RabbitMQ (127.0.0.1:5672) and MariaDB (127.0.0.1:3306) are up and that
# this user can administer RabbitMQ: rabbitmqctl as root, or else the management API on
# 127.0.0.1:15672. What needs root (starting a system service, enabling the management plugin) is
# done by scripts/root-setup.sh: directly as root, through sudo otherwise (sudo may ask for your
# password; nothing is asked when nothing is missing). jongodb and dynalite are not started here:
# the tests and `npm run up` start their own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
api_answers() {
  node -e 'fetch("http://127.0.0.1:15672/api/overview", { headers: { authorization: "Basic " + btoa("guest:guest") }, signal: AbortSignal.timeout(3000) })
    .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))'
}

steps=()
why=()
if [ "$(id -u)" != 0 ] && ! api_answers; then
  steps+=(rabbitmq-management); why+=("this user cannot run rabbitmqctl, so RabbitMQ's management API is needed")
fi
if ! listening 5672; then steps+=(rabbitmq); why+=("RabbitMQ is down"); fi
if ! listening 3306; then steps+=(mariadb); why+=("MariaDB is down"); fi

if [ ${#steps[@]} -gt 0 ]; then
  reason=$(IFS=';'; echo "${why[*]}" | sed 's/;/; /g')
  if [ "$(id -u)" = 0 ]; then
    bash "$here/root-setup.sh" "${steps[@]}"
  elif command -v sudo >/dev/null; then
    echo "services: root is needed ($reason): sudo bash scripts/root-setup.sh ${steps[*]}"
    sudo bash "$here/root-setup.sh" "${steps[@]}"
  else
    echo "services: root is needed ($reason) and sudo is not installed; as root, run once: bash $here/root-setup.sh ${steps[*]}" >&2
    exit 1
  fi
fi

if [ "$(id -u)" = 0 ] && command -v rabbitmqctl >/dev/null; then
  # The port opens before RabbitMQ is ready for vhost changes; wait until it answers.
  rabbitmqctl await_startup --timeout 120 >/dev/null
elif [ "$(id -u)" != 0 ]; then
  for i in $(seq 1 60); do
    api_answers && break
    [ "$i" = 60 ] && { echo "services: RabbitMQ's management API on 127.0.0.1:15672 did not answer within 60 s" >&2; exit 1; }
    sleep 1
  done
fi
echo "services: RabbitMQ is up on 127.0.0.1:5672, MariaDB on 127.0.0.1:3306"
