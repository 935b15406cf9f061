# pyrycode-relay container image (operations.md §11).
#
# Build:  docker build -t pyrycode-relay .
# Run:    docker run -p 80:80 -p 443:443 -v relay-certs:/var/lib/relay/autocert \
#           pyrycode-relay --domain relay.example.com
#   or, behind a TLS-terminating proxy:
#         docker run -p 127.0.0.1:8080:8080 pyrycode-relay --insecure-listen :8080 --trust-x-forwarded-for
#
# Base image: node:24-bookworm-slim (Node.js 24, the current Active LTS, on Debian 12),
# pinned by the digest of its multi-platform index so a rebuild gets exactly the
# bytes that were reviewed. Both stages name the same image on their FROM line
# (not through an ARG: Dependabot only updates literal FROM lines), and
# Dependabot's weekly docker update bumps both together (docs/deploy/docker.md).

# ---- build: compile the TypeScript (dev dependencies live only in this stage) ----
FROM node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json

# ---- runtime: production dependencies and the compiled relay, nothing else ----
FROM node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d
ENV NODE_ENV=production \
    HOME=/var/lib/relay
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, no install scripts (the optional bufferutil ships a
# prebuilt linux-x64 binary; elsewhere ws falls back to JavaScript, nothing compiles).
# Then npm, npx, corepack and yarn (where the base ships them) go too, so the image
# carries no package manager or build tooling.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /root/.npm \
           /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && mkdir -p /var/lib/relay/autocert \
 && chown -R 65532:65532 /var/lib/relay \
 && chmod 0700 /var/lib/relay/autocert
COPY --from=build /src/dist/src ./dist/src

# The ACME account key and certificates persist here (mode 0700, owned by the relay).
VOLUME /var/lib/relay/autocert
# 80: ACME HTTP-01 challenges; 443: WSS. With --insecure-listen, publish that port instead.
EXPOSE 80 443
# Unprivileged (the "nonroot" uid of distroless images). Docker lets unprivileged
# processes bind ports below 1024 inside the container, so no capability is needed.
USER 65532:65532
# Later flags win, so `docker run … --cert-cache /elsewhere` still overrides the default.
# A 4 MiB young-generation semi-space keeps idle connections near 6.5 KiB RSS each
# instead of 7.5 (docs/performance.md, workload v) at no measurable CPU cost.
ENTRYPOINT ["node", "--max-semi-space-size=4", "dist/src/cli/main.js", "--cert-cache=/var/lib/relay/autocert"]
CMD ["--help"]
