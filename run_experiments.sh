#!/usr/bin/env bash
# Runs Strata's experiment suite (experiments/suite) and leaves, for each
# experiment, results/<name>.csv and results/<name>.png.
#
#   ./run_experiments.sh --quick                      # all experiments, small sizes: about two minutes on 2 cores
#   ./run_experiments.sh                              # full sizes: every database grows to 1 GiB (about 35 minutes on 2 cores)
#   ./run_experiments.sh --quick --only scans,durability
#   ./run_experiments.sh --list                       # the experiments
#
# Needs only Go: `go build` fetches the experiments module's dependencies
# (gonum.org/v1/plot) into the module cache. The databases live in a
# temporary directory on disk (TMPDIR, or beside results/ if that is a
# tmpfs), removed at the end. Arguments after `--` go to the suite program
# unchanged (see `./run_experiments.sh -- -help`).
set -euo pipefail
cd "$(dirname "$0")"

usage() {
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}

args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) args+=(-quick) ;;
	--only)
		[ $# -ge 2 ] || { echo "run_experiments.sh: --only needs a comma-separated list" >&2; exit 2; }
		args+=(-only "$2")
		shift
		;;
	--only=*) args+=(-only "${1#--only=}") ;;
	--list) args+=(-list) ;;
	-h | --help) usage; exit 0 ;;
	--) shift; args+=("$@"); break ;;
	*) echo "run_experiments.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

bindir=$(mktemp -d "${TMPDIR:-/tmp}/strata-suite-bin.XXXXXX")
trap 'rm -rf "$bindir"' EXIT
echo "building experiments/suite ..." >&2
(cd experiments && go build -o "$bindir/suite" ./suite)

mkdir -p results
"$bindir/suite" -out results ${args[@]+"${args[@]}"}
