#!/usr/bin/env bash
# Make `docker compose` available for validating docker-compose.yml (`docker compose config`).
# This machine has the Docker client but no Compose plugin and no Docker engine, so the
# plugin is built once from the Go module proxy, cached under ~/.cache, and linked into
# ~/.docker/cli-plugins. Nothing happens when `docker compose` already works.
set -euo pipefail

VERSION=v2.40.3
CACHE=$HOME/.cache/repochat/compose-$VERSION
PLUGIN_DIR=$HOME/.docker/cli-plugins

if docker compose version >/dev/null 2>&1; then exit 0; fi
command -v docker >/dev/null || { echo "install-compose: no docker client" >&2; exit 1; }

if [ ! -x "$CACHE/docker-compose" ]; then
  echo "install-compose: building docker compose $VERSION (once; cached in $CACHE)" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # `go install module@version` asks the proxy for the module's version list, which it
  # refuses here; building inside a throwaway module that requires the version avoids that.
  printf 'module repochat.local/composebuild\n\ngo 1.24\n\nrequire github.com/docker/compose/v2 %s\n' "$VERSION" \
    >"$work/go.mod"
  dir=$(cd "$work" && go mod download -json "github.com/docker/compose/v2@$VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  install -m 0644 "$dir/go.sum" "$work/go.sum"
  mkdir -p "$CACHE"
  (cd "$work" && GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$VERSION" \
    -o "$CACHE/docker-compose" github.com/docker/compose/v2/cmd)
fi
mkdir -p "$PLUGIN_DIR"
ln -sf "$CACHE/docker-compose" "$PLUGIN_DIR/docker-compose"
docker compose version >&2
