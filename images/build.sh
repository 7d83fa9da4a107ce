#!/usr/bin/env bash
# build.sh: one normalised environment spec -> one Dask image, built with buildah (daemonless: no Docker daemon,
# no privileged mode) and pushed. CodeBuild (buildspec.yml), Cloud Build (cloudbuild.yaml), `make image` and
# the tests all run this script.
#
#   build.sh --spec FILE --image REPO:TAG [--variant cpu|gpu] [--base REF | --base-registry PREFIX]
#            [--cache REPO] [--wheels DIR] [--recipe-hash HASH] [--insecure] [--no-push]
#
# FILE is a requirements.txt as teamstack.client.specs writes it: a `# teamstack: python=X.Y` line (the Python of
# the notebook it came from), the spec's pins with the shared Dask packages already added, and one
# `# teamstack: wheel <file> sha256=<hex>` line per local package (the wheels are in DIR, checked by hash).
#
#   1. base    --base REF (pinned by digest), else the line for X.Y in bases.txt under --base-registry PREFIX
#              (the team's registry: the ECR pull-through cache / Artifact Registry remote repository)
#   2. resolve the whole spec once with uv (pinned, sha256-checked) for Python X.Y on Debian bookworm: an
#              unsatisfiable spec fails here with the resolver's reason in one line
#   3. split   that one resolution into core.lock (the shared Dask packages and what they need), heavy.lock
#              (large slow-moving libraries: s3fs, bokeh, scipy, torch, nvidia-*... and what they need) and
#              rest.lock, one layer each, so a small change rebuilds only the small last layers
#   4. build   buildah build --layers, layers cached in REPO (--cache-from/--cache-to) and packages in uv's cache
#   5. push    and print the image reference REPO:TAG@sha256:<digest> as the last line
#
# Exit codes: 0 pushed (or built with --no-push); 2 bad arguments or spec; 1 the build failed (one line says why).
set -euo pipefail
export LC_ALL=C

UV_VERSION=0.13.9
UV_WHEEL=uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
UV_URL=https://files.pythonhosted.org/packages/3d/aa/26d64642d808de4a652579ef950d7cd2d37f080a8babf9c67c6b75fc4c3f/$UV_WHEEL
UV_SHA256=d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19
# Every base in bases.txt is Debian bookworm (glibc 2.36) on x86_64.
PYTHON_PLATFORM=x86_64-manylinux_2_36
# The packages a Dask client and its workers must share; their layer changes only when their versions do.
CORE_PACKAGES=(dask distributed cloudpickle msgpack tornado toolz numpy pandas pyarrow)
# Large libraries that move slowly: their own layer (with what they need), so that adding a small package to a
# spec that has them rebuilds only the small last layers. Any nvidia-* wheel (CUDA libraries) belongs here too.
HEAVY_PACKAGES=(boto3 botocore aiobotocore s3fs gcsfs adlfs fsspec google-cloud-storage google-auth google-api-core
    bokeh scipy scikit-learn scikit-image xarray zarr numba llvmlite matplotlib polars duckdb sqlalchemy
    torch torchvision torchaudio jax jaxlib tensorflow xgboost lightgbm cupy-cuda12x cupy-cuda11x triton)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${TEAMSTACK_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/teamstack}"

usage() {
    sed -n '5,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
die() {
    local code=$1
    shift
    printf 'build.sh: %s\n' "$*" >&2
    exit "$code"
}
one_line() {  # a tool's multi-line error as one line (uv draws its explanations with box characters)
    sed -e 's/\x1b\[[0-9;]*m//g' -e 's/[×╰─▶│├┬]//g' "$1" | tr '\n' ' ' | tr -s ' ' | sed -e 's/^ //' -e 's/ $//'
}

spec="" image="" variant=cpu base="" base_registry="" cache="" wheels="" recipe_hash=unknown tls=true push=1
while [ "$#" -gt 0 ]; do
    case "$1" in
        --spec) spec=${2:-} ;;
        --image) image=${2:-} ;;
        --variant) variant=${2:-} ;;
        --base) base=${2:-} ;;
        --base-registry) base_registry=${2:-} ;;
        --cache) cache=${2:-} ;;
        --wheels) wheels=${2:-} ;;
        --recipe-hash) recipe_hash=${2:-} ;;
        --insecure) tls=false; shift; continue ;;
        --no-push) push=0; shift; continue ;;
        -h | --help) usage ;;
        *) die 2 "unknown argument '$1'" ;;
    esac
    [ "$#" -ge 2 ] || die 2 "$1 needs a value"
    shift 2
