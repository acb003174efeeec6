#!/bin/sh
# conf-bench.sh — parse and validate 10,000 services from an includedir.
#
#   bench/conf-bench.sh [BUILD_DIR] [N]      (make bench-conf)
#
# Generates N (default 10000) xinetd-style service files (UNLISTED, one port each, a few
# attributes each, as a large tftp/rsync/agent farm would have) in a temporary includedir, then
# reports conf_load() time over 10 runs and the peak RSS (build/bench/conf-bench), and the wall
# time and peak RSS of the whole `portierd -n` process (/usr/bin/time).
set -eu
b=${1:-build}
n=${2:-10000}
dir=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "kept $dir" || trap 'rm -rf "$dir"' EXIT INT TERM
mkdir "$dir/portier.d"
cat >"$dir/portier.conf" <<CONF
defaults
{
	log_type	= SYSLOG daemon info
	log_on_success	= PID HOST DURATION EXIT
	log_on_failure	= HOST
	instances	= 50
	per_source	= 10
	cps		= 50 10
}

includedir $dir/portier.d
CONF
i=0
while [ $i -lt "$n" ]; do
	port=$((10000 + i))
	cat >"$dir/portier.d/svc$i" <<SVC
# description: generated service $i
service svc$i
{
	disable		= no
	type		= UNLISTED
	socket_type	= stream
	protocol	= tcp
	port		= $port
	wait		= no
	user		= nobody
	server		= /bin/cat
	server_args	= -u
	only_from	= 127.0.0.1 10.0.0.0 192.168.{1,2}
	log_on_failure	+= USERID
	env		= SERVICE=svc$i
}
SVC
	i=$((i + 1))
done
echo "conf-bench: $n services in $dir/portier.d"
"$b/bench/conf-bench" "$dir/portier.conf" 10
if [ -x /usr/bin/time ]; then
	/usr/bin/time -f "portierd -n: wall_s %e max_rss_kib %M" "$b/portierd" -n -f "$dir/portier.conf"
else
	start=$(date +%s%N)
	"$b/portierd" -n -f "$dir/portier.conf"
	echo "portierd -n: wall_ms $(( ($(date +%s%N) - start) / 1000000 ))"
fi
