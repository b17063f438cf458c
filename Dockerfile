# One image with both services (the task definitions pick the command):
#   docker build -t vodnest .
#   docker run vodnest vodnest-api        |  docker run vodnest vodnest-processor
# Not built by the test suite (no container engine on the CI machines); see README "Deploy to AWS".

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin vodnest-api --bin vodnest-processor --bin vodnest

FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app vodnest
WORKDIR /app
COPY --from=build /src/target/release/vodnest-api /src/target/release/vodnest-processor /src/target/release/vodnest /usr/local/bin/
COPY --from=web /web/node_modules/hls.js/dist /app/node_modules/hls.js/dist
USER vodnest
ENV LOG_FORMAT=json
EXPOSE 3000 50051
CMD ["vodnest-api"]
