#!/usr/bin/env bash
# `make check`: the fast tier, with only Rust installed (about a minute when built): formatting,
# cargo deny (deny.toml: bans, licenses, sources), clippy, and every test that needs no service:
# the unit, property and doc tests of every crate, and the tests that only read the
# repository's files (tests/tests/repo). No DynamoDB, Java, Node or Python. `make test` runs it
# first, then the tests against DynamoDB Local and the local API. Builds cargo-deny into
# .local/cargo-deny on first use (scripts/tools.sh rust, a few minutes).
#
# Every `test result:` line goes to $TEST_LOG too (make test's tally); run on its own, check.sh
# keeps them in .local/logs/check.log and closes with its own tally.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

on_exit() { finish_line "$1" "the fast tier passed"; }
STANDALONE=0
if [[ -z "${TEST_LOG:-}" ]]; then
    STANDALONE=1 TEST_LOG=.local/logs/check.log
    : >"$TEST_LOG"
fi

step "tools: rustfmt, clippy, cargo-deny"
bash scripts/tools.sh rust
PATH="$ROOT/.local/cargo-deny/bin:$PATH"
step "cargo fmt --all -- --check"
cargo fmt --all -- --check
step "cargo deny --locked check bans licenses sources"
cargo deny --locked check bans licenses sources
step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
# What `cargo test --workspace` runs but tests/tests/api (DynamoDB Local: `make test`): every
# crate's unit, property and doc tests, then the test kit's binary of the repository's files.
# (`--lib --bins` would also build the handlers' `test = false` targets; `--workspace` everywhere
# builds every test binary with one feature set, as `make test` does.) A new integration test
# binary of the test kit runs when it is named here or in scripts/test.sh.
step "cargo test --workspace --exclude testkit"
cargo test --workspace --exclude testkit 2>&1 | tee -a "$TEST_LOG"
step "cargo test --workspace --test repo (the repository's files)"
cargo test --workspace --test repo 2>&1 | tee -a "$TEST_LOG"

if ((STANDALONE)); then tally "$TEST_LOG"; fi