done
[ -n "$spec" ] && [ -n "$image" ] || die 2 "--spec FILE and --image REPO:TAG are required"
[ -f "$spec" ] && [ -r "$spec" ] || die 2 "spec '$spec' is not a readable file"
case "$variant" in cpu | gpu) ;; *) die 2 "--variant must be cpu or gpu, got '$variant'" ;; esac
[[ "$image" =~ ^[a-z0-9][a-z0-9.:_/-]*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
    die 2 "--image '$image' is not <registry>/<repository>:<tag>"
command -v buildah >/dev/null || die 1 "buildah is not installed (apt-get install -y buildah)"

python="$(sed -n 's/^# teamstack: python=\([0-9][0-9]*\.[0-9][0-9]*\)[[:space:]]*$/\1/p' "$spec" | head -n 1)"
[ -n "$python" ] || die 2 "$spec has no '# teamstack: python=X.Y' line: normalise it first (teamstack env normalise $spec)"

# --- 1. base ------------------------------------------------------------------------------------------------
if [ -z "$base" ]; then
    path="$(awk -v v="$python" '!/^#/ && $1 == v { print $2 }' "$here/bases.txt")"
    if [ -z "$path" ]; then
        die 2 "no base image for Python $python: images/bases.txt has $(awk '!/^#/ && NF { printf "%s ", $1 }' "$here/bases.txt")(add a line pinned by digest, or use one of those)"
    fi
    [ -n "$base_registry" ] || die 2 "--base-registry (the team registry's mirror of the upstream) or --base is required"
    base="${base_registry%/}/$path"
fi
[[ "$base" == *@sha256:* ]] || die 2 "base image '$base' is not pinned by digest (<image>@sha256:<digest>)"

# --- uv, pinned and checked ------------------------------------------------------------------------------------
uv="$cache_root/uv-$UV_VERSION/uv"
if [ ! -x "$uv" ]; then
    mkdir -p "$cache_root/uv-$UV_VERSION"
    download="$(mktemp "$cache_root/uv-$UV_VERSION/wheel.XXXXXX")"
    curl -fsSL --retry 3 -o "$download" "$UV_URL" || die 1 "cannot download uv $UV_VERSION from $UV_URL"
    echo "$UV_SHA256  $download" | sha256sum --check --quiet - >/dev/null 2>&1 ||
        die 1 "the uv wheel from $UV_URL does not have the pinned sha256 $UV_SHA256; nothing was built"
    member="uv-$UV_VERSION.data/scripts/uv"
    if command -v unzip >/dev/null; then
        unzip -p "$download" "$member" >"$uv.tmp" || die 1 "cannot unpack uv from $download"
    else
        python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[3]))' \
            "$download" "$uv.tmp" "$member" || die 1 "cannot unpack uv from $download (needs unzip or python3)"
    fi
    chmod 0755 "$uv.tmp" && mv "$uv.tmp" "$uv" && rm -f "$download"
fi
export UV_CACHE_DIR="$cache_root/uv-cache" UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$here/Containerfile" "$here/image_check.py" "$uv" "$context/"
cp "$spec" "$context/requirements.txt"
mkdir "$context/wheels"
printf '%s\n' "$python" >"$context/python-version"
printf '%s\n' "$variant" >"$context/variant"

# --- local packages: the spec names each wheel by its content hash -------------------------------------------
grep -v '^#' "$spec" >"$context/requirements.in" || true
while read -r file digest; do
    [ -n "$file" ] || continue
    [[ "$file" =~ ^[A-Za-z0-9_.+-]+\.whl$ ]] || die 2 "$spec: wheel '$file' is not a wheel file name"
    [ -n "$wheels" ] && [ -f "$wheels/$file" ] ||
        die 2 "$spec names the local package $file but it is not in --wheels '${wheels:-(none)}'"
    [ "$(sha256sum "$wheels/$file" | cut -c1-64)" = "${digest#sha256=}" ] ||
        die 2 "$wheels/$file does not have the sha256 the spec names (${digest#sha256=}); rebuild it from the client"
    cp "$wheels/$file" "$context/wheels/$file"
    printf '%s @ file://%s/wheels/%s\n' "${file%%-*}" "$context" "$file" >>"$context/requirements.in"
done < <(sed -n 's/^# teamstack: wheel \([^ ]*\) \(sha256=[0-9a-f]\{64\}\)[[:space:]]*$/\1 \2/p' "$spec")

