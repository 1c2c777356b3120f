#!/usr/bin/env bash
# Bootstrap action of ATMO clusters and Spark job clusters on EMR.
#
#   telemetry.sh [--public-key "ssh-ed25519 AAAA... owner"] [--email EMAIL] [--timeout MINUTES]
#
# --public-key  installs the owner's SSH public key for the hadoop user, so the owner can
#               connect to the master node.
# --email       the owner's address, recorded on the node for operators.
# --timeout     shuts the node down after that many minutes: the hard stop of a Spark job
#               (EMR then ends the cluster).
# The seed of the embedded AWS uploads this file to s3://<spark EMR bucket>/bootstrap/; real EMR
# runs it as a bootstrap action on every node.
set -euo pipefail

public_key=""
email=""
timeout_minutes=""
# ATMO_HADOOP_HOME overrides the home of the hadoop user (for trying the script elsewhere).
hadoop_home="${ATMO_HADOOP_HOME:-/home/hadoop}"

while [ "$#" -gt 0 ]; do
  case "$1" in
    --public-key) public_key="${2:?--public-key needs a value}"; shift 2 ;;
    --email) email="${2:?--email needs a value}"; shift 2 ;;
    --timeout) timeout_minutes="${2:?--timeout needs a value}"; shift 2 ;;
    *) echo "telemetry.sh: unknown argument $1 (allowed: --public-key, --email, --timeout)" >&2
       exit 2 ;;
  esac
done

if [ -n "$public_key" ]; then
  case "$public_key" in
    ssh-rsa\ *|ssh-ed25519\ *|ecdsa-sha2-*) ;;
    *) echo "telemetry.sh: --public-key is not an OpenSSH public key" >&2; exit 2 ;;
  esac
  mkdir -p "$hadoop_home/.ssh"
  chmod 700 "$hadoop_home/.ssh"
  touch "$hadoop_home/.ssh/authorized_keys"
  if ! grep -qxF "$public_key" "$hadoop_home/.ssh/authorized_keys"; then
    printf '%s\n' "$public_key" >> "$hadoop_home/.ssh/authorized_keys"
  fi
  chmod 600 "$hadoop_home/.ssh/authorized_keys"
  echo "telemetry.sh: installed the owner's SSH key for $hadoop_home"
fi

if [ -n "$email" ]; then
  printf '%s\n' "$email" > "$hadoop_home/.atmo-owner"
fi

if [ -n "$timeout_minutes" ]; then
  case "$timeout_minutes" in
    ''|*[!0-9]*) echo "telemetry.sh: --timeout must be whole minutes, got $timeout_minutes" >&2
                 exit 2 ;;
  esac
  sudo shutdown -h "+$timeout_minutes" "ATMO job timeout of $timeout_minutes minutes reached"
fi
