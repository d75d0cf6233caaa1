#!/usr/bin/env bash
# test.sh runs every test of the project: formatting and vet checks, the Go test
# suite (unit, end-to-end against an in-process JetStream server and the local
# Lit devnet, the deployments' checks with promtool) and the JavaScript interop
# tests in interop/. Every suite runs even when an earlier one failed; the
# closing summary lists each suite's result and the script exits non-zero if
# any failed. On a fresh machine it installs what it needs (Go modules, npm
# packages and, when root on Debian, promtool from the "prometheus" package).
#
# Timing and throughput targets are not tests: they live in benchmarks
# (go test -run '^$' -bench . ./cmd/litsignd ./consumer) and `litsign bench`.
set -uo pipefail
cd "$(dirname "$0")"

start=$(date +%s)
results=()
failed=0

# suite NAME CMD...: runs CMD, records its result and duration.
suite() {
	local name=$1; shift
	local t0=$(date +%s)
	echo "== $name"
	if "$@"; then
		results+=("ok    $name ($(( $(date +%s) - t0 ))s)")
	else
		results+=("FAIL  $name ($(( $(date +%s) - t0 ))s)")
		failed=$((failed + 1))
	fi
}

gofmt_check() {
	local unformatted
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './interop/*'))
	if [ -n "$unformatted" ]; then
		echo "gofmt would change:"; echo "$unformatted"; return 1
	fi
}

# install_promtool installs promtool (Debian package "prometheus") when it is
# missing and this runs as root with apt-get; otherwise the promtool checks
# in deployments/ skip and say so.
install_promtool() {
	command -v promtool >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing promtool (apt-get install prometheus)"
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) ||
			echo "could not install promtool; its checks will skip"
	else
		echo "promtool not on PATH and not root: the promtool checks will skip"
	fi
	return 0
}

# The concurrent core (client, intake, jobs, store) runs under the race
# detector; everything else (end-to-end tests of the binaries, deployments,
# the devnet) runs plainly.
race_pkgs="./litnode ./consumer ./delegationstore ./cmd/litsign"
go_test_race() { go test -race -count=1 -timeout 20m $race_pkgs; }
go_test_rest() {
	local other_pkgs
	other_pkgs=$(go list ./... | grep -v -E '/litsignd/(litnode|consumer|delegationstore|cmd/litsign)$') || return 1
	go test -count=1 -timeout 20m $other_pkgs
}
interop() { (cd interop && npm ci --no-audit --no-fund && npm test); }

suite "go mod download" go mod download
suite "gofmt" gofmt_check
suite "go vet" go vet ./...
install_promtool
suite "go test -race ($race_pkgs)" go_test_race
suite "go test (the rest)" go_test_rest
if [ -f interop/package.json ]; then
	suite "interop (npm)" interop
fi

echo
echo "== summary"
printf '%s\n' "${results[@]}"
if [ "$failed" -gt 0 ]; then
	echo "test.sh: FAIL: $failed of ${#results[@]} suites failed ($(( $(date +%s) - start ))s)"
	exit 1
fi
echo "test.sh: PASS: all ${#results[@]} suites passed ($(( $(date +%s) - start ))s)"
