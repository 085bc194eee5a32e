#!/bin/sh
# Install what the framework benchmark needs: the peers (pinned, from PyPI) with
# myapp's own requirements in a separate virtualenv, bench/.peers-venv, and
# Debian's wrk and redis-server when they are missing.
#
#     sh bench/frameworks/setup.sh          (PYTHON=python3.12 to pick the interpreter)
#
# Safe to run again: it reuses the virtualenv and installs only what changed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
venv=$(cd "$here/../.." && pwd)/bench/.peers-venv
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# What Python 3.13's venv does by itself: keep the environment out of git.
[ -f "$venv/.gitignore" ] || echo "*" >"$venv/.gitignore"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"

missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing:$missing; install them with: sudo apt-get install$missing" >&2
        exit 1
    fi
    apt-get update -qq
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

echo "ready: $venv/bin/python bench/frameworks/run.py [--quick]"
