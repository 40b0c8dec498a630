# Image of the Catwalk server for `fly deploy` (fly.toml). Builds the single binary, then runs it
# on a Node base so npm MCP servers of the local runtime have Node.js; uv provides uvx for PyPI.
FROM oven/bun:1.4.5 AS build
WORKDIR /src
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile
COPY . .
RUN bun scripts/build.ts /out/catwalk

FROM node:22-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates python3 && rm -rf /var/lib/apt/lists/*
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /uvx /usr/local/bin/
COPY --from=build /out/catwalk /usr/local/bin/catwalk
VOLUME /data
EXPOSE 7400
ENTRYPOINT ["/usr/local/bin/catwalk"]
CMD ["serve"]
