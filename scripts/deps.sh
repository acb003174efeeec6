#!/bin/sh
# deps.sh — make sure the Debian packages a make target needs are installed.
#
#   scripts/deps.sh check   packages for `make check` (cmocka, pytest, libwrap, netbase for
#                           /etc/services, xinetd for the comparison tests, fail2ban for
#                           fail2ban-regex on contrib/'s filter, ...)
#   scripts/deps.sh fuzz    packages for `make fuzz` (clang's libFuzzer runtime)
#   scripts/deps.sh bench   packages for `make bench` (xinetd and ucspi-tcp to compare with)
#
# As root, missing packages are installed with apt-get. Otherwise the script stops and prints
# the exact apt-get line to run.
set -eu

case "${1:-check}" in
check)	pkgs="libcmocka-dev python3-pytest python3-pytest-timeout libwrap0-dev pkg-config procps iproute2 util-linux netbase xinetd fail2ban" ;;
fuzz)	pkgs="clang libclang-rt-14-dev" ;;
bench)	pkgs="xinetd ucspi-tcp procps" ;;
*)	echo "usage: $0 check|fuzz|bench" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "portier: missing Debian packages:$missing" >&2
	echo "portier: install them with:  sudo apt-get install -y$missing" >&2
	exit 1
fi

echo "portier: installing missing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Installing xinetd or fail2ban must not start them: the tests run their own, on their own
# ports. A policy-rc.d that says "no" does that on Debian (removed again if it was ours).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# portier deps.sh: start no service while installing\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
# A fresh machine may have no package lists yet; update only when an install fails for that.
# shellcheck disable=SC2086
if ! apt-get install -y -q $missing >/dev/null 2>&1; then
	apt-get update -q >/dev/null
	apt-get install -y -q $missing >/dev/null
fi
