# One command per job; each does its own set-up on a fresh machine with Python 3.11+ and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
DEMO_STATE := .demo-state

.PHONY: install demo test test-postgres test-replicas lint typecheck pytest bench clean messages

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "veo-bot needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# The main job on the embedded default: the local provider and SQLite, no keys, no network.
demo: install
	rm -rf $(DEMO_STATE)
	VEO_DATABASE_URL=sqlite:///$(DEMO_STATE)/veo-bot.db VEO_DATA_DIR=$(DEMO_STATE)/data \
	  $(BIN)/veo-bot try "Dawn breaks over the harbour, the lighthouse dims as the sun rises" \
	    --image demo/first-frame.jpg --end-image demo/last-frame.jpg --duration 8 --out out

test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest

# Every test on PostgreSQL (VEO_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test)
# wherever a test takes the usual store, not only the store's own suite.
test-postgres: install
	VEO_TEST_STORE=postgres VEO_TEST_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest

# The proof of issue 16 at full size: 3 PostgreSQL-backed `veo-bot run` replicas, 1,000 jobs
# on Discord and Slack, one replica SIGKILLed and restarted (`make test` runs it with fewer).
test-replicas: install
	VEO_TEST_REPLICA_JOBS=1000 VEO_TEST_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -p no:randomly -s tests/test_replicas_proof.py

# The message catalogs: every sentence in `_()`, `ngettext()`, `N_()` and `pgettext()` under bot/
# and adapters/ into bot/locale/messages.pot, then merged into each language's .po (new
# sentences arrive untranslated, changed ones fuzzy). See README "Languages".
LANGUAGES := de fr es pt_BR ja
messages: install
	$(BIN)/pybabel -q extract -F babel.cfg --no-location --sort-output --no-wrap \
	  -k NC_:1c,2 --add-comments=Translators: \
	  --project=veo-bot --copyright-holder=veo-bot -o bot/locale/messages.pot.new bot adapters
	@# Only the creation date changed: keep the old file, so that merges see no change.
	@if [ -f bot/locale/messages.pot ] && diff -q -I '^"POT-Creation-Date:' \
	    bot/locale/messages.pot bot/locale/messages.pot.new >/dev/null; then \
	  rm bot/locale/messages.pot.new; \
	else mv bot/locale/messages.pot.new bot/locale/messages.pot; fi
	for lang in $(LANGUAGES); do \
	  $(BIN)/pybabel -q update --init-missing --no-wrap --ignore-obsolete \
	    --ignore-pot-creation-date -i bot/locale/messages.pot -d bot/locale -D messages -l $$lang \
	    || exit 1; \
	done

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(DEMO_STATE) out .mypy_cache .ruff_cache
