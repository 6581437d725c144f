#!/usr/bin/env bash
# The whole test suite, runnable on a fresh Debian 12 machine as root: installs what the tests
# need (etcd for the store conformance suite, protoc for etcd-client, libseccomp for the
# container runtime, curl, ping, ip and nsenter for the pod tests' network namespaces, Debian's registry and
# skopeo for image tests, the Python Kubernetes client), checks formatting and lints, then runs
# every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    etcd-server protobuf-compiler curl docker-registry skopeo libseccomp-dev iputils-ping iproute2 util-linux openssl perl nftables dnsmasq-base >/dev/null
fi
# The test images are built offline from Debian's static busybox (installing the package would
# conflict with Debian's busybox, so only its .deb is fetched, once).
mkdir -p target/test-assets
if [ ! -f target/test-assets/busybox-static.deb ] && command -v apt-get >/dev/null; then
  (cd target/test-assets && apt-get download -qq busybox-static && mv busybox-static_*.deb busybox-static.deb)
fi
export BERTH_BUSYBOX_DEB="$PWD/target/test-assets/busybox-static.deb"
python3 -m pip install --quiet --disable-pip-version-check kubernetes pytest 2>&1 | grep -v -i "warning\|requires" || true

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Integration tests start servers; two at a time fits two cores.
cargo test --workspace -- --test-threads=2
