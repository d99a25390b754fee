# The two quick-start commands: `make demo` (the main job: the incident drill) and `make test`.
# Both install the pinned npm packages (solc, OpenZeppelin, anvil) first when they are missing.

NODE_DEPS := contracts/node_modules/.package-lock.json

.PHONY: demo devnet test artifacts check postgres chromium

$(NODE_DEPS): contracts/package.json contracts/package-lock.json
	npm ci --prefix contracts --no-audit --no-fund

# The incident drill on local chains: exploit, detection, pause, rescue, fix, resume, post-mortem.
demo: $(NODE_DEPS)
	cargo run --release --bin guardian -- demo

# Local chain with the whole suite deployed; writes ./guardian.toml; runs until Ctrl-C.
devnet: $(NODE_DEPS)
	cargo run --release --bin guardian -- devnet

# Every test: unit tests and the integration tests against real anvil chains (and, for the
# PostgreSQL backend, a throwaway server the tests start themselves).
test: $(NODE_DEPS) postgres chromium
	cargo test --workspace

# The PostgreSQL tests need the server's binaries (initdb, postgres from Debian's package), not a
# running service: installed with apt-get when missing, without creating a system cluster.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  command -v apt-get >/dev/null || { echo "the tests need PostgreSQL's server binaries (initdb, postgres): install your system's postgresql package"; exit 1; }; \
	  mkdir -p /etc/postgresql-common; \
	  [ -e /etc/postgresql-common/createcluster.conf ] || echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold postgresql; \
	fi

# The war room's browser tests drive Debian's Chromium through its ChromeDriver (no browser is
# downloaded from anywhere else): installed with apt-get when missing.
chromium:
	@if ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then \
	  command -v apt-get >/dev/null || { echo "the browser tests need Chromium and ChromeDriver: install your system's chromium and chromium-driver packages"; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	fi

# Recompile contracts/src into contracts/artifacts.
artifacts: $(NODE_DEPS)
	npm run --prefix contracts build

# What CI checks besides the tests.
check: artifacts
	git diff --exit-code -- contracts/artifacts
	test -z "$$(git status --porcelain -- contracts/artifacts)"
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
