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
# ingest (observers), output (overlays), HTTP extras
EXPOSE 5100 5200 5101
# /readyz on the extras port (503 while draining), over TLS or plain
# (INSECURE); the certificate is not checked, the relay's own may be
# self-signed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD wget -q -O /dev/null --no-check-certificate "https://127.0.0.1:${EXTRAS_PORT:-5101}/readyz" \
     || wget -q -O /dev/null "http://127.0.0.1:${EXTRAS_PORT:-5101}/readyz" || exit 1
ENTRYPOINT ["spectra-server"]
