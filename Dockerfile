# The whitelist image: a drop-in replacement for tecnativa/whitelist.
# Same variables, same defaults, same HEALTHCHECK command; the proxy is one
# C binary instead of Python + socat, and the image has no Python or socat.
#
#   docker build -t whitelist .
#   docker buildx build --platform linux/amd64,linux/arm64 -t NAME --push .
#
# Nothing here is specific to one architecture: each platform's stages run on
# that platform's Alpine. Only Alpine packages are downloaded (no `# syntax=`
# line either: BuildKit's built-in frontend is enough for COPY --chmod).
# t/test_container.py builds the final stage with podman (FROM and RUN replaced
# by local files: no registry there) and runs it; t/test_image.py checks the rest.

ARG ALPINE_VERSION=3.20

FROM alpine:${ALPINE_VERSION} AS build
RUN apk add --no-cache build-base curl-dev pkgconf linux-headers
WORKDIR /src
# Sources only (.dockerignore keeps host objects and binaries out, so nothing
# built against another libc can look up to date here).
COPY Makefile *.c *.h ./
# CFLAGS from the environment: the Makefile appends its own flags to it.
RUN CFLAGS="-O2" LDFLAGS="-s" make -j"$(nproc)" whitelist healthcheck

FROM alpine:${ALPINE_VERSION}
# libcurl for the healthcheck only; the CA bundle for its https:// probes;
# nftables for PORT=* only: the proxy runs `nft` to make and remove its
# redirect (docs/ports.md says why the program and not libnftables).
RUN apk add --no-cache libcurl ca-certificates-bundle nftables
COPY --from=build /src/whitelist /src/healthcheck /usr/local/bin/
COPY --chmod=0755 entrypoint.sh /usr/local/bin/entrypoint.sh

# Every default of tecnativa/whitelist; TARGET has none (required).
# `\$TARGET` stays literal here: the healthcheck replaces it at run time.
# UDP_TIMEOUT, LOG_FORMAT, ALLOW_FROM, METRICS_PORT, RESOLVE_INTERVAL, ROUTE_TIMEOUT
# and ROUTE_ALLOW_PRIVATE are ours (empty ALLOW_FROM: everyone; empty METRICS_PORT:
# no metrics); the timeouts were the old healthcheck's built-in ones.
ENV NAMESERVERS="208.67.222.222 8.8.8.8 208.67.220.220 8.8.4.4" \
    PORT="80 443" \
    PRE_RESOLVE=0 \
    MODE=tcp \
    VERBOSE=0 \
    LOG_FORMAT=text \
    MAX_CONNECTIONS=100 \
    UDP_ANSWERS=1 \
    UDP_TIMEOUT=30 \
    HTTP_HEALTHCHECK=0 \
    HTTP_HEALTHCHECK_URL="http://\$TARGET/" \
    HTTP_HEALTHCHECK_TIMEOUT_MS=2000 \
    SMTP_HEALTHCHECK=0 \
    SMTP_HEALTHCHECK_URL="smtp://\$TARGET/" \
    SMTP_HEALTHCHECK_COMMAND="HELP" \
    SMTP_HEALTHCHECK_TIMEOUT_MS=2000 \
    ALLOW_FROM="" \
    METRICS_PORT="" \
    RESOLVE_INTERVAL=0 \
    ROUTE_TIMEOUT=10 \
    ROUTE_ALLOW_PRIVATE=0

HEALTHCHECK CMD ["healthcheck"]
# The proxy stops accepting at once and gives open connections 5 s: inside
# Docker's default 10 s stop timeout.
STOPSIGNAL SIGTERM
# entrypoint.sh execs the proxy, which is then PID 1: it reaps every child and
# gets the SIGTERM itself. Arguments (healthcheck, sh, ...) run instead.
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD []

LABEL org.opencontainers.image.title="whitelist" \
      org.opencontainers.image.description="Forwards PORT to one TARGET: a way out of an internal network to one host, and nowhere else"
