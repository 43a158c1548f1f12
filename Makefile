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
#
# Statically linked, the program starts at 0x440000 rather than 0x400000:
# a relay's stack and the shared memory are mapped just below it
# (process.h), and so the three, with the program's data, lie in one 2 MB
# region, which one page-table page maps: 4 kB less per relay
# (docs/performance.md). The program must stay under 1.7 MB for that.
STATIC ?= -static
PROXY_BASE = $(if $(STATIC),-Xlinker -Ttext-segment=0x440000)
PROXY_LDFLAGS = $(STATIC) $(PROXY_BASE) -Wl,-z,now -Wl,-z,noseparate-code
PKG_CONFIG ?= pkg-config
CURL_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcurl)
CURL_LIBS = $(shell $(PKG_CONFIG) --libs libcurl)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check)

# The modules every program may use, then each program's own: one file per
# process role (ARCHITECTURE.md).
COMMON_OBJS = addr.o config.o config_allow.o config_ports.o config_proxy.o dns_wire.o log.o process.o resolve.o shared.o
SNIFF_OBJS = sniff.o sniff_normalize.o tls_hello.o http_head.o proxy_head.o
PROXY_OBJS = whitelist.o $(COMMON_OBJS) target.o guard.o ifnets.o listener.o slots.o tcp.o conn.o route.o proxy.o relay.o every_port.o \
	policy.o names.o \
	$(SNIFF_OBJS) udp.o udp_session.o udp_batch.o udp_handover.o session.o metrics.o
HEALTH_OBJS = healthcheck.o $(COMMON_OBJS) hc_report.o hc_procs.o hc_dns.o hc_probe.o
# Every module but the two mains: the unit suites link them all.
UNIT_OBJS = $(filter-out whitelist.o healthcheck.o,$(sort $(PROXY_OBJS) $(HEALTH_OBJS)))
UNIT_SUITES = $(sort $(wildcard t/check_*.c))

.PHONY: all run check unit e2e asan fuzz bench soak fresh cross clean deps graph

all: whitelist healthcheck

whitelist: $(PROXY_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) $(PROXY_LDFLAGS) -o $@ $(PROXY_OBJS)

healthcheck: $(HEALTH_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(HEALTH_OBJS) $(CURL_LIBS)

hc_probe.o healthcheck.o: CFLAGS += $(CURL_CFLAGS)

%.o: %.c $(wildcard *.h)
	$(CC) $(CFLAGS) -c -o $@ $<

# One binary runs every Check suite (t/check.h lists them); `t/unit NAME...` runs some.
# t/sniff_kit.c reads t/captures/ (real first flights of curl, openssl, Python's ssl).
UNIT_KIT = t/dns_packet.c t/sniff_kit.c t/conf_table.c
t/unit: $(UNIT_SUITES) t/check.h $(UNIT_KIT) $(UNIT_KIT:.c=.h) $(UNIT_OBJS)
	$(CC) $(CFLAGS) $(CURL_CFLAGS) $(CHECK_CFLAGS) -I. -DCAPTURE_DIR='"t/captures"' -o $@ \
		$(UNIT_SUITES) $(UNIT_KIT) $(UNIT_OBJS) $(CURL_LIBS) $(CHECK_LIBS)

# Targets that install packages first (t/deps.sh, as root) build in a
# sub-make, so that even `make -j` compiles only once the compiler is there.

# Runs the proxy in the foreground, configured by the environment, e.g.
# `TARGET=example.com PORT=8080 make run` (as root it installs what is missing).
run:
	@t/deps.sh
	@$(MAKE) --no-print-directory all
	./whitelist

# Installs the Debian packages the build and the tests need (root only); the
# table in t/deps.sh says which program needs which package.
deps:
	@t/deps.sh check

unit: t/unit
	CK_DEFAULT_TIMEOUT=20 ./t/unit

e2e: all
	@python3 t/e2e.py

# Unit suites, then end-to-end tests (one after the other, even with -j).
check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory e2e

# The module graph (who calls whom, from the objects' symbols); fails on a cycle.
graph: all
	@python3 t/modgraph.py $(sort $(PROXY_OBJS) $(HEALTH_OBJS))

# The whole suite under ASan and UBSan (dynamic: the sanitizers need it).
# Reports from every process, proxies and their children included, go to
# ASAN_LOGS; any report fails the target.
SANITIZE = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_LOGS = /tmp/whitelist-asan
asan:
	$(MAKE) clean
	rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS) && chmod 1777 $(ASAN_LOGS)
	@# Whatever happens, the sanitized objects are removed: a later `make` must not reuse them.
	@status=0; ASAN_OPTIONS=log_path=$(ASAN_LOGS)/asan:detect_leaks=1 \
	UBSAN_OPTIONS=log_path=$(ASAN_LOGS)/ubsan:print_stacktrace=1 \
		$(MAKE) STATIC= CFLAGS="$(SANITIZE)" check || status=$$?; \
	$(MAKE) clean >/dev/null; \
	if ls $(ASAN_LOGS)/* >/dev/null 2>&1; then cat $(ASAN_LOGS)/*; exit 1; fi; \
	[ $$status -eq 0 ] && echo "asan: no sanitizer report"; exit $$status

fuzz:
	@t/deps.sh fuzz
	@fuzz/run.sh

bench:
	@t/deps.sh check bench
	@$(MAKE) --no-print-directory all
	@python3 bench/bench.py

soak: deps
	@$(MAKE) --no-print-directory all
	@python3 t/soak.py

# make check as a newcomer runs it: a minimal Debian 12 made by debootstrap,
# a clone of HEAD, root, CI=1 (t/fresh.sh; minutes, not part of check).
fresh:
	@t/fresh.sh

# Both programs and the unit suites built for aarch64 (Debian's cross gcc,
# libcurl and check from the arm64 architecture), in a tree of their own;
# t/cross.sh then runs the units and a small end-to-end test under
# qemu-aarch64 (docs/arm64.md; minutes, not part of check).
CROSS_TRIPLET = aarch64-linux-gnu
CROSS_DIR = build/$(CROSS_TRIPLET)
CROSS_PKG_CONFIG = env PKG_CONFIG_LIBDIR=/usr/lib/$(CROSS_TRIPLET)/pkgconfig:/usr/share/pkgconfig pkg-config
cross:
	@t/deps.sh check cross
	rm -rf $(CROSS_DIR) && mkdir -p $(CROSS_DIR)/t
	cp Makefile *.c *.h $(CROSS_DIR)/
	cp -R t/*.c t/*.h t/captures $(CROSS_DIR)/t/
	$(MAKE) --no-print-directory -C $(CROSS_DIR) CC=$(CROSS_TRIPLET)-gcc \
		PKG_CONFIG="$(CROSS_PKG_CONFIG)" all t/unit
	t/cross.sh $(CROSS_DIR)

clean:
	rm -f whitelist healthcheck *.o t/unit $(UNIT_SUITES:.c=) fuzz/*.bin
	rm -rf build
