#!/bin/sh
# Self-test stand-in for redmite: runs a real redis-server with the options
# redmite is given.  `REDMITE_BIN=compat/redis-as-redmite.sh python3 compat/run.py`
# must report 0 failures; if it does not, a case file is flaky.
# redmite's own flags (`--dyn-listen X`, `--stats-listen X`) mean nothing to
# redis-server, so they are dropped with their values.
n=$#
while [ "$n" -gt 0 ]; do
    a=$1
    shift
    n=$((n - 1))
    case $a in
    --dyn-listen | --stats-listen)
        shift
        n=$((n - 1))
        ;;
    *) set -- "$@" "$a" ;;
    esac
done
exec redis-server --save '' --appendonly no "$@"
