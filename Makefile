# esqase — built with PGXS.  The control file is the one source of the version.
EXTENSION = esqase
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" esqase.control)

MODULE_big = esqase
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
SHLIB_LINK = -lmicrohttpd -ljansson -lgnutls
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
# CI builds with WERROR=1: a warning fails the build.
PG_CFLAGS += $(if $(WERROR),-Werror)

# The install script of the version being developed is assembled from one
# file per concern, in name order.  Released install scripts are frozen in
# sql/ (what users really installed), with one upgrade script per release:
# sql/esqase--A--B.sql.  See docs/operations.md, "Releases and upgrades".
SQL_PARTS = $(sort $(wildcard sql/parts/*.sql))
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))
EXTRA_CLEAN = $(DATA_built) src/openapi_json.inc

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

# Every C file includes the one header, the HTTP front door's files also
# their own (PGXS tracks no header dependencies).
$(OBJS): src/esqase.h src/http_server.h

# GET /v1/openapi.json serves docs/openapi.json, compiled in as a C string.
src/openapi_json.inc: docs/openapi.json tools/c_string.pl
	perl tools/c_string.pl esq_openapi_json < $< > $@
src/http_openapi.o: src/openapi_json.inc

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) esqase.control
	cat $(SQL_PARTS) > $@

# TAP tests (real server, real HTTP) in test/t.
prove-installcheck:
	rm -rf '$(CURDIR)'/tmp_check && mkdir -p '$(CURDIR)'/tmp_check
	TESTDIR='$(CURDIR)' PATH="$(bindir):$$PATH" PGPORT='6$(DEF_PGPORT)' \
	PERL5LIB="$(pgxsdir)/src/test/perl:$$PERL5LIB" \
	PG_REGRESS='$(pgxsdir)/src/test/regress/pg_regress' \
	$(PROVE) $(PROVE_FLAGS) -I test/t $(if $(PROVE_TESTS),$(PROVE_TESTS),test/t/*.pl)

.PHONY: prove-installcheck
