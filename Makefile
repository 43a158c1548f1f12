# whitelist: build, test, sanitize, fuzz, bench.
# `make` builds ./whitelist and ./healthcheck; `make check` runs every test.

CC ?= cc
CFLAGS ?= -O2 -g
# `override`: these stay even when CFLAGS is given on the command line (make asan).
override CFLAGS += -std=c11 -Wall -Wextra -Wshadow -D_GNU_SOURCE
LDFLAGS ?=
# The proxy is linked statically: each forked relay then shares no library
# text with other programs (a third of the memory of an idle connection,
# measured by `make bench`) and has no ld.so work or relocations to fault in.
# glibc warns that getaddrinfo in a static program may load NSS modules at
# run time; since glibc 2.34 "files" and "dns" (Debian's and Docker's
# nsswitch.conf) are built in. `make STATIC=` links dynamically.
STATIC ?= -static
PROXY_LDFLAGS = $(STATIC) -Wl,-z,now
PKG_CONFIG ?= pkg-config
CURL_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcurl)
CURL_LIBS = $(shell $(PKG_CONFIG) --libs libcurl)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check)

PROXY_OBJS = whitelist.o config.o log.o slots.o session.o relay.o listener.o udp.o resolve.o \
	shared.o target.o metrics.o
HEALTH_OBJS = healthcheck.o config.o log.o resolve.o
UNIT_TESTS = t/check_config t/check_slots t/check_session t/check_log t/check_resolve t/check_healthcheck \
	t/check_shared t/check_metrics

.PHONY: all run check unit e2e asan fuzz bench soak clean deps

all: whitelist healthcheck

whitelist: $(PROXY_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) $(PROXY_LDFLAGS) -o $@ $(PROXY_OBJS)

healthcheck: $(HEALTH_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(HEALTH_OBJS) $(CURL_LIBS)

healthcheck.o: healthcheck.c $(wildcard *.h)
	$(CC) $(CFLAGS) $(CURL_CFLAGS) -c -o $@ $<

%.o: %.c $(wildcard *.h)
	$(CC) $(CFLAGS) -c -o $@ $<

t/check_resolve: t/check_resolve.c resolve.o
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -I. -o $@ $< resolve.o $(CHECK_LIBS)

# Includes healthcheck.c itself (main renamed) to test its static functions.
t/check_healthcheck: t/check_healthcheck.c healthcheck.c config.o log.o resolve.o $(wildcard *.h)
	$(CC) $(CFLAGS) $(CURL_CFLAGS) $(CHECK_CFLAGS) -I. -o $@ $< config.o log.o resolve.o \
		$(CURL_LIBS) $(CHECK_LIBS)

t/check_config: t/check_config.c config.o log.o resolve.o
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -I. -o $@ $< config.o log.o resolve.o $(CHECK_LIBS)

t/check_shared: t/check_shared.c shared.o
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -I. -o $@ $< shared.o $(CHECK_LIBS)

t/check_metrics: t/check_metrics.c metrics.o shared.o config.o log.o resolve.o
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -I. -o $@ $< metrics.o shared.o config.o log.o resolve.o \
		$(CHECK_LIBS)

t/check_slots: t/check_slots.c slots.o
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -I. -o $@ $< slots.o $(CHECK_LIBS)

t/check_session: t/check_session.c session.o
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -I. -o $@ $< session.o $(CHECK_LIBS)

t/check_log: t/check_log.c log.o
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -I. -o $@ $< log.o $(CHECK_LIBS)

# Runs the proxy in the foreground, configured by the environment, e.g.
# `TARGET=example.com PORT=8080 make run` (as root it installs what is missing).
run: deps all
	./whitelist

# Installs the Debian packages the build and the tests need (root only).
deps:
	@t/deps.sh

unit: $(UNIT_TESTS)
	@set -e; for test in $(UNIT_TESTS); do echo "== $$test"; CK_DEFAULT_TIMEOUT=20 ./$$test; done

e2e: all
	@t/deps.sh shellcheck musl-tools engine
	@python3 t/e2e.py

check: deps all unit e2e

# The whole suite under ASan and UBSan (dynamic: the sanitizers need it).
# Reports from every process, proxies and their children included, go to
# ASAN_LOGS; any report fails the target.
SANITIZE = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_LOGS = /tmp/whitelist-asan
asan:
	$(MAKE) clean
	rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS) && chmod 1777 $(ASAN_LOGS)
	ASAN_OPTIONS=log_path=$(ASAN_LOGS)/asan:detect_leaks=1 \
	UBSAN_OPTIONS=log_path=$(ASAN_LOGS)/ubsan:print_stacktrace=1 \
		$(MAKE) STATIC= CFLAGS="$(SANITIZE)" check
	@if ls $(ASAN_LOGS)/* >/dev/null 2>&1; then cat $(ASAN_LOGS)/*; exit 1; fi
	@echo "asan: no sanitizer report"
	$(MAKE) clean

fuzz:
	@fuzz/run.sh

bench: all
	@t/deps.sh wrk iperf3 haproxy
	@python3 bench/bench.py

soak: all
	@python3 t/soak.py

clean:
	rm -f whitelist healthcheck *.o $(UNIT_TESTS) fuzz/*.bin
