#!/bin/sh
# Prints what radiops hands every container (environment and parameters),
# then writes an output file and a metrics file into the output directory.
set -eu

out="${RADIOPS_OUTPUT_DIR:-/tmp/radiops-out}"
mkdir -p "$out"

echo "hello from ${RADIOPS_ROLE:-?}#${RADIOPS_ROLE_INDEX:-0} of ${RADIOPS_EXPERIMENT:-?} (run ${RADIOPS_RUN_ID:-?})"
echo "== environment (RADIOPS_*)"
env | grep '^RADIOPS_' | sort || true
echo "== parameters (${RADIOPS_PARAMETERS:-none})"
if [ -n "${RADIOPS_PARAMETERS:-}" ] && [ -r "$RADIOPS_PARAMETERS" ]; then
    cat "$RADIOPS_PARAMETERS"
    echo
fi

greeting="${RADIOPS_PARAM_GREETING:-hello}"
repeat="${RADIOPS_PARAM_REPEAT:-1}"
i=0
: > "$out/greeting.txt"
while [ "$i" -lt "$repeat" ]; do
    echo "$greeting, testbed" >> "$out/greeting.txt"
    i=$((i + 1))
done
printf '{"lines": %s, "bytes": %s}\n' "$repeat" "$(wc -c < "$out/greeting.txt")" > "$out/metrics.json"
echo "wrote $out/greeting.txt ($repeat line(s))"
