#!/bin/sh
# Builds the libFuzzer binary and runs each target for SECONDS: `Fuzz/run.sh SECONDS TARGET...` (make fuzz).
#
# SwiftPM cannot link an executable with -sanitize=fuzzer (it renames the entry point), so BodycamCore is
# compiled by SwiftPM with coverage and ASan instrumentation into .build-fuzz (only the library target:
# nothing is linked there), and swiftc links Fuzz/Targets.swift against those object files itself.
# Corpora and crashes stay in .build-fuzz; seeds are small text files in Fuzz/seeds plus tiny recordings
# made with the debug binary.
set -eu
seconds=$1; shift
swift=${SWIFT:-swift}
out=.build-fuzz
bin=$out/bodycam-fuzz

$swift build --product bodycam                     # the debug binary, for seed recordings
debug=$($swift build --scratch-path $out --show-bin-path)
# Objects of files that moved or were deleted would otherwise stay and be linked: our targets start clean.
rm -rf "$debug"/BodycamCore.build "$debug"/BodycamEvidence.build
$swift build --scratch-path $out --target BodycamCore -Xswiftc -sanitize=fuzzer,address
# Every library object SwiftPM built (BodycamCore, CHAL, swift-crypto and its C code); not the executable,
# the argument parser or the tests.
objects=$(find "$debug" -name '*.o' -path '*.build/*' ! -path '*/bodycam.build/*' ! -path '*/ArgumentParser*' \
          ! -path '*Tests.build/*' ! -path '*PackageDiscoveredTests*' ! -path '*PackageTests*' | sort)
# BodycamCore's interface imports the C target CHAL: its module map comes along.
${SWIFTC:-swiftc} -sanitize=fuzzer,address -parse-as-library -g -I "$debug/Modules" \
    -Xcc -fmodule-map-file="$debug/CHAL.build/module.modulemap" \
    Fuzz/Targets.swift $objects -ljpeg -lv4l2 -lssl -lcrypto -o $bin

# Seeds: a few tiny segments (complete, and cut short as a power cut leaves a .part), plus Fuzz/seeds.
seeds=$out/seeds
rm -rf $seeds && mkdir -p $seeds/avi-reader $seeds/avi-repair
printf 'wait 2s\ndouble record\nwait 2s\nhold record 3s\nquit\n' | \
    .build/debug/bodycam run --size 32x24 --fps 5 --segment-duration 1s --prerecord 1s --storage $seeds/storage >/dev/null
for f in $seeds/storage/recordings/*.avi; do
    n=$(basename "$f" .avi)
    cp "$f" $seeds/avi-reader/$n
    cp "$f" $seeds/avi-repair/$n-complete
    size=$(wc -c < "$f")
    head -c $((size * 2 / 3)) "$f" > $seeds/avi-repair/$n-cut
done
mkdir -p $seeds/script-line && cp Fixtures/scenarios/*.script $seeds/script-line/ 2>/dev/null || true
# Evidence files of the same storage: manifests, the audit trail and its head, device.json, counters.
mkdir -p $seeds/manifest $seeds/audit-trail $seeds/evidence-files
cp $seeds/storage/recordings/*.manifest.json $seeds/manifest/
cp $seeds/storage/state/audit.jsonl $seeds/storage/state/audit-head.json $seeds/audit-trail/
cp $seeds/storage/state/device.json $seeds/storage/state/counters.json $seeds/storage/recordings/*.manifest.sig $seeds/evidence-files/
ls $seeds/storage/recordings > $seeds/evidence-files/names
export BODYCAM_FUZZ_KEY=$(sed -n 's/.*"public_key":"\([0-9a-f]*\)".*/\1/p' $seeds/storage/state/device.json)

status=0
for target in "$@"; do
    corpus=$out/corpus/$target
    mkdir -p "$corpus" $out/crashes
    dict=""
    case $target in avi-*) dict="-dict=Fuzz/avi.dict" ;; esac
    echo "== $target: ${seconds}s"
    if ! BODYCAM_FUZZ_TARGET=$target $bin -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix=$out/crashes/$target- $dict "$corpus" $(ls -d Fuzz/seeds/$target $seeds/$target 2>/dev/null); then
        echo "== $target: FOUND A CRASH (see $out/crashes/$target-*)"
        status=1
    fi
done
exit $status
