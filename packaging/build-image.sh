#!/bin/sh
# Build the Dockyard container image on this machine and smoke-test it.
#
#   packaging/build-image.sh [--keep]     (as root; needs mmdebstrap, podman, skopeo, aws)
#
# Needs: mmdebstrap, podman, skopeo, curl, the aws CLI; runc where crun cannot run (hybrid cgroups).
# 1. base image: a minimal Debian bookworm root filesystem with Python, made by mmdebstrap from
#    the Debian mirror and imported with `podman import` (no public image registry needed);
# 2. wheels of Dockyard and its dependencies (pip wheel), copied into the build: the build
#    itself needs no network;
# 3. podman build -f packaging/Containerfile;
# 4. smoke test: run it with a volume, push an image with skopeo, list it with the aws CLI,
#    check the server runs as a non-root user; then remove the container and volume.
# The base tarball is cached in packaging/build/ (delete it to rebuild from Debian).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=$here/build
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/pyproject.toml")
image=localhost/dockyard:$version
base=localhost/dockyard-base:bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
port=${SMOKE_PORT:-15000}
name=dockyard-smoke-$$
keep=${1:-}

# crun refuses hosts with hybrid (v1) cgroups, such as containers on older hosts: use runc
# there. Resource limits are set explicitly, as a nested container may not raise the host's.
runtime=""
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] && command -v runc >/dev/null; then
    runtime="--runtime runc"
fi
limits="--ulimit nofile=$(ulimit -Hn):$(ulimit -Hn) --ulimit nproc=4096:4096"

step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }
started=$(date +%s)
mkdir -p "$build"

step "base image from Debian packages"
if [ ! -s "$build/rootfs.tar" ]; then
    mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
        --aptopt='APT::Install-Recommends "false"' \
        --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
        bookworm "$build/rootfs.tmp.tar" "$mirror"
    mv "$build/rootfs.tmp.tar" "$build/rootfs.tar"
fi
podman import --change 'CMD ["/bin/bash"]' "$build/rootfs.tar" "$base" >/dev/null

step "wheels"
rm -rf "$build/context" "$build/source" && mkdir -p "$build/context/wheels" "$build/source"
# From a copy: building in the checkout would leave build/ and src/*.egg-info there.
cp -r "$root/pyproject.toml" "$root/README.md" "$root/LICENSE" "$root/src" "$build/source/"
python3 -m pip wheel --quiet --wheel-dir "$build/context/wheels" "$build/source"

step "podman build"
podman build $runtime $limits --quiet --build-arg BASE="$base" -f "$here/Containerfile" -t "$image" \
    "$build/context" >/dev/null

step "smoke test"
cleanup() {
    [ "$keep" = "--keep" ] && return
    podman rm -f "$name" >/dev/null 2>&1 || true
    podman volume rm -f "$name" >/dev/null 2>&1 || true
    rm -rf "$build/smoke"
}
trap cleanup EXIT
podman run $runtime $limits -d --name "$name" -p "127.0.0.1:$port:5000" -v "$name:/var/lib/dockyard" \
    "$image" --create-on-push >/dev/null
i=0
until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { podman logs "$name"; exit 1; }; sleep 0.2
done
user=$(podman exec "$name" id -u)
[ "$user" != 0 ] || { echo "the server runs as root" >&2; exit 1; }
creds=$(podman exec "$name" cat /var/lib/dockyard/credentials.toml)
export AWS_ACCESS_KEY_ID=$(printf '%s\n' "$creds" | sed -n 's/^access_key_id = "\(.*\)"/\1/p')
export AWS_SECRET_ACCESS_KEY=$(printf '%s\n' "$creds" | sed -n 's/^secret_access_key = "\(.*\)"/\1/p')
export AWS_DEFAULT_REGION=us-east-1
endpoint=http://127.0.0.1:$port
mkdir -p "$build/smoke"
aws ecr get-login-password --endpoint-url "$endpoint" |
    skopeo login --tls-verify=false --authfile "$build/smoke/auth.json" --username AWS \
        --password-stdin "127.0.0.1:$port" >/dev/null
# The image pushed is the base image just built: a real, multi-megabyte image at hand.
skopeo copy --quiet --dest-tls-verify=false --authfile "$build/smoke/auth.json" \
    "containers-storage:$base" "docker://127.0.0.1:$port/smoke/base:bookworm"
aws ecr describe-images --endpoint-url "$endpoint" --repository-name smoke/base \
    --query 'imageDetails[0].[imageTags[0],imageSizeInBytes]' --output text |
    tee "$build/smoke/listed.txt"
grep -q '^bookworm' "$build/smoke/listed.txt"
# The data lives in the volume: a new container on it still has the image.
podman rm -f "$name" >/dev/null
podman run $runtime $limits -d --name "$name" -p "127.0.0.1:$port:5000" -v "$name:/var/lib/dockyard" "$image" >/dev/null
i=0
until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { podman logs "$name"; exit 1; }; sleep 0.2
done
aws ecr list-images --endpoint-url "$endpoint" --repository-name smoke/base --output text |
    grep -q bookworm

step "OK: $image runs as uid $user, pushes with skopeo and lists with the aws CLI"
