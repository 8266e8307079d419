//! SCALE-Sim's double-buffered read SRAM (`memory/read_buffer.py`, USER interface), replayed.
//!
//! The fetch stream's valid elements (im2col duplicates included) are cut into consecutive
//! *sets* of `eps = ceil(S/100)` elements; the last, partial set always exists. The active
//! window is `A` sets starting at set `start`, circularly; an address hits when any set holding
//! it is in the window. Every miss slides the window by `P` sets (a refill of `n_pf` DRAM lines
//! that ends `n_pf + 1` cycles after the previous one) until the address hits.
//!
//! The window is tracked as a per-address occurrence count, updated by two cursors on the
//! stream (the window's trailing and leading edge), so a hit test is one array load and a refill
//! costs one pass over the sets that leave and enter.

use super::stream::{Cursor, Operand, Stream};
use crate::engine::CompatMode;
use crate::error::{Location, Result, SimError};

pub(crate) struct ReadBuffer<'g> {
    stream: Stream<'g>,
    operand: Operand,
    eps: u64,
    sets: u64,
    window_sets: u64,
    step_sets: u64,
    last_set_size: u64,
    /// True when the window always covers every set: nothing can miss.
    all_resident: bool,
    start: u64,
    counts: Vec<u32>,
    trail: Cursor,
    trail_set: u64,
    lead: Cursor,
    lead_set: u64,
    /// Per key: first set, last set and number of valid entries.
    key_sets: Vec<(u64, u64, u64)>,
    // DRAM timeline.
    bw: u64,
    initial_lines: u64,
    refill_lines: u64,
    last_ready: i64,
    refills: u64,
}

impl<'g> ReadBuffer<'g> {
    pub fn new(stream: Stream<'g>, operand: Operand, sram_elems: u64, bw: u64) -> Result<Self> {
        let total = sram_elems;
        let active = total.div_ceil(2);
        let prefetch = total - active;
        let eps = total.div_ceil(100);
        // One pass over the stream: valid count and each key's set range.
        let mut key_sets = vec![(u64::MAX, 0u64, 0u64); stream.keys() as usize];
        let mut cursor = stream.cursor();
        let mut rank = 0u64;
        while let Some((_, key)) = stream.next_valid(&mut cursor) {
            let set = rank / eps;
            let entry = &mut key_sets[key as usize];
            entry.0 = entry.0.min(set);
            entry.1 = entry.1.max(set);
            entry.2 += 1;
            rank += 1;
        }
        let valid = rank;
        let sets = valid / eps + 1;
        let window_sets = active.div_ceil(eps).min(sets);
        let step_sets = prefetch.div_ceil(eps).min(sets - window_sets);
        let fetch_lines = stream.total_elems().div_ceil(bw);
        let initial_lines = active.div_ceil(bw).min(fetch_lines);
        let all_resident = window_sets >= sets;
        let mut buf = Self {
            trail: stream.cursor(),
            lead: stream.cursor(),
            stream,
            operand,
            eps,
            sets,
            window_sets,
            step_sets,
            last_set_size: valid - (sets - 1) * eps,
            all_resident,
            start: 0,
            counts: Vec::new(),
            trail_set: 0,
            lead_set: 0,
            key_sets,
            bw,
            initial_lines,
            refill_lines: prefetch.div_ceil(bw),
            last_ready: -1,
            refills: 0,
        };
        if !all_resident {
            let space = usize::try_from(buf.stream.addr_space()).map_err(|_| buf.too_big())?;
            buf.counts = vec![0; space];
            for _ in 0..window_sets {
                buf.enter_next_set();
            }
        }
        Ok(buf)
    }

    fn too_big(&self) -> SimError {
        SimError::config(
            Location::default(),
            format!("{:?} operand too large", self.operand),
        )
    }

    fn set_size(&self, set: u64) -> u64 {
        if set + 1 == self.sets {
            self.last_set_size
        } else {
            self.eps
        }
    }

    fn enter_next_set(&mut self) {
        let size = self.set_size(self.lead_set);
        for _ in 0..size {
            if let Some((a, _)) = self.stream.next_valid(&mut self.lead) {
                self.counts[a as usize] += 1;
            }
        }
        self.lead_set += 1;
        if self.lead_set == self.sets {
            self.lead_set = 0;
            self.lead = self.stream.cursor();
        }
    }

    fn leave_next_set(&mut self) {
        let size = self.set_size(self.trail_set);
        for _ in 0..size {
            if let Some((a, _)) = self.stream.next_valid(&mut self.trail) {
                self.counts[a as usize] -= 1;
            }
        }
        self.trail_set += 1;
        if self.trail_set == self.sets {
            self.trail_set = 0;
            self.trail = self.stream.cursor();
        }
    }

    /// True when every entry the key's fold demands is in the window now.
    pub fn key_resident(&self, key: u64) -> bool {
        if self.all_resident {
            return true;
        }
        let (first, last, count) = self.key_sets[key as usize];
        if count == 0 {
            return true;
        }
        let a = (first + self.sets - self.start) % self.sets;
        let b = (last + self.sets - self.start) % self.sets;
        a <= b && b < self.window_sets
    }

    /// Number of valid entries the key's fold demands.
    pub fn key_entries(&self, key: u64) -> u64 {
        self.key_sets[key as usize].2
    }

    pub fn fold_key(&self, fc: u64, fr: u64) -> u64 {
        self.stream.fold_key(fc, fr)
    }

    fn refill(&mut self) -> Result<()> {
        if self.step_sets == 0 {
            return Err(SimError::config(
                Location::field(match self.operand {
                    Operand::Ifmap => "ifmap_sram",
                    Operand::Filter => "filter_sram",
                }),
                "SRAM too small: a miss needs a refill but the buffer has no prefetch half \
                 (SCALE-Sim would loop forever)",
            ));
        }
        for _ in 0..self.step_sets {
            self.leave_next_set();
            self.enter_next_set();
        }
        self.start = (self.start + self.step_sets) % self.sets;
        self.refills += 1;
        self.last_ready += self.refill_lines as i64 + 1;
        Ok(())
    }

    /// Serves one demand line issued at cycle `cycle`; returns the cycle it is served
    /// (`cycle + 1` without a miss).
    pub fn serve_line(&mut self, addrs: &[u32], cycle: i64, compat: CompatMode) -> Result<i64> {
        let mut offset = 1i64;
        if self.all_resident {
            return Ok(cycle + offset);
        }
        for &a in addrs {
            while self.counts[a as usize] == 0 {
                self.refill()?;
                let potential = self.last_ready - (cycle + offset);
                match compat {
                    CompatMode::ScalesimV3 => {
                        offset += potential;
                        if potential > 0 {
                            offset += potential;
                        }
                    }
                    CompatMode::ScalesimV2 => offset += potential,
                    CompatMode::Fixed => offset += potential.max(0),
                }
            }
        }
        Ok(cycle + offset)
    }

    /// DRAM words read: the initial fill plus every refill, whole lines.
    pub fn dram_reads(&self) -> u64 {
        (self.initial_lines + self.refills * self.refill_lines) * self.bw
    }

    /// First DRAM cycle (the free initial fill ends at cycle −1).
    pub fn dram_start(&self) -> i64 {
        -(self.initial_lines as i64)
    }

    /// Cycle the last refill completes.
    pub fn dram_stop(&self) -> i64 {
        self.last_ready
    }
}
