#!/bin/sh
# Test server: ignores SIGTERM (and SIGHUP), says "pid N", then copies its input until EOF.
trap '' TERM HUP
echo "pid $$"
exec cat
