#!/bin/sh
# Test server: says "bye", then exits with the status given as $1 (default 0).
echo bye
exit "${1:-0}"
