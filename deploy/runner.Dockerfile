# Runner image of the Fly runtime: every deployment's Machine runs `catwalk bridge <init.cmd>`,
# which installs the pinned package (`--package npm:<name>@<x.y.z>` or `pypi:<name>==<v>`) with
# Catwalk's package cache, serves the MCP server's stdio as Streamable HTTP on
# $CATWALK_HOST:$CATWALK_PORT/mcp (one child per session), answers GET /healthz, and requires
# `Authorization: Bearer $CATWALK_BRIDGE_SECRET` (a Fly app secret). Catwalk sets `init.cmd`.
#
# The binary is built before the image, so the image needs no Bun toolchain:
#   bun scripts/build.ts dist/catwalk
#   docker build -f deploy/runner.Dockerfile -t ghcr.io/<owner>/catwalk-runner:<version> .
# CI does the same on version tags (.github/workflows/runner-image.yml). Fly runs linux/amd64.
FROM node:22-bookworm-slim

# node runs npm servers (the package cache installs them with the Bun inside the catwalk binary);
# python3 for PyPI servers (uv downloads another Python when a package needs one); uv/uvx run them.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates python3 \
  && rm -rf /var/lib/apt/lists/*
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /uvx /usr/local/bin/
COPY dist/catwalk /usr/local/bin/catwalk
RUN /usr/local/bin/catwalk --version

# MCP servers are untrusted code: run as the unprivileged `node` user. npm and uv caches live in its
# home; a suspended Machine keeps them, a stopped one starts from a clean root filesystem.
USER node
WORKDIR /home/node
ENV HOME=/home/node \
  CATWALK_HOST=0.0.0.0 \
  CATWALK_PORT=8080 \
  NPM_CONFIG_UPDATE_NOTIFIER=false \
  NPM_CONFIG_FUND=false
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/catwalk", "bridge"]
