#!/usr/bin/env bash
# Builds the Allure HTML report from allure-pytest's results with Allure's own release (set up by
# scripts/setup-report.sh under .synthmon/tools) and prints where it is.
# Usage: scripts/report.sh [RESULTS_DIR [REPORT_DIR]]
#   RESULTS_DIR defaults to .synthmon/results/allure-results (what `make run` writes);
#   REPORT_DIR to allure-report beside it.
set -euo pipefail
cd "$(dirname "$0")/.."

results=${1:-.synthmon/results/allure-results}
report=${2:-$(dirname "$results")/allure-report}
if ! compgen -G "$results/*-result.json" >/dev/null; then
  echo "report: no Allure results in $results (expected *-result.json files; run \`make run\` or pytest --alluredir=$results first)" >&2
  exit 1
fi
allure=$(scripts/setup-report.sh allure | sed -n 's/^allure: //p')
# Allure 2 otherwise sends usage analytics and puts a tracking script in the page.
ALLURE_NO_ANALYTICS=true "$allure" generate --clean --output "$report" "$results" >/dev/null
[ -f "$report/index.html" ] || { echo "report: allure wrote no $report/index.html" >&2; exit 1; }
echo "Allure report: $report/index.html (serve it: python3 -m http.server -d $report -b 127.0.0.1)"
