# Shared by the scripts: repository root, Debian packages the build needs, the Swift toolchain check.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# System libraries linked by the package (SwiftPM system-library targets) and tools the scripts use.
APT_PACKAGES=(pkg-config libsystemd-dev libsqlite3-dev libcurl4-openssl-dev python3 python3-prometheus-client python3-venv e2fsprogs openssl postgresql)

# What only the tests need besides: chromium loads the status pages; prometheus (promtool) and
# python3-jsonschema check the alert rules and the dashboard (scripts/check-monitoring).
TEST_APT_PACKAGES=(chromium prometheus python3-jsonschema)

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

# ensure_venv NAME PINS WHAT: makes the virtualenv .build/venv-NAME with the packages pinned in PINS (a
# path from the repository's root; WHAT names them in messages), once; later calls only compare PINS with
# the copy kept in the venv. Two scripts at once: the second waits, then finds it ready. Needs python3-venv
# (in APT_PACKAGES).
ensure_venv() {
    local venv="$ROOT/.build/venv-$1" pins="$ROOT/$2" what="$3" lock status=0
    mkdir -p "$ROOT/.build"
    exec {lock}>"$ROOT/.build/venv-$1.lock"
    flock "$lock"
    if [ -x "$venv/bin/python" ] && cmp -s "$pins" "$venv/installed-requirements.txt"; then
        echo "==> $what ready in .build/venv-$1"
    else
        echo "==> installing $what into .build/venv-$1 (pins: $2)"
        rm -rf "$venv"
        if ! python3 -m venv "$venv" >/dev/null; then
            echo "error: python3 -m venv failed; on Debian 12 it needs the package python3-venv (install_apt_packages)" >&2
            status=1
        elif ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$pins"; then
            echo "error: pip could not install $2 from PyPI" >&2
            status=1
        else
            cp "$pins" "$venv/installed-requirements.txt"
        fi
        [ "$status" -eq 0 ] || rm -rf "$venv"
    fi
    exec {lock}>&-
    return "$status"
}

# ensure_localstripe: localstripe (PyPI, a third-party Stripe fake) and Stripe's official client in
# .build/venv-localstripe. Exports LOCALSTRIPE_PYTHON, the venv's python, to run
# Tests/Fakes/stripe/localstripe_loopback.py with.
ensure_localstripe() {
    export LOCALSTRIPE_PYTHON="$ROOT/.build/venv-localstripe/bin/python"
    ensure_venv localstripe Tests/Fakes/stripe/requirements-localstripe.txt localstripe
}

# ensure_hubspot_client: HubSpot's official Python client (hubspot-api-client) in .build/venv-hubspot.
# Exports HUBSPOT_CLIENT_PYTHON, the venv's python: Tests/Fakes/hubspot/test_fake_hubspot.py drives the
# fake with it.
ensure_hubspot_client() {
    export HUBSPOT_CLIENT_PYTHON="$ROOT/.build/venv-hubspot/bin/python"
    ensure_venv hubspot Tests/Fakes/hubspot/requirements-hubspot.txt hubspot-api-client
}

# ensure_chargebee_client: Chargebee's official Python client (chargebee) in .build/venv-chargebee. Exports
# CHARGEBEE_CLIENT_PYTHON, the venv's python: Tests/Fakes/chargebee/test_fake_chargebee.py drives the fake with it.
ensure_chargebee_client() {
    export CHARGEBEE_CLIENT_PYTHON="$ROOT/.build/venv-chargebee/bin/python"
    ensure_venv chargebee Tests/Fakes/chargebee/requirements-chargebee.txt chargebee
}

# ensure_salesforce_client: simple-salesforce (PyPI, the de-facto standard Salesforce client) in
# .build/venv-salesforce. Exports SALESFORCE_CLIENT_PYTHON, the venv's python: Tests/Fakes/salesforce/test_fake_salesforce.py
# drives the fake with it.
ensure_salesforce_client() {
    export SALESFORCE_CLIENT_PYTHON="$ROOT/.build/venv-salesforce/bin/python"
    ensure_venv salesforce Tests/Fakes/salesforce/requirements-salesforce.txt simple-salesforce
}

# ensure_airbyte_faker: airbyte-source-faker from PyPI (pinned by Tests/Fixtures/airbyte/constraints-faker.txt)
# in .build/airbyte, installed by scripts/airbyte-install as an operator would. Exports
# CONNECTOR_HOST_AIRBYTE_FAKER, its source-faker command, for the Airbyte end-to-end tests.
ensure_airbyte_faker() {
    local log="$ROOT/.build/airbyte-install.log"
    mkdir -p "$ROOT/.build"
    if ! CONNECTOR_HOST_AIRBYTE_FAKER="$("$ROOT/scripts/airbyte-install" faker 7.2.1 --dir "$ROOT/.build/airbyte" \
            --constraints "$ROOT/Tests/Fixtures/airbyte/constraints-faker.txt" 2>"$log")"; then
        cat "$log" >&2
        return 1
    fi
    head -n 2 "$log"
    export CONNECTOR_HOST_AIRBYTE_FAKER
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
