# The Spectra relay as a small image: a static binary on Alpine, run as a
# non-root user. Build: `make docker`, or `docker compose up --build`
# (compose.yaml). Configuration is the binary's own environment variables
# (`spectra-server -h` lists them all).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/spectra-server ./cmd/spectra-server

FROM alpine:3.22
# A fixed UID, so that a bind-mounted keys/ or replays/ can be chowned to it.
RUN addgroup -S -g 10001 spectra \
 && adduser -S -D -H -u 10001 -G spectra -h /srv/spectra spectra \
 && mkdir -p /srv/spectra/keys /srv/spectra/replays \
 && chown -R spectra:spectra /srv/spectra
COPY --from=build /out/spectra-server /usr/local/bin/spectra-server
COPY LICENSE /usr/share/doc/spectra-relay/LICENSE
WORKDIR /srv/spectra
USER spectra
# keys/: the TLS pair (SERVER_KEY, SERVER_CERT; generated self-signed on first
# start when missing). replays/: one replay file per match (REPLAY_DIR); the
# relay recovers unfinished matches from them after a restart (RECOVER).
VOLUME ["/srv/spectra/keys", "/srv/spectra/replays"]
# ingest (observers), output (overlays), HTTP extras. The admin listener
# (status page, /metrics, health checks; ADMIN_BIND, default
# 127.0.0.1:5102) stays on the container's loopback: not exposed, reached
# with `docker exec` or, with ADMIN_BIND=0.0.0.0:5102 and ADMIN_TOKEN, by
# publishing it (see README, Deploy).
EXPOSE 5100 5200 5101
# /readyz on the admin port (503 while draining), probed on loopback, so
# ADMIN_BIND must keep a loopback or all-interfaces host (empty ADMIN_BIND
# turns the listener off and this check with it). Plain HTTP on loopback;
# over TLS when ADMIN_BIND is all interfaces and INSECURE=false (the
# certificate is not checked, the relay's own may be self-signed).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD p="${ADMIN_BIND-127.0.0.1:5102}"; p="${p##*:}"; \
        wget -q -O /dev/null "http://127.0.0.1:${p}/readyz" \
     || wget -q -O /dev/null --no-check-certificate "https://127.0.0.1:${p}/readyz" || exit 1
ENTRYPOINT ["spectra-server"]
