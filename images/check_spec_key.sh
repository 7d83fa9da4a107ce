#!/usr/bin/env bash
# check_spec_key.sh <spec_key>
#
# Checks a build-bucket key against specs/<cpu|gpu>/<32 lowercase hex tag>/<spec file name> (the format of
# teamstack.envhash.spec_key) and prints "<variant> <tag> <filename>" on one line. Exits 2 with a message
# on stderr for anything else. The buildspec runs it on SPEC_KEY before it downloads anything.
set -euo pipefail
export LC_ALL=C

if [ "$#" -ne 1 ]; then
    echo "check_spec_key.sh: usage: check_spec_key.sh <spec_key>" >&2
    exit 2
fi
key=$1
pattern='^specs/(cpu|gpu)/([0-9a-f]{32})/(requirements\.txt)$'
if [[ "$key" =~ $pattern ]]; then
    printf '%s %s %s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
else
    printf "check_spec_key.sh: invalid spec key '%s': expected specs/<cpu|gpu>/<32 lowercase hex tag>/%s\n" \
        "$key" "requirements.txt" >&2
    exit 2
fi
