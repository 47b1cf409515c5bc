#!/usr/bin/env bash
# `make package`: builds the granary and granary-receiver .debs from the working tree.
# dpkg-buildpackage wants debian/ at the top of the source tree and writes its results
# into the parent directory, so the tree is staged under OUT first:
#   OUT/granary-VERSION/        a copy of the tracked and untracked (not ignored) files
#   OUT/granary-VERSION/debian  packaging/debian
#   OUT/*.deb                   the packages
# usage: packaging/build-deb.sh [OUT]   (default build-deb)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$here/build-deb}")
version=$(dpkg-parsechangelog -l "$here/packaging/debian/changelog" -S Version)
stage="$out/granary-$version"

# The stage is reused: tar keeps each file's mtime, so a second build recompiles only what
# changed. `rm -rf build-deb` for a build from scratch.
rm -rf "$stage/debian"
mkdir -p "$stage"
# Build directories are ignored by git, so they are not copied.
(cd "$here" && git ls-files -z --cached --others --exclude-standard |
  tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$stage" -xf -
cp -r "$here/packaging/debian" "$stage/debian"
rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo

cd "$stage"
# One job: the build machine is shared. Release flags come from dpkg-buildflags.
# A reused stage keeps its build tree: no pre-clean, which would delete it.
clean=()
if compgen -G "obj-*" > /dev/null; then clean=(--no-pre-clean); fi
DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=1 nocheck}" dpkg-buildpackage -us -uc -b "${clean[@]}"
ls -1 "$out"/*.deb