# --- 2. one resolution -------------------------------------------------------------------------------------------
compile=("$uv" pip compile --quiet --no-header --no-annotate --python-version "$python" --python-platform "$PYTHON_PLATFORM")
if ! "${compile[@]}" --emit-index-url --emit-find-links -o "$context/lock.txt" "$context/requirements.in" 2>"$context/resolve.err"; then
    die 1 "the spec cannot be installed as asked (nothing was built): $(one_line "$context/resolve.err")"
fi
# --- 3. split it: the shared Dask packages / large slow-moving libraries / the rest (each with what it needs,
# versions from the one resolution); local wheels go in the last layer -----------------------------------------
pins() { grep -v -E '^--|^$| @ file://' "$1" || true; }
options="$(grep -E '^--' "$context/lock.txt" || true)"
tier() {  # tier NAME PATTERN: the lock's packages matching PATTERN and their dependencies, minus earlier tiers
    local name=$1 pattern=$2
    pins "$context/lock.txt" | grep -E "^(${pattern})==" >"$context/$name.in" || true
    if [ "$name" = rest ]; then
        cp "$context/$name.in" "$context/$name.all"  # everything left: no need to resolve again
    elif grep -q . "$context/$name.in"; then
        "${compile[@]}" -c "$context/lock.txt" -o "$context/$name.all" "$context/$name.in" 2>"$context/resolve.err" ||
            die 1 "cannot split the resolution: $(one_line "$context/resolve.err")"
    else
        : >"$context/$name.all"
    fi
    {
        [ -z "$options" ] || printf '%s\n' "$options"
        pins "$context/$name.all" | grep -v -x -F -f <(cat "$context"/*.taken 2>/dev/null; echo '#') || true
    } >"$context/$name.lock"
    pins "$context/$name.lock" >"$context/$name.taken"
}
tier core "$(IFS='|'; echo "${CORE_PACKAGES[*]}")"
grep -q '^dask==' "$context/core.lock" || die 2 "$spec does not contain dask: normalise it with the teamstack client"
tier heavy "$(IFS='|'; echo "${HEAVY_PACKAGES[*]}")|nvidia-[a-z0-9-]+"
tier rest '[A-Za-z0-9][A-Za-z0-9._-]*'

sed -i "s#file://$context/wheels/#file:///opt/teamstack/wheels/#" "$context/lock.txt"

# --- 4. build -----------------------------------------------------------------------------------------------
# buildah's cache key of a COPY covers its files' times: fix them, so that another host finds the same layers.
find "$context" -exec touch -h -d @0 {} +
build=(buildah build --layers --isolation chroot --tls-verify="$tls" --pull=missing --build-arg "BASE_IMAGE=$base"
    --label "org.opencontainers.image.title=teamstack Dask environment"
    --label "org.opencontainers.image.description=Dask scheduler/worker image of one environment spec ($variant)"
    --label "org.opencontainers.image.vendor=teamstack"
    --label "org.opencontainers.image.version=${image##*:}"
    --label "org.opencontainers.image.base.name=$base"
    --label "teamstack.variant=$variant" --label "teamstack.python=$python"
    --label "teamstack.recipe-hash=$recipe_hash" --label "teamstack.image-tag=${image##*:}"
    --file "$context/Containerfile" --tag "$image")
if [ -n "$cache" ]; then
    build+=(--cache-from "$cache" --cache-to "$cache")
fi
echo "build.sh: building $image (Python $python, $variant) on $base" >&2
status=0
"${build[@]}" "$context" >"$context/build.log" 2>&1 || status=$?
[ -z "${TEAMSTACK_BUILD_LOG:-}" ] || cp "$context/build.log" "$TEAMSTACK_BUILD_LOG"  # the whole buildah log, if asked
if [ "$status" != 0 ]; then
    tail -n 30 "$context/build.log" >&2
    reason="$(grep -E '^(image_check.py|error|Error|  × |  ╰─▶)' "$context/build.log" | tail -n 3 | tr '\n' ' ')"
    die 1 "the image build failed: ${reason:-see the log above}"
fi

# --- 5. push ------------------------------------------------------------------------------------------------
if [ "$push" = 0 ]; then
    echo "$image"
    exit 0
fi
buildah push --quiet --tls-verify="$tls" --digestfile "$context/digest" "$image" "docker://$image" >"$context/push.log" 2>&1 ||
    die 1 "cannot push $image: $(one_line "$context/push.log")"
echo "$image@$(cat "$context/digest")"
