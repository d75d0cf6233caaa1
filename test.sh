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

echo "== go test"
go test -count=1 -timeout 20m ./...

if [ -f interop/package.json ]; then
	echo "== interop (npm)"
	(cd interop && npm ci --no-audit --no-fund && npm test)
fi
