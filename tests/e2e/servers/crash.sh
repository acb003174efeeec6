#!/bin/sh
# Test server: says "pid N", then kills itself with the signal given as $1 (default SEGV).
echo "pid $$"
kill -"${1:-SEGV}" $$
sleep 5
