#!/usr/bin/env bash
# test.sh runs every test of the project: formatting and vet checks, the Go test
# suite (unit, end-to-end against an in-process JetStream server and the local
# Lit devnet), and, once present, the JavaScript interop tests in interop/.
# On a fresh machine it installs what it needs (Go modules, npm packages).
set -euo pipefail
cd "$(dirname "$0")"

echo "== go mod download"
go mod download

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './interop/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

# The concurrent core (client, intake, jobs, store) runs under the race
# detector; everything else (end-to-end and load tests of the binaries,
# deployments, the devnet) runs plainly.
race_pkgs="./litnode ./consumer ./delegationstore ./cmd/litsign"
other_pkgs=$(go list ./... | grep -v -E '/litsignd/(litnode|consumer|delegationstore|cmd/litsign)$')
echo "== go test -race ($race_pkgs)"
go test -race -count=1 -timeout 20m $race_pkgs
echo "== go test (the rest)"
go test -count=1 -timeout 20m $other_pkgs

if [ -f interop/package.json ]; then
	echo "== interop (npm)"
	(cd interop && npm ci --no-audit --no-fund && npm test)
fi
