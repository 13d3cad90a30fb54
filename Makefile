# botrunner: build, test, fuzz, lint, install. Modules are discovered by wildcard: a new
# runner/<area>/<file>.c joins the library, a new tests/unit/test_<name>.c is a unit test,
# a new tests/fuzz/fuzz_<name>.c is a fuzz target.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
BUILD      ?= build
CC         ?= cc
CLANG      ?= clang
PYTHON     ?= python3
VENV       := .venv

PKGS       := sqlite3 libcyaml yaml-0.1 libsystemd libsodium
# Loaded with dlopen on first use, so a process maps only what it uses: headers only at build
# time. libarchive (runner/plugin/archive_dl.c), libcurl (runner/matrix/curl_dl.c: the worker
# and the health/status commands), libmicrohttpd (runner/supervisor/mhd_dl.c: the supervisor).
PKGS_DL    := libarchive libcurl libmicrohttpd
PKG_CFLAGS_DL := $(shell pkg-config --cflags $(PKGS_DL) 2>/dev/null)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# pkg-config answers when make reads this file, before any recipe runs. On a fresh machine
# the packages are not there yet: `make demo` and `make check` therefore install them first
# (the deps target) and build in a second make, which reads this file again. Any other goal
# that compiles stops here when a package is missing, naming it, rather than compiling
# without its flags and failing at the link (one missing .pc empties every answer above).
INSTALL_DEPS ?= tools/install-deps
PKG_MISSING := $(shell for p in $(PKGS) $(PKGS_DL); do pkg-config --exists $$p 2>/dev/null || echo $$p; done)
NO_BUILD_GOALS := deps demo check clean format
ifneq ($(PKG_MISSING),)
ifneq ($(filter-out $(NO_BUILD_GOALS),$(or $(MAKECMDGOALS),all)),)
$(error pkg-config finds no $(PKG_MISSING): run `make deps` first (`make demo` and `make check` run it themselves))
endif
endif

WARN       := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes
CPPFLAGS   += -D_GNU_SOURCE -Irunner -Irunner/include -DBOTRUNNER_VERSION='"$(VERSION)"'
CFLAGS     ?= -O2 -g
CFLAGS     += -std=gnu11 $(WARN) -fPIC $(PKG_CFLAGS) $(PKG_CFLAGS_DL) $(EXTRA_CFLAGS)
LDLIBS     += $(PKG_LIBS) -ldl -lm
LDFLAGS    += $(EXTRA_LDFLAGS)

LIB_SRC    := $(filter-out runner/main.c,$(wildcard runner/*/*.c runner/*/*/*.c))
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC   := $(wildcard tests/unit/test_*.c)
TEST_BIN   := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_HELP  := $(filter-out $(TEST_SRC),$(wildcard tests/unit/*.c))
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECS  ?= 10
# The fuzzers' objects are intermediate files to make; keep them between runs.
.SECONDARY: $(LIB_SRC:%.c=build-fuzz/%.o)

# V=1 shows the full commands; by default each step prints one short line.
V          ?= 0
ifeq ($(V),0)
Q          := @
say         = @printf '  %-6s %s\n' $(1) $(2);
else
Q          :=
say         =
endif

SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: all check deps unit unit-asan fuzz-smoke fuzz e2e nix-check demo lint format install \
	clean bench bench-compare plugins fixtures

all: $(BUILD)/botrunner plugins fixtures

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# A thin archive: it records each object by its path, so runner/config/schema.o and a
# future runner/x/schema.o stay two members (a plain archive keeps one per basename).
$(BUILD)/libbotrunner.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcsT $@ $^

$(BUILD)/botrunner: $(BUILD)/runner/main.o $(BUILD)/libbotrunner.a
	$(call say,LD,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(TEST_HELP) $(BUILD)/libbotrunner.a
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_HELP) \
		$(BUILD)/libbotrunner.a $(LDLIBS) -lcmocka

tests: $(TEST_BIN)

# Plugins, built as a plugin author builds one: plugin.h alone on the include path, every
# symbol hidden but the descriptor. $(BUILD)/plugins/<name>/ is then a plugin directory
# (the .so beside a copy of maubot.yaml) that the runner and the tests load.
PLUGIN_FLAGS := -Irunner/include -shared -fPIC -fvisibility=hidden
# Each plugin also as a package, $(BUILD)/plugins/<name>.mbp, packed by the runner just built
# (reproducible: the same files give the same bytes). The tests and the demo run these.
PLUGIN_NAMES := $(patsubst plugins/%/maubot.yaml,%,$(wildcard plugins/*/maubot.yaml))
PLUGIN_MBPS := $(PLUGIN_NAMES:%=$(BUILD)/plugins/%.mbp)
plugins: $(foreach n,$(PLUGIN_NAMES),$(BUILD)/plugins/$(n)/$(n).so $(BUILD)/plugins/$(n)/maubot.yaml) \
	$(PLUGIN_MBPS)
