# The hub, one image for every role (HUB_ROLE=api|worker|all).
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Node 24 runs the TypeScript as it is (type stripping), as in the repository.
COPY bin ./bin
COPY src ./src
COPY routes ./routes
COPY jobs ./jobs
COPY sql ./sql
COPY ui ./ui

# The embedded PostgreSQL (used only when DATABASE_URL is unset) keeps its data here.
RUN mkdir -p /data && chown node:node /data
ENV HUB_DATA_DIR=/data HOST=0.0.0.0 PORT=8080
VOLUME /data
USER node
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"

CMD ["node", "--max-semi-space-size=16", "--max-old-space-size=1024", "bin/hub.js", "start"]
