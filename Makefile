# The two quick-start commands: `make demo` (the main job: the incident drill) and `make test`.
# Both install the pinned npm packages (solc, OpenZeppelin, anvil) first when they are missing.

NODE_DEPS := contracts/node_modules/.package-lock.json

.PHONY: demo devnet test artifacts check

$(NODE_DEPS): contracts/package.json contracts/package-lock.json
	npm ci --prefix contracts --no-audit --no-fund

# The incident drill on local chains: exploit, detection, pause, rescue, fix, resume, post-mortem.
demo: $(NODE_DEPS)
	cargo run --release --bin guardian -- demo

# Local chain with the whole suite deployed; writes ./guardian.toml; runs until Ctrl-C.
devnet: $(NODE_DEPS)
	cargo run --release --bin guardian -- devnet

# Every test: unit tests and the integration tests against real anvil chains.
test: $(NODE_DEPS)
	cargo test --workspace

# Recompile contracts/src into contracts/artifacts.
artifacts: $(NODE_DEPS)
	npm run --prefix contracts build

# What CI checks besides the tests.
check: artifacts
	git diff --exit-code -- contracts/artifacts
	test -z "$$(git status --porcelain -- contracts/artifacts)"
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
