#!/bin/sh
# In docker compose, the hatchet-token service writes the workers' API token to a shared volume.
set -e
if [ -z "${HATCHET_CLIENT_TOKEN:-}" ] && [ -s /tokens/token ]; then
  HATCHET_CLIENT_TOKEN=$(cat /tokens/token)
  export HATCHET_CLIENT_TOKEN
fi
exec "$@"
