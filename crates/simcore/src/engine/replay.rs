//! The array's demand loop (`double_buffered_scratchpad.service_memory_requests`), replayed
//! fold by fold. A fold whose ifmap and filter demands are already resident and whose outputs
//! fit in the write buffer without a drain runs stall-free, so it is skipped in O(1); other
//! folds are replayed line by line:
//!
//! ```text
//! c = line + S
//! S += max(ifmap_out − c − 1, filter_out − c − 1, ofmap_out − c [− 1 in v2.0.2])
//! ```

use super::geometry::Geometry;
use super::read_buffer::ReadBuffer;
use super::stream::Operand;
use super::write_buffer::WriteBuffer;
use crate::compat::CompatMode;
use crate::engine::EngineParams;
use crate::error::Result;
use crate::interrupt::{Interrupt, RunningLayer};

/// First and last serviced cycle of the demand lines that carry a valid address.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SramSpan {
    pub start: Option<i64>,
    pub stop: i64,
}

impl SramSpan {
    fn record(&mut self, cycle: i64) {
        self.start.get_or_insert(cycle);
        self.stop = cycle;
    }
}

/// DRAM start cycle, stop cycle and words moved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DramSpan {
    pub start: i64,
    pub stop: i64,
    pub words: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Replay {
    pub total_cycles: i64,
    pub stall_cycles: i64,
    pub sram_ifmap: SramSpan,
    pub sram_filter: SramSpan,
    pub sram_ofmap: SramSpan,
    pub dram_ifmap: DramSpan,
    pub dram_filter: DramSpan,
    pub dram_ofmap: DramSpan,
}

/// Demand lines replayed between two interrupt checks.
const LINES_PER_CHECK: u64 = 1 << 12;

/// Folds replayed or skipped between two progress reports.
const FOLDS_PER_REPORT: u64 = 1 << 8;

/// Bytes the read buffers of `replay` allocate.
pub(crate) fn table_bytes(g: &Geometry) -> u64 {
    ReadBuffer::table_bytes(g, Operand::Ifmap)
        .saturating_add(ReadBuffer::table_bytes(g, Operand::Filter))
}

pub(crate) fn replay(
    g: &Geometry,
    params: &EngineParams,
    compat: CompatMode,
    interrupt: &Interrupt,
    progress: &mut RunningLayer,
) -> Result<Replay> {
    let mut ifmap = ReadBuffer::new(
        g,
        Operand::Ifmap,
        params.ifmap_sram_elems,
        params.ifmap_bw_elems,
        interrupt,
    )?;
    let mut filter = ReadBuffer::new(
        g,
        Operand::Filter,
        params.filter_sram_elems,
        params.filter_bw_elems,
        interrupt,
    )?;
    let mut ofmap = WriteBuffer::new(params.ofmap_sram_elems, params.ofmap_bw_elems);

    let folds = g.folds();
    let fold_at = |idx: u64| (idx / g.row_folds, idx % g.row_folds);
    let has = |buf: &ReadBuffer, idx: u64| {
        let (fc, fr) = fold_at(idx);
        buf.key_entries(buf.fold_key(fc, fr)) > 0
    };
    // Folds whose lines decide the SRAM start/stop cycles are always replayed line by line.
    let mut edge_folds = vec![0, folds - 1];
    for buf in [&ifmap, &filter] {
        edge_folds.extend((0..folds).find(|&i| has(buf, i)));
        edge_folds.extend((0..folds).rev().find(|&i| has(buf, i)));
    }

    let ofmap_v2 = i64::from(compat == CompatMode::ScalesimV2);
    let mut line: i64 = 0;
    let mut stall: i64 = 0;
    let (mut last_out, mut max_out) = (0i64, i64::MIN);
    let (mut sram_ifmap, mut sram_filter, mut sram_ofmap) = (
        SramSpan::default(),
        SramSpan::default(),
        SramSpan::default(),
    );
    let mut ifmap_addrs = Vec::with_capacity(g.rows.max(g.cols) as usize);
    let mut filter_addrs = Vec::with_capacity(g.rows.max(g.cols) as usize);
    let fold_len = g.fold_len as i64;

    // Work units (replayed lines, skipped folds) left before the next interrupt check.
    let mut until_check = LINES_PER_CHECK;
    let mut tick = || -> Result<()> {
        until_check -= 1;
        if until_check == 0 {
            until_check = LINES_PER_CHECK;
            interrupt.check()?;
        }
        Ok(())
    };
    for idx in 0..folds {
        tick()?;
        if idx % FOLDS_PER_REPORT == 0 && idx > 0 {
            progress.advance(FOLDS_PER_REPORT);
        }
        let (fc, fr) = fold_at(idx);
        let edge = edge_folds.contains(&idx);
        let ifmap_resident = !edge && ifmap.key_resident(ifmap.fold_key(fc, fr));
        let filter_resident = !edge && filter.key_resident(filter.fold_key(fc, fr));
        let outputs = g.ofmap_fold_count(fc, fr);
        if ifmap_resident && filter_resident && ofmap.absorbs(outputs) {
            ofmap.store_quietly(outputs);
            line += fold_len;
            last_out = line - 1 + stall;
            max_out = max_out.max(last_out);
            continue;
        }
        for tau in 0..g.fold_len {
            tick()?;
            let cycle = line + stall;
            let ifmap_stall = if ifmap_resident {
                0
            } else {
                g.ifmap_line(fc, fr, tau, &mut ifmap_addrs);
                let out = ifmap.serve_line(&ifmap_addrs, cycle, compat)?;
                if !ifmap_addrs.is_empty() {
                    sram_ifmap.record(out);
                }
                out - cycle - 1
            };
            let filter_stall = if filter_resident {
                0
            } else {
                g.filter_line(fc, fr, tau, &mut filter_addrs);
                let out = filter.serve_line(&filter_addrs, cycle, compat)?;
                if !filter_addrs.is_empty() {
                    sram_filter.record(out);
                }
                out - cycle - 1
            };
            let outputs = g.ofmap_line_count(fc, fr, tau);
            let out = ofmap.serve_line(outputs, cycle)?;
            if outputs > 0 {
                sram_ofmap.record(out);
            }
            last_out = out;
            max_out = max_out.max(out);
            stall += ifmap_stall.max(filter_stall).max(out - cycle - ofmap_v2);
            line += 1;
        }
    }
    progress.advance(folds - (folds - 1) / FOLDS_PER_REPORT * FOLDS_PER_REPORT);
    ofmap.finish(last_out)?;

    let v3 = compat == CompatMode::ScalesimV3;
    let dram_read = |buf: &ReadBuffer| DramSpan {
        start: buf.dram_start(),
        stop: buf.dram_stop(),
        words: buf.dram_reads(),
    };
    Ok(Replay {
        total_cycles: if v3 { max_out } else { last_out },
        stall_cycles: stall,
        sram_ifmap,
        sram_filter,
        sram_ofmap,
        dram_ifmap: dram_read(&ifmap),
        dram_filter: dram_read(&filter),
        dram_ofmap: DramSpan {
            start: ofmap.first_cycle.unwrap_or(0),
            stop: if v3 {
                ofmap.max_cycle
            } else {
                ofmap.last_cycle
            },
            words: ofmap.writes,
        },
    })
}
