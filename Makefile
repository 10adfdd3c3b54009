# esqase — built with PGXS.  The control file is the one source of the version.
EXTENSION = esqase
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" esqase.control)

MODULE_big = esqase
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
SHLIB_LINK = -lmicrohttpd -ljansson -lgnutls -lcurl
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
# CI builds with WERROR=1: a warning fails the build.
PG_CFLAGS += $(if $(WERROR),-Werror)
# build/esq_registry.h is generated (tools/generate.pl, from sql/registry.pl).
PG_CPPFLAGS = -Ibuild

# Released scripts are frozen in sql/ (what users really installed):
# sql/esqase--<release>.sql and one upgrade script per release step.  The
# version in development is built into build/ by tools/build-sql.sh from
# sql/migrations/ (schema, forward only) and sql/code/ (everything that can be
# made again): its install script and its upgrade script from the last
# release.  tools/release.sh freezes them.  docs/operations.md, "Releases and
# upgrades".
RELEASES := $(shell ls sql | sed -n 's/^$(EXTENSION)--\([0-9.]*\)\.sql$$/\1/p' | sort -V)
LAST_RELEASE = $(lastword $(RELEASES))
SQL_SOURCES = $(sort $(wildcard sql/migrations/*.sql sql/code/*.sql)) sql/registry.pl \
	tools/build-sql.sh tools/generate.pl esqase.control
DATA_built = build/$(EXTENSION)--$(EXTVERSION).sql build/$(EXTENSION)--$(LAST_RELEASE)--$(EXTVERSION).sql
DATA = $(wildcard sql/$(EXTENSION)--*.sql)
EXTRA_CLEAN = build src/openapi_json.inc

# pg_regress reads test/sql and test/expected; test/expected links to ../expected.
REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --temp-instance=./tmp_check \
	--temp-config=test/regress.conf --load-extension=$(EXTENSION)
ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --temp-instance=./tmp_check_iso \
	--temp-config=test/regress.conf --load-extension=$(EXTENSION)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every C file includes the one header, which includes the registry's, the
# HTTP front door's files also their own (PGXS tracks no header
# dependencies).
$(OBJS) $(OBJS:.o=.bc): src/esqase.h src/http_server.h build/esq_registry.h

# The resources as C needs them (routes, read-only, scopes), from the
# registry the SQL is generated from (tools/generate.pl).
build/esq_registry.h: sql/registry.pl tools/generate.pl
	@mkdir -p build
	perl tools/generate.pl header > $@.tmp && mv $@.tmp $@

# GET /v1/openapi.json serves docs/openapi.json, compiled in as a C string.
src/openapi_json.inc: docs/openapi.json tools/c_string.pl
	perl tools/c_string.pl esq_openapi_json < $< > $@
src/http_openapi.o: src/openapi_json.inc

build/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SOURCES)
	@mkdir -p build
	tools/build-sql.sh install $(EXTVERSION) > $@.tmp && mv $@.tmp $@

build/$(EXTENSION)--$(LAST_RELEASE)--$(EXTVERSION).sql: $(SQL_SOURCES)
	@mkdir -p build
	tools/build-sql.sh upgrade $(LAST_RELEASE) $(EXTVERSION) > $@.tmp && mv $@.tmp $@

# TAP tests (real server, real HTTP) in test/t.
prove-installcheck:
	rm -rf '$(CURDIR)'/tmp_check && mkdir -p '$(CURDIR)'/tmp_check
	TESTDIR='$(CURDIR)' PATH="$(bindir):$$PATH" PGPORT='6$(DEF_PGPORT)' \
	PERL5LIB="$(pgxsdir)/src/test/perl:$$PERL5LIB" \
	PG_REGRESS='$(pgxsdir)/src/test/regress/pg_regress' \
	$(PROVE) $(PROVE_FLAGS) -I test/t $(if $(PROVE_TESTS),$(PROVE_TESTS),test/t/*.pl)

.PHONY: prove-installcheck
