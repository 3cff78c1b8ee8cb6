#!/usr/bin/env bash
# Wrapper around the official mongo entrypoint. A replica set with auth needs a keyfile shared by its
# members; it is a secret, so it is generated here on first start into its own volume, never committed.
set -euo pipefail

keyfile=/etc/mongo-keyfile/keyfile
if [ ! -s "${keyfile}" ]; then
    echo "Generating the replica-set keyfile"
    (umask 077 && head -c 756 /dev/urandom | base64 -w 0 > "${keyfile}")
fi
# mongod refuses a keyfile that others can read, and runs as the image's mongodb user.
chown mongodb:mongodb "${keyfile}"
chmod 400 "${keyfile}"

exec docker-entrypoint.sh "$@"
