# Shared by the scripts: repository root, Debian packages the build needs, the Swift toolchain check.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# System libraries linked by the package (SwiftPM system-library targets) and tools the scripts use.
APT_PACKAGES=(pkg-config libsystemd-dev libsqlite3-dev libcurl4-openssl-dev python3 python3-prometheus-client e2fsprogs)

# What building and checking the Debian package needs besides (scripts/package, scripts/test-package).
PACKAGE_APT_PACKAGES=(dpkg-dev debhelper fakeroot binutils lintian systemd systemd-container man-db adduser util-linux)

# install_apt_packages [PACKAGE...]: installs the missing ones of the given packages (default: APT_PACKAGES).
install_apt_packages() {
    local wanted=("$@") missing=()
    [ ${#wanted[@]} -gt 0 ] || wanted=("${APT_PACKAGES[@]}")
    for package in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing Debian packages: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

require_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
            [ -x "$candidate/swift" ] && export PATH="$candidate:$PATH" && break
        done
    fi
    if ! command -v swift >/dev/null 2>&1; then
        echo "error: the Swift 6 toolchain is not installed (swift not on PATH)." >&2
        echo "Install Swift 6.x for Debian 12 from swift.org, put its usr/bin on PATH, and run this again." >&2
        exit 1
    fi
    local version
    version="$(swift --version 2>&1 | sed -n 's/.*Swift version \([0-9]*\)\..*/\1/p' | head -n 1)"
    if [ -n "$version" ] && [ "$version" -lt 6 ]; then
        echo "error: Swift 6 or later is required; found $(swift --version 2>&1 | head -n 1)" >&2
        exit 1
    fi
}
