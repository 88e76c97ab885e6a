# syntax=docker/dockerfile:1
# Keel's image: one image for every role (ROLE=api, ROLE=worker, the migration step), built in two
# stages so the runtime holds the compiled code and production dependencies only.
# Checked statically in CI (npm run deploy:check); see README "Deployment" for what was run.

# --- build: dev dependencies, TypeScript compiled to dist/
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY plugins ./plugins
COPY modules ./modules
RUN npm run build

# --- runtime: production dependencies, non-root, tini as PID 1
FROM node:24-bookworm-slim AS runtime
# tini forwards SIGTERM to Node (which drains requests and jobs) and reaps zombies.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: the only production package with one is the embedded PostgreSQL, which a
# process with DATABASE_URL never loads.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force
COPY --from=build /app/dist ./dist
# Migrations (applied by dist/src/cli/migrate.js) and the modules' READMEs (the OpenAPI tag texts).
COPY drizzle ./drizzle
COPY modules ./modules
# The node user (uid 1000) of the base image; nothing in /app is writable by it.
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# Tracing loads before the app when OTEL_EXPORTER_OTLP_ENDPOINT is set (a no-op otherwise), as npm start does.
CMD ["node", "--import", "./dist/src/app/instrumentation.js", "dist/src/app/server.js"]
