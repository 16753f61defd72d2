#!/bin/sh
# Build the simulated USRP, a UHD device module, and install it where radiops
# points UHD_MODULE_PATH in the containers of simulated radio roles.
#
# images/sdr-base builds it with this script and ships this folder (sources,
# script, README.md) at /usr/local/share/radiops/sim_usrp/, so an image of
# another distribution or UHD version builds its own copy against its own
# libuhd (see README.md here for a Dockerfile recipe).
#
# Needs: a C++17 compiler, UHD 4.x headers and library (Debian/Ubuntu:
# libuhd-dev; or UHD built from source), the Boost headers UHD's headers
# include (libboost-dev) and the libzmq headers (libzmq3-dev). On Debian:
#   apt-get install g++ libuhd-dev libboost-dev libzmq3-dev
# pkg-config is used when present, for a UHD installed elsewhere (PKG_CONFIG_PATH).
#
# Usage: build.sh [DIR]
#   DIR  where to install libradiops_sim_usrp.so
#        (default /usr/local/lib/radiops/uhd-modules, the folder radiops names)
# Environment: CXX (default: c++, g++ or clang++), CXXFLAGS, LDFLAGS (added to
# the compiler's command line, e.g. -I/opt/uhd/include -L/opt/uhd/lib or -Werror).
set -eu

PROG=build.sh
MODULE=libradiops_sim_usrp.so
DEST=${1:-/usr/local/lib/radiops/uhd-modules}
SRC=$(cd "$(dirname "$0")" && pwd)

die() {
    printf '%s: error: %s\n' "$PROG" "$1" >&2
    shift
    for line in "$@"; do printf '  %s\n' "$line" >&2; done
    exit 1
}

[ $# -le 1 ] || die "at most one argument, the folder to install into (usage: $PROG [DIR])"

if [ -z "${CXX:-}" ]; then
    for candidate in c++ g++ clang++; do
        if command -v "$candidate" >/dev/null 2>&1; then CXX=$candidate; break; fi
    done
    [ -n "${CXX:-}" ] || die "no C++ compiler found (c++, g++ or clang++)" \
        "install one (Debian/Ubuntu: apt-get install g++), or name it in CXX"
fi

# Where UHD and libzmq are: pkg-config's include and library folders when it
# knows them (not its library list: uhd.pc names Boost libraries the module does
# not use, and -Wl,--no-undefined below proves what it does), else the system's.
UHD_FLAGS="-luhd"
ZMQ_FLAGS="-lzmq"
if command -v pkg-config >/dev/null 2>&1; then
    if pkg-config --exists uhd; then
        UHD_FLAGS="$(pkg-config --cflags --libs-only-L uhd) -luhd"
    fi
    if pkg-config --exists libzmq; then
        ZMQ_FLAGS="$(pkg-config --cflags --libs-only-L libzmq) -lzmq"
    fi
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM

# Which UHD the headers are: the module needs UHD 4 (its device API).
printf '#include <uhd/version.hpp>\nradiops_uhd_version UHD_VERSION\n' >"$WORK/version.cpp"
# shellcheck disable=SC2086 # the flag lists are word lists
if ! "$CXX" -E -P ${CXXFLAGS:-} $UHD_FLAGS "$WORK/version.cpp" >"$WORK/version.txt" 2>"$WORK/version.err"; then
    sed 's/^/  | /' "$WORK/version.err" >&2
    die "$CXX cannot compile UHD's uhd/version.hpp (the compiler's messages are above)" \
        "install UHD's and Boost's headers (Debian/Ubuntu: libuhd-dev libboost-dev; Fedora:" \
        "uhd-devel boost-devel), or for UHD built from source set CXXFLAGS=-I<prefix>/include" \
        "LDFLAGS=-L<prefix>/lib (or PKG_CONFIG_PATH)"
fi
VERSION=$(sed -n 's/^radiops_uhd_version[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$WORK/version.txt")
[ -n "$VERSION" ] || die "could not read UHD_VERSION from uhd/version.hpp"
MAJOR=$((VERSION / 1000000))
DOTTED="$MAJOR.$((VERSION / 10000 % 100)).$((VERSION / 100 % 100))"
[ "$MAJOR" -eq 4 ] ||
    die "UHD $DOTTED found: the simulated USRP is written for UHD 4.x (4.0 to 4.11 checked)" \
        "build it against a UHD 4 installation (CXXFLAGS, LDFLAGS or PKG_CONFIG_PATH)"

# -Wl,--no-undefined: a missing library fails here, not when libuhd loads the module.
printf '%s: compiling the simulated USRP against UHD %s with %s\n' "$PROG" "$DOTTED" "$CXX"
# shellcheck disable=SC2086 # the flag lists are word lists
"$CXX" -std=c++17 -O2 -Wall -Wextra -fPIC -shared ${CXXFLAGS:-} \
    -o "$WORK/$MODULE" "$SRC"/*.cpp \
    ${LDFLAGS:-} -Wl,--no-undefined $UHD_FLAGS $ZMQ_FLAGS -lpthread ||
    die "compiling the simulated USRP failed (the compiler's messages are above)" \
        "it needs a C++17 compiler, UHD 4, Boost and libzmq headers" \
        "(Debian: g++ libuhd-dev libboost-dev libzmq3-dev)"

mkdir -p "$DEST" || die "cannot create $DEST"
if ! { cp "$WORK/$MODULE" "$DEST/$MODULE.tmp" && chmod 0644 "$DEST/$MODULE.tmp" &&
    mv -f "$DEST/$MODULE.tmp" "$DEST/$MODULE"; }; then
    die "cannot install $DEST/$MODULE"
fi
printf '%s: installed %s (UHD %s)\n' "$PROG" "$DEST/$MODULE" "$DOTTED"
