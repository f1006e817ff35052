# The gatehouse image (`gatehouse controller` in deploy/, and every other command).
#   docker build -t ghcr.io/gatehouse/gatehouse:0.1.0 .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin bin
COPY src src
COPY protos protos
COPY envoy envoy
# npm ci runs `prepare` (tsc) into dist/; then drop the build-only dependencies.
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
USER 1000
ENTRYPOINT ["node", "/app/bin/gatehouse.js"]
CMD ["--help"]
