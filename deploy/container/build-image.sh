#!/usr/bin/env bash
# Builds the Pyth-On container image without any container registry:
#   deploy/container/build-image.sh BIN_DIR [TAG]
# BIN_DIR holds `pyth-on`, `pyth-on-runner` and `libpyth_on_zygote.so` (the fork server's
# native part, loaded from beside pyth-on-runner), e.g. target/release; TAG defaults to
# localhost/pyth-on:latest. Run as root (podman's root store, the one `podman run` as root uses).
#
# 1. The base: a minimal Debian bookworm root file system made by mmdebstrap from Debian's
#    package mirror (variant apt: the Essential packages and apt, plus python3, nodejs and
#    ca-certificates, no recommends, no documentation, no apt lists), imported with
#    `podman import` as localhost/pyth-on-base:bookworm. It is reused while its label
#    org.pyth-on.base-recipe (a hash of the recipe below) matches; REBUILD_BASE=1 makes it
#    again (Debian's security updates).
# 2. The image: `podman build` of deploy/container/Containerfile on that base with the two
#    binaries and the library, labelled with the revision `pyth-on --version` names.
set -euo pipefail

usage() { echo "usage: $0 BIN_DIR [TAG]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
bin_dir=$1
tag=${2:-localhost/pyth-on:latest}
here=$(cd "$(dirname "$0")" && pwd)

for b in pyth-on pyth-on-runner; do
  [ -x "$bin_dir/$b" ] || { echo "$bin_dir/$b: not an executable file" >&2; exit 1; }
done
[ -f "$bin_dir/libpyth_on_zygote.so" ] \
  || { echo "$bin_dir/libpyth_on_zygote.so: missing (cargo build --release --workspace)" >&2; exit 1; }
for t in podman mmdebstrap; do
  command -v "$t" >/dev/null 2>&1 \
    || { echo "$t is not installed: apt-get install podman mmdebstrap" >&2; exit 1; }
done

# The base's recipe. Everything that changes the root file system is in it, so its hash
# names the base.
base=localhost/pyth-on-base:bookworm
suite=bookworm
packages=python3,nodejs,ca-certificates,mount
mirrors=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)
# shellcheck disable=SC2016 # the customize hook's "$1" is mmdebstrap's to expand
mmdebstrap_args=(
  --variant=apt
  --include="$packages"
  # Merged /usr by the hook (the usr-is-merged package) rather than the usrmerge package,
  # which would bring perl along.
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --aptopt='APT::Install-Recommends "false"'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
  # mmdebstrap empties apt's lists and cache itself; the logs and caches left besides go
  # ("$1": the root file system).
  --customize-hook='rm -rf "$1"/var/log/apt/* "$1"/var/log/dpkg.log "$1"/var/cache/debconf/*-old "$1"/var/cache/ldconfig/aux-cache'
)
recipe=$(printf '%s\n' "$suite" "$packages" "${mirrors[@]}" "${mmdebstrap_args[@]}" | sha256sum | cut -c1-16)

have=$(podman image inspect --format '{{index .Labels "org.pyth-on.base-recipe"}}' "$base" 2>/dev/null || true)
if [ "$have" = "$recipe" ] && [ "${REBUILD_BASE:-0}" != 1 ]; then
  echo "== base $base (recipe $recipe) exists: reused"
else
  echo "== base $base: mmdebstrap $suite with $packages"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mmdebstrap --quiet "${mmdebstrap_args[@]}" "$suite" "$work/rootfs.tar" "${mirrors[@]}"
  podman import --quiet \
    --change "LABEL org.pyth-on.base-recipe=$recipe" \
    --change "LABEL org.opencontainers.image.description=Debian $suite: $packages" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$work/rootfs.tar" "$base" >/dev/null
  rm -rf "$work"
  trap - EXIT
fi

# The build context: the two binaries, the fork server's library and the entry point.
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
install -m 0755 "$bin_dir/pyth-on" "$bin_dir/pyth-on-runner" "$here/entrypoint.sh" "$context/"
install -m 0644 "$bin_dir/libpyth_on_zygote.so" "$context/"
version=$("$bin_dir/pyth-on" --version)             # pyth-on 0.1.0 (abc1234)
revision=${version##*(}
revision=${revision%)}
semver=${version#pyth-on }
semver=${semver%% *}
echo "== image $tag: $version"
# Docker format: the OCI image format has no HEALTHCHECK.
podman build --quiet --pull=never --format docker \
  --build-arg BASE="$base" \
  --build-arg REVISION="$revision" \
  --build-arg VERSION="$semver" \
  --file "$here/Containerfile" --tag "$tag" "$context" >/dev/null

size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "== $tag: $((size / 1000000)) MB ($size bytes)"
