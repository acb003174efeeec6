#!/bin/sh
# Test server: prints its command line (/proc/self/cmdline, one argument per line, as run:
# for `server = /bin/sh`, argv[0] is the shell's), then "argc N" and each argument.
tr '\0' '\n' < /proc/$$/cmdline | sed 's/^/cmd=/'
echo "argc $#"
for a in "$@"; do echo "arg=$a"; done
