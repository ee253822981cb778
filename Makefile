# keygate — build, run, test, bench.
#   make          build/keygate
#   make run      install missing packages, build, serve on 127.0.0.1:8080 (data/keygate.db;
#                 PORT=9090 for another port)
#   make test     install what tests need, build, unit tests + end-to-end tests
#   make check-asan   the same tests against an ASan+UBSan build
#   make bench    optimised build + wrk figures (see scripts/bench.sh)
#   make install  PREFIX=/usr/local (DESTDIR= for staging): the binary, the man page, the
#                 examples; make uninstall takes them away again
# HTTP picks the adapter behind src/http/http.h: `ev` (default; http_ev.c, an epoll loop of
# its own with http-parser) or `mhd` (http_mhd.c, libmicrohttpd; built in build/mhd unless
# BUILD says otherwise), so that the two can be benchmarked side by side:
#   make HTTP=mhd && scripts/bench.sh build/mhd/keygate
# STORE_PG=0 builds without PostgreSQL (no libpq; postgres:// URIs are refused).
# Builds run JOBS jobs at once (default: the number of cores); the test suites one at a time.
#
# src/'s folders are the layers, bottom up (scripts/check-layers.sh keeps each file to its own
# layer and those below): base store domain http cmd.

CC       ?= cc
HTTP     ?= ev
STORE_PG ?= 1
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
# Set once, by the make the user started: a sub-make shares its jobs (setting -j again there
# would make GNU make warn "-jN forced in makefile: resetting jobserver mode").
ifeq ($(MAKELEVEL),0)
MAKEFLAGS += -j$(JOBS)
endif
LAYERS   := base store domain http cmd
PKGS     := $(if $(filter mhd,$(HTTP)),libmicrohttpd) jansson libsodium libcrypto sqlite3 libcurl \
            $(if $(filter 1,$(STORE_PG)),libpq)
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
            -Wcast-qual -Wsign-compare -fno-common -Wformat=2 -Wvla
OPT      ?= -O2 -g
INC      := $(addprefix -Isrc/,$(LAYERS))
# OPT picks optimisation and sanitizers; CFLAGS and LDFLAGS stay free for the caller.
ALL_CFLAGS := $(OPT) -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(if $(CI),-Werror) $(INC) \
              $(if $(filter 1,$(STORE_PG)),,-DKG_NO_PG) \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(if $(filter mhd,$(HTTP)),,-lhttp_parser) -pthread
BUILD    ?= $(if $(filter mhd,$(HTTP)),build/mhd,build)

NOT_BUILT := $(if $(filter mhd,$(HTTP)),src/http/http_ev.c,src/http/http_mhd.c) \
             $(if $(filter 1,$(STORE_PG)),,src/store/store_pg.c)
SRC      := $(filter-out $(NOT_BUILT),$(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c)))
LIB_SRC  := $(filter-out src/cmd/main.c,$(SRC))
WEB      := $(sort $(wildcard web/*.* web/*/*.*))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/assets_data.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
SUITES   := unit e2e standards interop pg browser docs

.PHONY: all run test unit e2e standards interop pg browser docs fuzz check-asan check-layers \
        check-format bench deps clean format install uninstall
all: $(BUILD)/keygate

# -MMD -MP: each object depends on the headers it really includes (build/.../*.d).
$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<
-include $(SRC:src/%.c=$(BUILD)/obj/%.d) $(UNIT_BIN:%=%.d)

# The web pane, embedded: tools/embed turns web/ (and its folders) into a C table.
$(BUILD)/embed: tools/embed.c | $(BUILD)/obj
	$(CC) -O1 -o $@ $<

$(BUILD)/gen/assets_data.c: $(BUILD)/embed $(WEB)
	mkdir -p $(BUILD)/gen
	$(BUILD)/embed $@ web $(WEB)

$(BUILD)/obj/assets_data.o: $(BUILD)/gen/assets_data.c src/http/assets.h
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The OpenAPI document (doc/openapi.json), an array that src/http/openapi.c includes.
$(BUILD)/gen/openapi_json.h: $(BUILD)/embed doc/openapi.json
	mkdir -p $(BUILD)/gen
	$(BUILD)/embed -a openapi_json $@ doc/openapi.json

$(BUILD)/obj/http/openapi.o: $(BUILD)/gen/openapi_json.h
$(BUILD)/obj/http/openapi.o: ALL_CFLAGS += -I$(BUILD)/gen

$(BUILD)/keygate: $(BUILD)/obj/cmd/main.o $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB_OBJ) | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -MMD -MP -MF $@.d $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

deps:
	@scripts/setup.sh $(DEPS_FOR)

