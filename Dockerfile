# The Meridian worker. Built by docker-compose.yml; talks to Temporal at TEMPORAL_ADDRESS.
FROM node:24-bookworm-slim

WORKDIR /app
RUN chown node:node /app
USER node

COPY --chown=node:node package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY --chown=node:node . .
RUN mkdir -p .meridian

ENV NODE_ENV=production \
    TEMPORAL_ADDRESS=temporal:7233 \
    TEMPORAL_NAMESPACE=default

CMD ["node", "bin/meridian.js", "worker"]