define PLUGIN_MBP_RULE
$(BUILD)/plugins/$(1).mbp: $(BUILD)/plugins/$(1)/$(1).so $(BUILD)/plugins/$(1)/maubot.yaml $(BUILD)/botrunner
	$$(call say,PACK,$$@)$(BUILD)/botrunner plugin pack $(BUILD)/plugins/$(1) -o $$@ >/dev/null
endef
$(foreach n,$(PLUGIN_NAMES),$(eval $(call PLUGIN_MBP_RULE,$(n))))
$(BUILD)/plugins/%.so: plugins/%.c runner/include/botrunner/plugin.h
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(PLUGIN_FLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<
$(BUILD)/plugins/%/maubot.yaml: plugins/%/maubot.yaml
	@mkdir -p $(dir $@)
	@cp $< $@

# The config corpus's plugin directories (tests/configs/plugins/*: a maubot.yaml each) get
# their modules built in place, ignored by git: `botrunner check` proves every enabled plugin
# loadable by reading its modules, so a fixture needs a real one. One build for every
# flavour (plain, sanitizers, fuzz): check reads these files and never loads them.
FIXTURE_MODULES := tests/configs/plugins/echo/echo.so tests/configs/plugins/instagram/instagram.so
fixtures: $(FIXTURE_MODULES)
tests/configs/plugins/echo/echo.so: plugins/echo/echo.c runner/include/botrunner/plugin.h
	$(call say,CCLD,$@)$(CC) $(PLUGIN_FLAGS) -O2 $(WARN) -o $@ $<
tests/configs/plugins/%.so: tests/configs/plugins/%.c runner/include/botrunner/plugin.h
	$(call say,CCLD,$@)$(CC) $(PLUGIN_FLAGS) -O2 $(WARN) -o $@ $<

# The end-to-end tests' own plugins (tests/e2e/plugins/<name>/: one .c and a maubot.yaml),
# built like any plugin into $(BUILD)/tests/e2e-plugins/<name>/.
E2E_PLUGIN_DIRS := $(wildcard tests/e2e/plugins/*)
E2E_PLUGINS := $(foreach d,$(E2E_PLUGIN_DIRS),$(BUILD)/tests/e2e-plugins/$(notdir $(d))/$(notdir $(d)).so \
	$(BUILD)/tests/e2e-plugins/$(notdir $(d))/maubot.yaml)
$(BUILD)/tests/e2e-plugins/%.so: tests/e2e/plugins/%.c runner/include/botrunner/plugin.h
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(PLUGIN_FLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<
$(BUILD)/tests/e2e-plugins/%/maubot.yaml: tests/e2e/plugins/%/maubot.yaml
	@mkdir -p $(dir $@)
	@cp $< $@

# Broken plugins for test_plugin_host (each descriptor wrong in one way), built the same way.
TEST_PLUGINS := $(patsubst tests/unit/plugins/%.c,$(BUILD)/tests/plugins/%.so,\
	$(wildcard tests/unit/plugins/*.c))
$(BUILD)/tests/plugins/%.so: tests/unit/plugins/%.c runner/include/botrunner/plugin.h
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(PLUGIN_FLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

# Every unit test binary runs from the repository root (fixtures are found by relative
# path); cmocka prints its own closing line per binary, tools/run-unit sums them up.
unit: $(BUILD)/botrunner plugins fixtures $(TEST_PLUGINS) $(TEST_BIN)
	@tools/run-unit $(BUILD) $(TEST_BIN)

unit-asan:
	@$(MAKE) --no-print-directory BUILD=build-asan EXTRA_CFLAGS="$(SAN_FLAGS)" \
		EXTRA_LDFLAGS="$(SAN_FLAGS)" CFLAGS="-O1 -g" unit

# libFuzzer targets: the runner's sources recompiled by clang with the fuzzer's
# instrumentation. `make fuzz-smoke` runs each for a few seconds over its corpus;
# `make fuzz FUZZ_SECS=600` for the long run.
FUZZ_CFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
build-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CLANG,$@)$(CLANG) $(CPPFLAGS) -std=gnu11 $(WARN) -Wno-unused-command-line-argument $(PKG_CFLAGS) $(PKG_CFLAGS_DL) \
		$(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC:%.c=build-fuzz/%.o)
	$(call say,FUZZ,$@)$(CLANG) $(CPPFLAGS) -std=gnu11 $(WARN) $(PKG_CFLAGS) $(PKG_CFLAGS_DL) -O1 -g \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $^ $(LDLIBS)

fuzz-smoke: $(FUZZ_BIN) fixtures
	@tools/run-fuzz 5 $(FUZZ_BIN)
fuzz: $(FUZZ_BIN) fixtures
	@tools/run-fuzz $(FUZZ_SECS) $(FUZZ_BIN)

deps:
	@$(INSTALL_DEPS)

$(VENV)/.done: tests/e2e/requirements.txt
	@tools/make-venv $(VENV) tests/e2e/requirements.txt

e2e: $(BUILD)/botrunner plugins fixtures $(E2E_PLUGINS) $(VENV)/.done
	$(VENV)/bin/python -m pytest -q tests/e2e

# The Nix side (docs/nixos.md), evaluated by nix-bin, which cannot build here: every .nix
# parses, the renderer's cases agree with `botrunner check`, the flake's outputs list without
# nixpkgs. NIXPKGS_LIB=DIR (a checkout of nixpkgs' lib) adds the module under lib.evalModules.
nix-check: $(BUILD)/botrunner plugins fixtures $(VENV)/.done
	$(VENV)/bin/python -m pytest -q -rs tests/nix

check: deps
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory nix-check
	@$(MAKE) --no-print-directory e2e

# DEMO_ARGS=--keep leaves Synapse and the bot running to talk to from any Matrix client.
# The build is a second make, which reads pkg-config's answers after deps installed them.
DEMO ?= tools/demo
demo: deps
	@$(MAKE) --no-print-directory all $(VENV)/.done
	@$(DEMO) $(BUILD)/botrunner $(DEMO_ARGS)

# Benchmarks (docs/benchmarks.md): each prints figures and asserts nothing. The C ones link
# the library as the unit tests do; the Python ones start Synapse with the e2e harness.
BENCH_BIN  := $(BUILD)/bench/event-cost $(BUILD)/bench/upload-rss $(BUILD)/bench/package-load
$(BUILD)/bench/%: bench/%.c $(BUILD)/libbotrunner.a
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libbotrunner.a $(LDLIBS)

bench: $(BUILD)/botrunner plugins fixtures $(BENCH_BIN) $(VENV)/.done
	@$(PYTHON) bench/check-1000.py $(BUILD)/botrunner
	@$(BUILD)/bench/package-load $(BUILD)/plugins/echo.mbp
	@$(BUILD)/bench/event-cost $(BUILD)/plugins/echo
	@$(VENV)/bin/python bench/roundtrip.py $(BUILD)/botrunner
	@$(VENV)/bin/python bench/worker-memory.py $(BUILD)/botrunner
	@$(VENV)/bin/python bench/upload-rss.py $(BUILD)/bench/upload-rss
	@$(VENV)/bin/python bench/fleet.py $(BUILD)/botrunner

# botrunner side by side with maubot 0.6 on one Synapse (bench/compare.py, docs/benchmarks.md):
# maubot and matplotlib live in a venv of their own; raw figures as CSV and two plots in
# $(COMPARE_OUT). About 20 minutes; never part of `check`. COMPARE_ARGS=--quick checks the
# script in 3 minutes (its figures are not the table's).
BENCH_VENV  := .venv-bench
COMPARE_OUT ?= bench/results
$(BENCH_VENV)/.done: bench/requirements-compare.txt
	@tools/make-venv $(BENCH_VENV) bench/requirements-compare.txt

bench-compare: $(BUILD)/botrunner plugins $(BUILD)/bench/upload-rss $(VENV)/.done $(BENCH_VENV)/.done
	@$(VENV)/bin/python bench/compare.py $(BUILD)/botrunner --maubot-python $(BENCH_VENV)/bin/python \
		--out $(COMPARE_OUT) $(COMPARE_ARGS)
	@$(BENCH_VENV)/bin/python bench/compare-plot.py $(COMPARE_OUT)

lint:
	clang-tidy --quiet $(LIB_SRC) runner/main.c -- $(CPPFLAGS) -std=gnu11 $(PKG_CFLAGS) $(PKG_CFLAGS_DL)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem --suppress=memleak -D_GNU_SOURCE -Irunner -Irunner/include runner

format:
	clang-format -i $(wildcard runner/*.c runner/*/*.c runner/*/*.h runner/include/botrunner/*.h \
		tests/unit/*.c tests/fuzz/*.c)

# The binary, the plugin ABI header (plugins build against it) and the documentation.
install: $(BUILD)/botrunner
	install -Dm755 $(BUILD)/botrunner $(DESTDIR)$(PREFIX)/bin/botrunner
	install -Dm644 runner/include/botrunner/plugin.h $(DESTDIR)$(PREFIX)/include/botrunner/plugin.h
	install -Dm644 -t $(DESTDIR)$(PREFIX)/share/doc/botrunner README.md docs/*.md

clean:
	rm -rf build build-asan build-fuzz $(FIXTURE_MODULES)

-include $(LIB_OBJ:.o=.d) $(BUILD)/runner/main.d $(LIB_SRC:%.c=build-fuzz/%.d)
