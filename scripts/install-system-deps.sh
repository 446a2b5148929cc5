#!/usr/bin/env bash
# System packages from Debian's archive, installed only when missing (quick when all are there):
#   bash scripts/install-system-deps.sh          what `npm test` needs (its pretest runs this):
#                                                Chromium for the portal's browser tests, tmux
#                                                for the CLI's terminal tests
#   bash scripts/install-system-deps.sh bench    wrk for `npm run bench` (its prebench runs this)
# As root it installs with apt-get; otherwise it prints one line saying what to run and exits 1.
set -euo pipefail

# The browser tests launch CHROMIUM_PATH, else Debian's /usr/bin/chromium (test/browser/chromium.ts).
chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
groups=("${@:-test}")

missing() {
  local group
  for group in "${groups[@]}"; do
    case "$group" in
      test)
        [ -x "$chromium" ] || echo chromium
        command -v tmux >/dev/null 2>&1 || echo tmux
        ;;
      bench) command -v wrk >/dev/null 2>&1 || echo wrk ;;
    esac
  done
}

for group in "${groups[@]}"; do
  case "$group" in
    test | bench) ;;
    *)
      echo "usage: bash scripts/install-system-deps.sh [test] [bench]" >&2
      exit 2
      ;;
  esac
done

mapfile -t need < <(missing)
[ ${#need[@]} -eq 0 ] && exit 0

script="bash scripts/install-system-deps.sh${*:+ $*}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${need[*]} (no apt-get here: install them with this system's package manager)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]}; run as root: sudo $script (or: sudo apt-get install --no-install-recommends ${need[*]})" >&2
  exit 1
fi

echo "installing from Debian's archive: ${need[*]}" >&2
# Wait for another apt/dpkg run (another checkout's tests) instead of failing on its lock.
lock=(-o DPkg::Lock::Timeout=600)
apt-get "${lock[@]}" update -qq
DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get "${lock[@]}" install -y -qq --no-install-recommends \
  "${need[@]}" >/dev/null

mapfile -t still < <(missing)
if [ ${#still[@]} -gt 0 ]; then
  echo "still missing after apt-get install: ${still[*]} (CHROMIUM_PATH=${CHROMIUM_PATH:-unset})" >&2
  exit 1
fi