# make run PORT=9090 when 8080 is taken.  The database stays in data/ (an installed keygate
# defaults to $XDG_DATA_HOME/keygate, or /var/lib/keygate under systemd: see keygate --help).
PORT ?= 8080
run:
	@scripts/setup.sh run
	@$(MAKE) --no-print-directory all
	$(BUILD)/keygate serve --listen 127.0.0.1:$(PORT) --db data/keygate.db

unit: $(UNIT_BIN)
	@scripts/unit.sh $(UNIT_BIN)

e2e: $(BUILD)/keygate
	KEYGATE_BIN=$(abspath $(BUILD)/keygate) node --test --test-concurrency=1 tests/e2e/

# The store suite again, and two keygate nodes, against a throw-away PostgreSQL cluster.
pg: $(BUILD)/keygate $(BUILD)/tests/test_store
	scripts/pgtest.sh $(BUILD)/tests/test_store
	KEYGATE_BIN=$(abspath $(BUILD)/keygate) node --test --test-concurrency=1 tests/pg/

standards: $(BUILD)/keygate
	KEYGATE_BIN=$(abspath $(BUILD)/keygate) node --test --test-concurrency=1 tests/standards/

# The compatibility suite (issue 14): clients nobody here wrote, from Debian and npm packages
# (requests-oauthlib, PyJWT, openid-client, jsonwebtoken + jwks-rsa, Go's x/oauth2, nginx),
# against a keygate for each signing algorithm.  The Go client is built in build/interop/.
interop: $(BUILD)/keygate
	KEYGATE_BIN=$(abspath $(BUILD)/keygate) node --test --test-concurrency=1 tests/interop/

browser: $(BUILD)/keygate
	KEYGATE_BIN=$(abspath $(BUILD)/keygate) node --test --test-concurrency=1 tests/browser/

# What the README and the examples promise: make install into a staging directory, the
# systemd unit (systemd-analyze verify) and its state directory, examples/nginx.conf run as
# the README shows, and the README's shell blocks run and their output compared.
docs: $(BUILD)/keygate
	KEYGATE_BIN=$(abspath $(BUILD)/keygate) node --test --test-concurrency=1 tests/docs/

# libFuzzer drivers (tests/fuzz/, clang with ASan+UBSan, in build/fuzz): a short run of each.
fuzz:
	+scripts/fuzz.sh smoke

# The source checks: includes run only down the layers; every C file is formatted.
check-layers:
	@scripts/check-layers.sh
check-format:
	@scripts/check-format.sh

# Everything is built first (in parallel), then the suites run one at a time, each by a make
# of its own, in order.
test:
	@scripts/setup.sh test
	@$(MAKE) --no-print-directory check-layers check-format all $(UNIT_BIN)
	@for s in $(SUITES) fuzz; do $(MAKE) --no-print-directory $$s || exit 1; done

ASAN_OPT := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
check-asan:
	@scripts/setup.sh test
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="$(ASAN_OPT)" all $(UNIT_BIN:$(BUILD)/%=build/asan/%)
	@for s in $(SUITES); do $(MAKE) --no-print-directory BUILD=build/asan OPT="$(ASAN_OPT)" $$s || exit 1; done

bench:
	@scripts/setup.sh bench
	@$(MAKE) --no-print-directory BUILD=build/release OPT="-O2 -g -DNDEBUG" all
	SCALE="$(SCALE)" scripts/bench.sh build/release/keygate

# The web pane is embedded in the binary (tools/embed.c), so there are no assets to install.
# doc/keygate.1 is installed when the tree has it.  DESTDIR stages the files elsewhere.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/keygate
INSTALL ?= install
MANPAGE := $(wildcard doc/keygate.1)
EXAMPLE_FILES := $(sort $(wildcard examples/*))

install: $(BUILD)/keygate
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 0755 $(BUILD)/keygate $(DESTDIR)$(BINDIR)/keygate
	$(if $(MANPAGE),$(INSTALL) -d $(DESTDIR)$(MANDIR)/man1)
	$(if $(MANPAGE),$(INSTALL) -m 0644 $(MANPAGE) $(DESTDIR)$(MANDIR)/man1/keygate.1)
	$(INSTALL) -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	$(INSTALL) -m 0644 $(EXAMPLE_FILES) $(DESTDIR)$(DOCDIR)/examples/

# Only the files install writes (whatever examples/ holds then), and their folders if empty.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/keygate $(DESTDIR)$(MANDIR)/man1/keygate.1 \
	      $(DESTDIR)$(DOCDIR)/README.md $(EXAMPLE_FILES:examples/%=$(DESTDIR)$(DOCDIR)/examples/%)
	rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true

format:
	clang-format -i $(wildcard src/*/*.[ch] tests/unit/*.c tests/fuzz/*.[ch] tools/*.c)

clean:
	rm -rf build
