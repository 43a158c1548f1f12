#!/bin/sh
# Entry point of the whitelist image.
#
# Without arguments it execs the proxy, so that the proxy is PID 1: it reaps
# every process and gets Docker's SIGTERM itself. The proxy reads and checks
# the environment, so nothing is checked here. With arguments they run
# instead: `docker run IMAGE healthcheck`, `docker run -it IMAGE sh`.
# `proxy`, the old image's command, still means the proxy.
set -eu

if [ "$#" -eq 0 ] || [ "$1" = proxy ]; then
	exec whitelist
fi
exec "$@"
