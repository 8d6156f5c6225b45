# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The benchmarks' table: rows appended by lib.sh's row(), printed as Markdown.

# print_table FILE: the rows so far as one Markdown table, then the notes.
print_table() {
        echo
        echo "| figure | nodeseal | comparison | ratio | target | |"
        echo "| --- | --- | --- | --- | --- | --- |"
        awk -F'\t' '$1 != "NOTE" { printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$1"
        awk -F'\t' '$1 == "NOTE" { printf "- %s\n", $2 }' "$1"
}
