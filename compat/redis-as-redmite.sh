#!/bin/sh
# Self-test stand-in for redmite: runs a real redis-server with the options
# redmite is given.  `REDMITE_BIN=compat/redis-as-redmite.sh python3 compat/run.py`
# must report 0 failures; if it does not, a case file is flaky.
exec redis-server --save '' --appendonly no "$@"
