# The gatehouse image (`gatehouse controller` in deploy/, and every other command).
#   docker build -t ghcr.io/gatehouse/gatehouse:0.1.0 .
FROM node:20-bookworm-slim AS build
WORKDIR /app
# `prepare` compiles with tsconfig.build.json, which extends tsconfig.json: both are needed.
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin bin
COPY src src
COPY protos protos
COPY envoy envoy
# `gatehouse up` defaults to examples/services.yaml and runs examples/app.
COPY examples examples
# npm ci runs `prepare` (tsc) into dist/; then drop the build-only dependencies.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
# The node image's unprivileged user, by number so that runAsNonRoot can check it (deploy/).
USER 1000
ENTRYPOINT ["node", "/app/bin/gatehouse.js"]
CMD ["--help"]
