ARG ARCH="amd64"
ARG OS="linux"
FROM quay.io/prometheus/busybox-${OS}-${ARCH}:latest
LABEL maintainer="Seed 5ff58b3a maintainers <maintainers@users.noreply.r-seed-5ff58b3a.example>"
# OCI annotations, as the Prometheus project's exporter images carry them
# (licenses as an SPDX expression, as the OCI image spec asks).
LABEL org.opencontainers.image.authors="Seed 5ff58b3a maintainers" \
      org.opencontainers.image.vendor="Seed 5ff58b3a" \
      org.opencontainers.image.title="synack_exporter" \
      org.opencontainers.image.description="Prometheus exporter: is a TCP port open, and how fast does it answer, checked with a half-open handshake" \
      org.opencontainers.image.source="https://github.com/seed-5ff58b3a/synack_exporter" \
      org.opencontainers.image.url="https://github.com/seed-5ff58b3a/synack_exporter" \
      org.opencontainers.image.documentation="https://github.com/seed-5ff58b3a/synack_exporter/blob/main/README.md" \
      org.opencontainers.image.licenses="Apache-2.0"

# Build the binary first, as `promu crossbuild` does (or run
# .ci/release-checks.sh, which builds .build/linux-amd64 with the same flags).
ARG ARCH="amd64"
ARG OS="linux"
COPY .build/${OS}-${ARCH}/synack_exporter /bin/synack_exporter
COPY config.yml /etc/synack_exporter/config.yml

EXPOSE 9847
USER nobody

# Plain probes need no capability. Three module options may:
#   mark (SO_MARK)              --cap-add=NET_ADMIN (NET_RAW on Linux >= 5.17)
#   interface (SO_BINDTODEVICE) none on Linux >= 5.7, else --cap-add=NET_RAW
#   source_ip_address           none, but the address must belong to the
#                               container, e.g. with --network=host
# Docker hands an added capability to a non-root user only through file
# capabilities, so with --cap-add also pass --user=root, or build a derived
# image that sets them on /bin/synack_exporter. A probe whose option lacks
# its capability fails with class "local" (errno EPERM); the option is
# never silently dropped.
ENTRYPOINT [ "/bin/synack_exporter" ]
CMD        [ "--config.file=/etc/synack_exporter/config.yml" ]
