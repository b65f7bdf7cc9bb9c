#!/usr/bin/env bash
# gen-help.sh cli/help.txt > BUILD/gen/help.inc — the help text as a C string literal (comment
# lines dropped) for cli/help.c. The man page comes from the same file (scripts/gen-man.sh).
set -eu
grep -v '^#' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/'
