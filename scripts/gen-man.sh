#!/usr/bin/env bash
# gen-man.sh cli/help.txt VERSION > gptc.1 — the man page, generated from the same text that
# `gptc --help` prints (layout rules at the top of cli/help.txt): NAME from the first line, the
# usage lines as SYNOPSIS, the paragraphs as DESCRIPTION, each "heading:" as a section, option
# and command lines as tagged paragraphs.
set -eu
grep -v '^#' "$1" | awk -v version="${2:-}" '
function esc(s) {                       # roff: backslashes, and leading dots/quotes
    gsub(/\\/, "\\e", s); gsub(/-/, "\\-", s)
    if (s ~ /^[.\x27]/) s = "\\&" s
    return s
}
function flush_para() { if (para != "") { print esc(para); para = ""; needpp = 1 } }
NR == 1 {
    split($0, a, " - ")
    print ".TH GPTC 1 \"\" \"gptc " version "\" \"User Commands\""
    print ".SH NAME"
    print esc(a[1]) " \\- " esc(a[2])
    next
}
/^usage: / || (insyn && /^       gptc/) {
    if (!insyn) { print ".SH SYNOPSIS"; print ".nf"; insyn = 1 }
    sub(/^usage: /, ""); sub(/^       /, "")
    print esc($0); next
}
insyn { print ".fi"; insyn = 0; print ".SH DESCRIPTION" }
/^$/ { flush_para(); next }
/^[a-z][a-z ]*:$/ {
    flush_para(); h = toupper(substr($0, 1, length($0) - 1))
    print ".SH " esc(h); opt = 0; needpp = 0; next
}
/^  [-a-zA-Z_]/ && length($0) > 29 && substr($0, 28, 2) == "  " && substr($0, 30, 1) != " " {
    flush_para()
    tag = substr($0, 3, 27); sub(/ +$/, "", tag)
    print ".TP"; print "\\fB" esc(tag) "\\fR"; print esc(substr($0, 30)); opt = 1; next
}
opt && /^                             [^ ]/ { print esc(substr($0, 30)); next }
{
    if (para == "" && (opt || needpp)) print ".PP"
    opt = 0; needpp = 0; line = $0; sub(/^ +/, "", line); para = para == "" ? line : para "\n" line
}
END { flush_para() }
'
