#!/bin/sh
# Test server: starts a background child (sleep 60, in the server's process group), says
# "pid N" and "child M", then copies its input until EOF.
sleep 60 &
echo "pid $$"
echo "child $!"
exec cat
