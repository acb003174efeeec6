#!/bin/sh
# Test server: says "pid N", then copies its input until EOF (the client closing).
echo "pid $$"
exec cat
