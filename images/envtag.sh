#!/usr/bin/env bash
# envtag.sh <recipe_hash> <variant> <spec_file>
#
# Prints the image tag of an environment spec: the same value as teamstack.envhash.image_tag, i.e. the
# first 32 hex digits of sha256("teamstack-env-v1\n" <recipe_hash> "\n" <variant> "\n" <spec bytes>).
# Only bash and coreutils (printf, cat, sha256sum, cut); tests/test_images.py checks it agrees with Python.
set -euo pipefail
export LC_ALL=C

die() {
    printf 'envtag.sh: %s\n' "$1" >&2
    exit 2
}

[ "$#" -eq 3 ] || die "usage: envtag.sh <recipe_hash> <variant> <spec_file>"
recipe_hash=$1
variant=$2
spec_file=$3

case "$recipe_hash" in
    *[!0-9a-f]* | "") die "invalid recipe hash '$recipe_hash': expected 16 lowercase hex characters" ;;
esac
[ "${#recipe_hash}" -eq 16 ] || die "invalid recipe hash '$recipe_hash': expected 16 lowercase hex characters"
case "$variant" in
    cpu | gpu) ;;
    *) die "unknown image variant '$variant': expected one of cpu, gpu" ;;
esac
if [ ! -f "$spec_file" ] || [ ! -r "$spec_file" ]; then
    die "spec file '$spec_file' is not a readable file"
fi

{
    printf 'teamstack-env-v1\n%s\n%s\n' "$recipe_hash" "$variant"
    cat -- "$spec_file"
} | sha256sum | cut -c1-32
