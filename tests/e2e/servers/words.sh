#!/bin/sh
# Test server: prints its argument count and each argument on its own line, $0 first.
echo "argc $#"
echo "0=$0"
for a in "$@"; do echo "arg=$a"; done
