#!/usr/bin/env bash
# Make sure the services the tests talk to are installed and running:
# PostgreSQL on 127.0.0.1:5432 with trust auth for local connections, and the
# OpenSSH server binary (tests start their own sshd; the system service stays off),
# and docker-compose for validating generated compose files.
# As root on Debian, missing packages are installed and stopped services started;
# otherwise this only reports what is missing.
set -euo pipefail

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
is_root() { [ "$(id -u)" = 0 ]; }

if [ ! -x /usr/sbin/sshd ]; then
  if is_root && command -v apt-get >/dev/null 2>&1; then
    echo "installing openssh-server (Debian package; the system service is not started)"
    # policy-rc.d exit 101 stops the package's postinst from starting the system sshd.
    policy=/usr/sbin/policy-rc.d
    restore=
    if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; restore=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
    if [ -n "$restore" ]; then rm -f "$policy"; fi
  else
    echo "OpenSSH server is not installed; install it (apt-get install openssh-server) and rerun" >&2
    exit 1
  fi
fi
# sshd refuses to start without its privilege-separation directory.
if is_root && [ ! -d /run/sshd ]; then mkdir -p /run/sshd && chmod 755 /run/sshd; fi

# docker-compose (v1, Debian's): the export tests validate generated compose files with
# `docker-compose config`, which parses and merges them without a Docker engine.
if [ ! -x /usr/bin/docker-compose ]; then
  if is_root && command -v apt-get >/dev/null 2>&1; then
    echo "installing docker-compose (Debian package; no Docker engine is needed or started)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
  else
    echo "docker-compose is not installed; install it (apt-get install docker-compose) and rerun" >&2
    exit 1
  fi
fi

if ! command -v pg_isready >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  if is_root && command -v apt-get >/dev/null 2>&1; then
    echo "installing postgresql (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL is not installed; install it (apt-get install postgresql) and rerun" >&2
    exit 1
  fi
fi

if ! pg_ready; then
  if is_root; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    conf=/etc/postgresql/$version/main
    # Tests connect as postgres over TCP without a password, as on the CI machines.
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"; then
      sed -i '1i host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 50); do pg_ready && break; sleep 0.2; done
  fi
fi
pg_ready || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
echo "services: postgresql ok"
