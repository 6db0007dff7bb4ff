# Respite container image: a multi-stage build, the Swift toolchain only in the builder.
#
#   docker build -t respite .
#   docker run --rm -p 6380:6380 respite --config /etc/respite/respite.conf --bind 0.0.0.0 --upstream redis:6379
#
# Pick the builder to match the toolchain the project is tested with (`swift --version`; the
# package needs Swift 6 language mode): SWIFT_IMAGE=swift:6.3-bookworm by default. Keep it on
# bookworm so that the libevent the binary links against is the one the runtime stage installs.
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends libevent-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Manifest first, so dependency resolution is cached across source edits.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product respite --static-swift-stdlib \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/respite" /out/usr/local/bin/respite
COPY config/respite.minimal.conf /out/etc/respite/respite.conf

FROM ${RUNTIME_IMAGE}
# The binary links libevent (core + pthreads) and libstdc++ (the Swift runtime is static);
# redis-tools is for the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libevent-2.1-7 libevent-pthreads-2.1-7 libstdc++6 redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system respite \
    && useradd --system --gid respite --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin respite \
    && install -d -o respite -g respite -m 0755 /run/respite
COPY --from=builder /out/ /
USER respite
EXPOSE 6380
STOPSIGNAL SIGTERM
# redis-cli exits 0 on an error reply too, so look for the PONG. With `requirepass` set, add
# `-a "$PASSWORD"` or answer PING before AUTH.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD redis-cli -h 127.0.0.1 -p 6380 ping | grep -q PONG
ENTRYPOINT ["respite"]
CMD ["--config", "/etc/respite/respite.conf"]
