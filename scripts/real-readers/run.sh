#!/usr/bin/env bash
# Proof with a real reader (issue 24, point 5): boot Debian's kernel under
# QEMU, dump its memory, wrap the dump in a legacy HVM save image, convert
# it with xst, dump it with xst in every format, and open every dump with
# crash next to QEMU's own dump, with KASLR off and on.
# See scripts/real-readers/README.md. Not part of `npm test`.
#
# Environment (all optional):
#   XST_RR_WORK          work directory (default: a new mktemp -d under /tmp)
#   XST_RR_CACHE         cache for the kernel, crash's source and build
#                        (default ~/.cache/xst-real-readers)
#   XST_RR_KASLR         modes to run, default "off on"
#   XST_RR_FORMATS       dump-core formats, default: those `xst dump-core --help` lists
#   XST_RR_SOURCES       images to dump, default "legacy v2-libxl v2-libxc"
#   XST_RR_KERNEL_PKG    kernel package, default what linux-image-amd64 depends on
#   XST_RR_CRASH         a crash binary to use instead of building one
#   XST_RR_CRASH_SUITE   Debian suite whose crash source is built (default trixie)
#   XST_RR_REUSE_DUMPS=1 keep a mode's QEMU dump from an earlier run in the same work dir
#   XST_RR_KEEP=0        delete each mode's images and dumps once crash has read them
#   XST_RR_BOOT_TIMEOUT  seconds to wait for the guest's ready line (default 600)
#   XST_RR_CRASH_TIMEOUT seconds per crash session (default 900)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${XST_RR_CACHE:-$HOME/.cache/xst-real-readers}
WORK=${XST_RR_WORK:-}
[ -n "$WORK" ] || WORK=$(mktemp -d /tmp/xst-real-readers.XXXXXX)
mkdir -p "$CACHE" "$WORK"
WORK=$(cd "$WORK" && pwd)
KASLR_MODES=${XST_RR_KASLR:-off on}
SOURCES=${XST_RR_SOURCES:-legacy v2-libxl v2-libxc}
BOOT_TIMEOUT=${XST_RR_BOOT_TIMEOUT:-600}
CRASH_TIMEOUT=${XST_RR_CRASH_TIMEOUT:-900}
CRASH_SUITE=${XST_RR_CRASH_SUITE:-trixie}
MIRROR=${XST_RR_MIRROR:-http://deb.debian.org/debian}
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
xst() { node "$REPO/bin/run.js" "$@"; }

exec > >(tee -a "$WORK/run.log") 2>&1

T0=$(date +%s)
STAGE=
STAGE_T=$T0
: > "$WORK/timings.tsv"
stage() {
  local now
  now=$(date +%s)
  [ -z "$STAGE" ] || printf '%s\t%ss\n' "$STAGE" $((now - STAGE_T)) >> "$WORK/timings.tsv"
  STAGE=$1
  STAGE_T=$now
  printf '\n==> [%s +%ss] %s\n' "$(date +%T)" $((now - T0)) "$1"
}
info() { printf '    %s\n' "$*"; }
die() {
  printf 'real-readers: %s\n' "$*" >&2
  exit 1
}

QEMU_PID=
cleanup() {
  if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then kill "$QEMU_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

info "work dir: $WORK"
info "cache:    $CACHE"

# ---------------------------------------------------------------------------
stage "packages"
PKGS=(qemu-system-x86 busybox-static crash cpio python3 curl xz-utils dpkg-dev
  build-essential bison flex gawk texinfo zlib1g-dev libncurses-dev liblzo2-dev libsnappy-dev libzstd-dev)
need=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  info "installing: ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
else
  info "all installed"
fi
info "$(qemu-system-x86_64 --version | head -1)"

# ---------------------------------------------------------------------------
stage "kernel and its debug info"
KPKG=${XST_RR_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1)}
[ -n "$KPKG" ] || die "cannot tell which kernel linux-image-amd64 depends on"
KREL=${KPKG#linux-image-}
KDIR=$CACHE/kernel/$KREL
VMLINUZ=$KDIR/boot/vmlinuz-$KREL
VMLINUX=$KDIR/usr/lib/debug/boot/vmlinux-$KREL
if [ ! -f "$KDIR/.done" ]; then
  mkdir -p "$CACHE/debs" "$KDIR"
  info "downloading $KPKG and $KPKG-dbg (about 1 GB)"
  (cd "$CACHE/debs" && apt-get download -q "$KPKG" "$KPKG-dbg" 2>&1 | grep -v 'unsandboxed' || true)
  for d in "$KPKG" "$KPKG-dbg"; do ls "$CACHE/debs/${d}"_*.deb > /dev/null || die "download of $d failed"; done
  dpkg-deb --fsys-tarfile "$(ls "$CACHE/debs/${KPKG}"_*.deb | tail -1)" | tar x -C "$KDIR" "./boot/vmlinuz-$KREL" "./boot/System.map-$KREL"
  dpkg-deb --fsys-tarfile "$(ls "$CACHE/debs/${KPKG}-dbg"_*.deb | tail -1)" | tar x -C "$KDIR" "./usr/lib/debug/boot/vmlinux-$KREL"
  rm -f "$CACHE/debs/${KPKG}"_*.deb "$CACHE/debs/${KPKG}-dbg"_*.deb
  touch "$KDIR/.done"
fi
info "kernel $KREL: $VMLINUZ"
info "vmlinux: $VMLINUX"

# ---------------------------------------------------------------------------
stage "crash (built from Debian $CRASH_SUITE's source)"
CRASH_NOTE=
if [ -n "${XST_RR_CRASH:-}" ]; then
  CRASH=$XST_RR_CRASH
  CRASH_NOTE="given by XST_RR_CRASH"
else
  SRC=$CACHE/crash-src
  mkdir -p "$SRC"
  if [ ! -f "$SRC/Sources-$CRASH_SUITE.xz" ] || [ -n "$(find "$SRC/Sources-$CRASH_SUITE.xz" -mtime +7)" ]; then
    curl -fsS -o "$SRC/Sources-$CRASH_SUITE.xz" "$MIRROR/dists/$CRASH_SUITE/main/source/Sources.xz"
  fi
  # Version, pool directory and "sha256 size name" of each file of the crash source package.
  xz -dc "$SRC/Sources-$CRASH_SUITE.xz" | python3 -c '
import sys
block = sys.stdin.read().split("\n\n")
b = next(x for x in block if x.startswith("Package: crash\n"))
f = {}
key = None
for ln in b.splitlines():
    if ln.startswith(" ") and key:
        f[key].append(ln.strip())
    else:
        key, _, v = ln.partition(":")
        f[key] = [v.strip()] if v.strip() else []
print(f["Version"][0], f["Directory"][0])
for x in f["Checksums-Sha256"]:
    print(x)
' > "$SRC/crash-$CRASH_SUITE.files"
  read -r CV CDIR < "$SRC/crash-$CRASH_SUITE.files"
  CRASH=$CACHE/crash-$CV/crash
  if [ -x "$CRASH" ]; then
    info "cached: $CRASH"
    CRASH_NOTE=$(cat "$CACHE/crash-$CV/NOTE" 2>/dev/null || true)
  else
    info "crash $CV from $MIRROR/$CDIR"
    missing=()
    while read -r sha size name; do
      f=$SRC/$name
      if [ ! -f "$f" ] || ! echo "$sha  $f" | sha256sum -c --status; then
        curl -fsS -o "$f.part" "$MIRROR/$CDIR/$name" && mv "$f.part" "$f" || {
          rm -f "$f.part"
          missing+=("$name")
          continue
        }
        echo "$sha  $f" | sha256sum -c --status || die "$name: sha256 does not match $CRASH_SUITE's Sources"
      fi
      info "have $name ($size bytes, sha256 ok)"
    done < <(tail -n +2 "$SRC/crash-$CRASH_SUITE.files")
    B=$CACHE/build
    rm -rf "$B/crash-$CV"
    mkdir -p "$B"
    orig=$(ls "$SRC"/crash_"${CV%-*}".orig.tar.* 2>/dev/null | head -1 || true)
    dsc=$SRC/crash_${CV}.dsc
    if [ -f "$dsc" ] && [ ${#missing[@]} -eq 0 ]; then
      (cd "$B" && dpkg-source --no-check -x "$dsc" "crash-$CV")
      CRASH_NOTE="crash $CV: Debian $CRASH_SUITE source package (Debian patches applied)"
    elif [ -n "$orig" ]; then
      # The mirror may lack the .dsc and .debian.tar.xz (deb.debian.org's
      # pool serves them only while they are current): build the upstream
      # tarball, which is what Debian's package builds, minus its patches.
      info "not on the mirror: ${missing[*]}; building the orig tarball without Debian's patches"
      mkdir -p "$B/crash-$CV"
      tar xf "$orig" -C "$B/crash-$CV" --strip-components=1
      CRASH_NOTE="crash $CV: Debian $CRASH_SUITE orig tarball (sha256 checked against Sources; Debian patches not applied: ${missing[*]} not on the mirror)"
    else
      die "crash $CV: no source on $MIRROR/$CDIR"
    fi
    # The tarball bundles gdb (gdb-10.2.tar.gz + crash's patch): nothing else is downloaded.
    info "building (gdb included, about 15 min on 2 cpus); log: $B/crash-$CV.log"
    make -C "$B/crash-$CV" -j"$(nproc)" target=X86_64 > "$B/crash-$CV.log" 2>&1 || {
      tail -20 "$B/crash-$CV.log"
      die "crash build failed"
    }
    install -D -m 755 "$B/crash-$CV/crash" "$CRASH"
    echo "$CRASH_NOTE" > "$CACHE/crash-$CV/NOTE"
  fi
fi
info "$("$CRASH" --version | sed -n '/^crash /p' | head -1)"
[ -z "$CRASH_NOTE" ] || info "$CRASH_NOTE"

# ---------------------------------------------------------------------------
stage "xst and the wrapper"
if [ ! -f "$REPO/dist/xst.cjs" ]; then (cd "$REPO" && npm ci --no-audit --no-fund && npm run build); fi
# The wrapper imports the project's test builder (TypeScript): bundle it with
# the esbuild the project already uses for its own bundle.
"$REPO/node_modules/esbuild/bin/esbuild" "$HERE/qemu-elf-to-legacy.ts" --bundle --platform=node --format=esm --target=node20 \
  --log-level=warning --outfile="$WORK/qemu-elf-to-legacy.mjs"
if [ -n "${XST_RR_FORMATS:-}" ]; then
  FORMATS=$XST_RR_FORMATS
else
  FORMATS=$(xst dump-core --help | sed -n 's/.*<options: \([a-z|]*\)>.*/\1/p' | head -1 | tr '|' ' ')
fi
[ -n "$FORMATS" ] || die "no dump-core formats"
info "dump-core formats: $FORMATS"

# ---------------------------------------------------------------------------
stage "initramfs"
IR=$WORK/initramfs
rm -rf "$IR"
mkdir -p "$IR/bin"
cp /bin/busybox "$IR/bin/busybox"
file -L "$IR/bin/busybox" | grep -q 'statically linked' || die "/bin/busybox is not static (busybox-static)"
install -m 755 "$HERE/init.sh" "$IR/init"
(cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1) > "$WORK/initramfs.cpio.gz"
info "$WORK/initramfs.cpio.gz ($(stat -c %s "$WORK/initramfs.cpio.gz") bytes)"

CMDS=$WORK/crash-cmds
printf '%s\n' 'sys' 'log' 'ps' 'bt -a' 'exit' > "$CMDS"
INFO_CMDS=$WORK/crash-info-cmds
printf '%s\n' 'help -k' 'help -m' 'exit' > "$INFO_CMDS"

ROWS=$WORK/rows.jsonl
: > "$ROWS"

# run_crash NAME DUMP [crash options...]: transcript in crash/NAME.txt, exit status in crash/NAME.rc
run_crash() {
  local name=$1 dump=$2
  shift 2
  local out=$D/crash/$name.txt rc=0
  mkdir -p "$D/crash"
  timeout "$CRASH_TIMEOUT" "$CRASH" -s "$@" "$VMLINUX" "$dump" < "$CMDS" > "$out" 2>&1 || rc=$?
  echo "$rc" > "$D/crash/$name.rc"
  info "crash $* $(basename "$dump"): exit $rc, $(wc -l < "$out") lines -> crash/$name.txt"
  return 0
}
compare() { # compare LABEL NAME OPTIONS: a summary row for transcript crash/NAME.txt
  python3 "$HERE/compare.py" row "$1" "$MODE" "$3" "$D/crash/reference.txt" "$D/crash/$2.txt" "$MARKER" "$(cat "$D/crash/$2.rc")" >> "$ROWS"
}

for MODE in $KASLR_MODES; do
  D=$WORK/kaslr-$MODE
  mkdir -p "$D"
  # -------------------------------------------------------------------------
  stage "KASLR $MODE: boot and dump under QEMU"
  if [ "${XST_RR_REUSE_DUMPS:-0}" = 1 ] && [ -f "$D/qemu.elf" ] && [ -f "$D/marker" ]; then
    MARKER=$(cat "$D/marker")
    info "reusing $D/qemu.elf (marker $MARKER)"
  else
    rm -f "$D/qemu.elf" "$D/serial.log" "$D/qmp.sock"
    MARKER=XST-MARKER-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    echo "$MARKER" > "$D/marker"
    APPEND="console=ttyS0 panic=-1 xst_marker=$MARKER"
    [ "$MODE" = off ] && APPEND="$APPEND nokaslr"
    info "marker $MARKER; -append '$APPEND'"
    qemu-system-x86_64 -machine pc,accel=tcg -m 512M -smp 2 -nographic -nodefaults -no-reboot \
      -serial "file:$D/serial.log" -monitor none -qmp "unix:$D/qmp.sock,server=on,wait=off" \
      -kernel "$VMLINUZ" -initrd "$WORK/initramfs.cpio.gz" -append "$APPEND" > "$D/qemu.out" 2>&1 &
    QEMU_PID=$!
    start=$(date +%s)
    until grep -q "XST-READY $MARKER" "$D/serial.log" 2>/dev/null; do
      kill -0 "$QEMU_PID" 2>/dev/null || {
        cat "$D/qemu.out"
        die "QEMU exited before the guest was ready (serial log: $D/serial.log)"
      }
      (($(date +%s) - start < BOOT_TIMEOUT)) || die "no ready line after ${BOOT_TIMEOUT}s (serial log: $D/serial.log)"
      sleep 0.5 # polling interval, not synchronisation
    done
    info "guest ready after $(($(date +%s) - start))s"
    python3 "$HERE/qmp.py" "$D/qmp.sock" stop - dump-guest-memory "{\"paging\": false, \"protocol\": \"file:$D/qemu.elf\"}" quit -
    wait "$QEMU_PID" || true
    QEMU_PID=
    info "$D/qemu.elf ($(stat -c %s "$D/qemu.elf") bytes)"
  fi

  # -------------------------------------------------------------------------
  stage "KASLR $MODE: wrap, convert, verify, dump-core"
  node "$WORK/qemu-elf-to-legacy.mjs" "$D/qemu.elf" "$D/legacy.save" > "$D/wrap.json"
  info "legacy.save: $(cat "$D/wrap.json")"
  xst inspect-legacy "$D/legacy.save" > "$D/inspect-legacy.txt"
  xst convert -q --force -f libxl "$D/legacy.save" "$D/v2-libxl.save"
  xst convert -q --force -f libxc --container none "$D/legacy.save" "$D/v2-libxc.save"
  xst verify "$D/v2-libxl.save" "$D/v2-libxc.save" > "$D/verify.txt" || die "xst verify refused a converted image: $D/verify.txt"
  sed 's/^/    /' "$D/verify.txt" | grep -E '^    \S' || true
  for src in $SOURCES; do
    for fmt in $FORMATS; do
      if xst dump-core -q --json --force -f "$fmt" "$D/$src.save" "$D/$src.$fmt" > "$D/$src.$fmt.json"; then
        info "dump-core -f $fmt $src.save -> $src.$fmt"
      else
        info "dump-core -f $fmt $src.save FAILED: $(head -c 300 "$D/$src.$fmt.json")"
      fi
    done
  done

  # -------------------------------------------------------------------------
  stage "KASLR $MODE: crash"
  run_crash reference "$D/qemu.elf"
  compare "qemu-elf (reference)" reference ""
  mkdir -p "$D/crash"
  timeout "$CRASH_TIMEOUT" "$CRASH" -s "$VMLINUX" "$D/qemu.elf" < "$INFO_CMDS" > "$D/crash/reference-info.txt" 2>&1 || true
  REF_KASLR=$(sed -n 's/.*(KASLR offset: \([0-9a-f]*\) .*/0x\1/p' "$D/crash/reference-info.txt" | head -1)
  REF_PHYS=$(sed -n 's/^ *phys_base: \([0-9a-f]*\)$/0x\1/p' "$D/crash/reference-info.txt" | head -1)
  info "crash on QEMU's dump: KASLR offset ${REF_KASLR:-none}, phys_base ${REF_PHYS:-?}"
  for src in $SOURCES; do
    for fmt in $FORMATS; do
      f=$D/$src.$fmt
      [ -f "$f" ] || continue
      dumparg=$f
      [ "$fmt" = raw ] && dumparg="$f@0"
      run_crash "$src.$fmt" "$dumparg"
      compare "$src.$fmt" "$src.$fmt" ""
      # Offsets: what dump-core --json says (kernel.kaslrOffset/physBase), else
      # what crash found in QEMU's dump. Tried where the format needs them.
      read -r K P S < <(python3 -c '
import json, sys
try:
    k = json.load(open(sys.argv[1])).get("kernel") or {}
except Exception:
    k = {}
print(k.get("kaslrOffset") or "-", k.get("physBase") or "-", "xst" if k.get("kaslrOffset") or k.get("physBase") else "-")
' "$f.json")
      if [ "$S" = - ]; then
        K=${REF_KASLR:-0x0}
        P=${REF_PHYS:-}
        S=reference
      fi
      case $fmt in
      elf | raw)
        opts=(--kaslr="$K")
        [ -n "$P" ] && [ "$P" != - ] && opts+=(--machdep "phys_base=$P")
        run_crash "$src.$fmt.offsets" "$dumparg" "${opts[@]}"
        compare "$src.$fmt" "$src.$fmt.offsets" "${opts[*]} (from $S)"
        ;;
      esac
    done
  done
  if [ "${XST_RR_KEEP:-1}" = 0 ]; then rm -f "$D"/*.save "$D"/*.elf "$D"/*.raw "$D"/*.vmcore; fi
done

stage "summary"
{
  echo "# xst real-reader run, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "- kernel: $KPKG (debug info from $KPKG-dbg); QEMU: $(qemu-system-x86_64 --version | head -1)"
  echo "- crash: $("$CRASH" --version | sed -n '/^crash /p' | head -1) ($CRASH; ${CRASH_NOTE:-no note})"
  echo "- xst: $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?'); dump-core formats: $FORMATS"
  echo "- crash commands: sys, log, ps, bt -a; compared with the same commands on QEMU's own ELF dump of the same boot"
  echo
  python3 "$HERE/compare.py" table "$ROWS"
  echo
  echo "Transcripts: $WORK/kaslr-*/crash/*.txt"
} > "$WORK/summary.md"
printf '%s\t%ss\n' "$STAGE" $(($(date +%s) - STAGE_T)) >> "$WORK/timings.tsv"
printf 'total\t%ss\n' $(($(date +%s) - T0)) >> "$WORK/timings.tsv"
cat "$WORK/summary.md"
echo
sed 's/^/    /' "$WORK/timings.tsv"
