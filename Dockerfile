# sniffer container image: a build stage with Go and libpcap headers, a small runtime stage
# with the libpcap runtime and the binary. It runs as the non-root user "sniffer" (uid 10001),
# which gets CAP_NET_RAW (capture) and, when the container is given it, CAP_NET_ADMIN (the
# VXLAN device mode) from file capabilities on the binary. Every setting is an environment
# variable (see .env.example).
#
#   docker build -t sniffer .
#   docker run --rm --network host -e APP_PORTS=80,8080 sniffer
#
# The base images are arguments so that a mirror or a locally built image can stand in.
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${GO_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Modules first, so that a change to the sources does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sniffer . \
 && /out/sniffer -h >/dev/null 2>&1 \
 && cd /out && sha256sum sniffer > sniffer.sha256

FROM ${RUNTIME_IMAGE}
# libpcap0.8 is the runtime library; libcap2-bin (setcap, getcap; 100 kB) sets the binary's
# capabilities below. This layer does not depend on the sources, so it stays cached.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 ca-certificates libcap2-bin \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 sniffer \
 && useradd --uid 10001 --gid sniffer --no-create-home --home-dir /var/lib/sniffer --shell /usr/sbin/nologin sniffer \
 && install -d -o sniffer -g sniffer -m 0700 /var/lib/sniffer /var/lib/sniffer/spool
# The binary's checksum comes first: a builder that keys RUN's cache on the command alone
# (buildah 1.28 in Debian 12's podman 4.3 does) would otherwise reuse the RUN below with an old
# binary; the checksum changes the layer under it whenever the binary changes.
COPY --from=build /out/sniffer.sha256 /usr/local/share/sniffer/sniffer.sha256
# The binary is installed and given its capabilities in one layer, so that it is stored once
# (setcap on a file copied in by an earlier layer would copy it up). The capabilities are
# "permitted" only, not "effective": with the effective bit the kernel refuses to run the file
# when the container lacks one of them (docker gives NET_RAW by default, not NET_ADMIN);
# sniffer makes what it is given effective itself (caps_linux.go).
RUN --mount=type=bind,from=build,source=/out/sniffer,target=/tmp/sniffer \
    install -m 0755 /tmp/sniffer /usr/local/bin/sniffer \
 && setcap cap_net_raw,cap_net_admin+p /usr/local/bin/sniffer \
 && cd /usr/local/bin && sha256sum --quiet -c /usr/local/share/sniffer/sniffer.sha256
USER sniffer:sniffer
WORKDIR /var/lib/sniffer
# /metrics and /healthz; set SNIFFER_METRICS_ADDR empty to turn them off (the health check
# then fails), or to another host:port if 9777 is taken on the host network.
ENV SNIFFER_METRICS_ADDR=:9777
EXPOSE 9777
# No curl in the image: bash's /dev/tcp asks /healthz on the port of SNIFFER_METRICS_ADDR.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${SNIFFER_METRICS_ADDR##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -c 12 <&3 | grep -q ' 200'"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sniffer"]
