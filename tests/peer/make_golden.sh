#!/usr/bin/env bash
# Regenerates crates/simcore/tests/golden/<release>/<cfg>__<topology>/ with the real SCALE-Sim.
# rand24.csv holds 24 random small layers (seeded); the tiny_* configs are a 5x7 array with
# 1 kB SRAMs and bandwidths 2/5/3.
# Each case is one peer run; runs go two at a time. Needs scripts/peer-venvs first.
set -euo pipefail
cd "$(dirname "$0")/../.."
golden=crates/simcore/tests/golden
cases=()
for release in v3 v2; do
    for cfg in scalesim scalesim_ws scalesim_is scalesim_lowmem lowmem_ws lowmem_is eyeriss; do
        for topo in small3 ostress gemm; do cases+=("$release $cfg $topo"); done
    done
    for cfg in lowmem_bw lowmem_bw_ws lowmem_bw_is; do
        for topo in small3 ostress; do cases+=("$release $cfg $topo"); done
    done
    cases+=("$release lowmem_bw gemm")
    for cfg in tiny_os tiny_ws tiny_is; do cases+=("$release $cfg rand24"); done
    for cfg in scalesim scalesim_lowmem; do cases+=("$release $cfg test1"); done
    cases+=("$release scalesim Resnet18")  # about 5 CPU minutes each
    [[ $release == v3 ]] && cases+=("$release scalesim mobilenet")
done
run_case() {
    read -r release cfg topo <<<"$1"
    local python=.venvs/scalesim-3.0.0/bin/python gemm=()
    [[ $release == v2 ]] && python=.venvs/scalesim-2.0.2/bin/python
    [[ $topo == gemm ]] && gemm=(--gemm)
    "$python" tests/peer/run_scalesim.py "$golden/inputs/$release/$cfg.cfg" \
        "$golden/inputs/$topo.csv" "$golden/$release/${cfg}__$topo" "${gemm[@]}" >/dev/null
    echo "done $1"
}
export -f run_case
export golden
printf '%s\n' "${cases[@]}" | xargs -P 2 -I{} bash -c 'run_case "{}"'
