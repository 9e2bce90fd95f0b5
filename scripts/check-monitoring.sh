#!/usr/bin/env bash
# Checks the Prometheus files in Deploy/prometheus with promtool: the alerting
# rules, the example scrape config (which loads the rules), the rules' unit
# tests, and that the Grafana dashboard is valid JSON.
#
# Needs promtool (Debian: apt-get install prometheus, which also installs the
# prometheus service; it is not started by this script).
#
#   scripts/check-monitoring.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=Deploy/prometheus

if ! command -v promtool >/dev/null 2>&1; then
  echo "check-monitoring: promtool not found: apt-get install -y prometheus (Debian), or put promtool from a Prometheus release on PATH" >&2
  exit 1
fi

echo "--- promtool check rules"
promtool check rules "$dir/alerts.yml"
echo "--- promtool check config"
promtool check config "$dir/prometheus.yml"
echo "--- promtool test rules"
promtool test rules "$dir/rules.test.yml"
echo "--- grafana dashboard JSON"
if command -v python3 >/dev/null 2>&1; then
  python3 -m json.tool "$dir/grafana-dashboard.json" >/dev/null
  echo "  SUCCESS: $dir/grafana-dashboard.json parses"
else
  echo "  skipped: python3 not found"
fi
