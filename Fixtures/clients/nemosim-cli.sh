#!/usr/bin/env bash
# nemosim's own client commands through the flow check-client challenges:
# token, session, credits, a generation, two edits, a new video (2001), export.
#   nemosim check-client --time-scale 1000 -- Fixtures/clients/nemosim-cli.sh
# NEMOSIM names the binary (default: nemosim on PATH). Exit 0 when every
# step behaved as the client's rules say (a 2001 at the end included).
set -u
n=${NEMOSIM:-nemosim}
$n token || exit 1
$n session || exit 1
$n credits || exit 1
$n send "make a 30-second promo video with music" || exit 1
$n send "add a title that says Hello" || exit 1
$n send "change the title to Goodbye" || exit 1
$n send "make a new video about cats"; status=$?
[ $status -eq 1 ] || { echo "expected 2001 (exit 1) at the last message, got exit $status" >&2; exit 1; }
$n export -o "${TMPDIR:-/tmp}/nemosim-cli-export-$$.mp4" || exit 1
rm -f "${TMPDIR:-/tmp}/nemosim-cli-export-$$.mp4"
