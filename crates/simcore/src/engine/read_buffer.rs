//! SCALE-Sim's double-buffered read SRAM (`memory/read_buffer.py`, USER interface), replayed.
//!
//! The fetch stream's valid elements (im2col duplicates included) are cut into consecutive
//! *sets* of `eps = ceil(S/100)` elements; the last, partial set always exists. The active
//! window is `A` sets starting at set `start`, circularly; an address hits when any set holding
//! it is in the window. Every miss slides the window by `P` sets (a refill of `n_pf` DRAM lines
//! that ends `n_pf + 1` cycles after the previous one) until the address hits.
//!
//! Each operand entry's set is computed once from the stream; a hit test then looks at the
//! entry's own set and, for the ifmap, at the sets of its im2col duplicates. A refill is O(1).

use super::geometry::Geometry;
use super::memory::try_filled;
use super::stream::{Operand, Stream};
use crate::compat::CompatMode;
use crate::error::{Location, Result, SimError};
use crate::interrupt::Interrupt;

pub(crate) struct ReadBuffer<'g> {
    geometry: &'g Geometry,
    stream: Stream<'g>,
    operand: Operand,
    sets: u64,
    window_sets: u64,
    step_sets: u64,
    /// True when the window always covers every set: nothing can miss.
    all_resident: bool,
    start: u64,
    /// Set of every operand entry, by entry id (empty when `all_resident`).
    entry_set: SetTable,
    /// Per key: first set, last set and number of valid entries.
    key_sets: Vec<(u64, u64, u64)>,
    // DRAM timeline.
    bw: u64,
    initial_lines: u64,
    refill_lines: u64,
    last_ready: i64,
    refills: u64,
    /// Checked every `REFILLS_PER_CHECK` refills: one pathological line can need millions.
    interrupt: Interrupt,
}

const REFILLS_PER_CHECK: u64 = 1 << 10;

impl<'g> ReadBuffer<'g> {
    /// Bytes `new` allocates for its tables: one set index per operand entry (2 or 4 bytes)
    /// and one range per key.
    pub fn table_bytes(g: &Geometry, operand: Operand, sram_elems: u64) -> u64 {
        let stream = Stream::new(g, operand);
        let eps = sram_elems.div_ceil(100);
        let sets = if surely_resident(&stream, sram_elems) {
            0
        } else {
            stream
                .entries()
                .saturating_mul(SetTable::width(stream.entries() / eps + 1))
        };
        sets + stream.keys().saturating_mul(24)
    }

    pub fn new(
        g: &'g Geometry,
        operand: Operand,
        sram_elems: u64,
        bw: u64,
        interrupt: &Interrupt,
    ) -> Result<Self> {
        let stream = Stream::new(g, operand);
        let total = sram_elems;
        let active = total.div_ceil(2);
        let prefetch = total - active;
        let eps = total.div_ceil(100);
        // One pass over the stream: each entry's set, and each key's set range and size.
        // Without any possible miss no entry's set is ever looked up.
        let skip_sets = surely_resident(&stream, sram_elems);
        let mut entry_set = if skip_sets {
            SetTable::Narrow(Vec::new())
        } else {
            SetTable::new(stream.entries(), stream.entries() / eps + 1, interrupt)?
        };
        let mut key_sets = try_filled(
            stream.keys(),
            (u64::MAX, 0u64, 0u64),
            "the SRAM model",
            interrupt,
        )?;
        let (mut set, mut in_set, mut valid) = (0u64, 0u64, 0u64);
        stream.for_each_valid(interrupt, |id, key| {
            if !skip_sets {
                entry_set.set(id, set);
            }
            let entry = &mut key_sets[key as usize];
            entry.0 = entry.0.min(set);
            entry.1 = entry.1.max(set);
            entry.2 += 1;
            valid += 1;
            in_set += 1;
            if in_set == eps {
                in_set = 0;
                set += 1;
            }
        })?;
        let sets = valid / eps + 1;
        let window_sets = active.div_ceil(eps).min(sets);
        let all_resident = window_sets >= sets;
        if all_resident {
            entry_set = SetTable::Narrow(Vec::new());
        }
        let fetch_lines = stream.total_elems().div_ceil(bw);
        Ok(Self {
            geometry: g,
            stream,
            operand,
            sets,
            window_sets,
            step_sets: prefetch.div_ceil(eps).min(sets - window_sets),
            all_resident,
            start: 0,
            entry_set,
            key_sets,
            bw,
            initial_lines: active.div_ceil(bw).min(fetch_lines),
            refill_lines: prefetch.div_ceil(bw),
            last_ready: -1,
            refills: 0,
            interrupt: interrupt.clone(),
        })
    }

    #[inline]
    fn in_window(&self, set: u64) -> bool {
        let offset = if set >= self.start {
            set - self.start
        } else {
            set + self.sets - self.start
        };
        offset < self.window_sets
    }

    #[inline]
    fn hit(&self, id: u32) -> bool {
        if self.in_window(self.entry_set.get(id)) {
            return true;
        }
        match self.operand {
            Operand::Filter => false,
            Operand::Ifmap => self
                .geometry
                .for_each_ifmap_duplicate(id, |dup| self.in_window(self.entry_set.get(dup))),
        }
    }

    /// True when a demand line surely hits: its entries are one contiguous run of the stream,
    /// listed in stream order, so their sets span the first entry's set to the last one's.
    #[inline]
    fn line_resident(&self, ids: &[u32]) -> bool {
        let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
            return true;
        };
        let (first, last) = (self.entry_set.get(first), self.entry_set.get(last));
        let offset = |set: u64| (set + self.sets - self.start) % self.sets;
        first <= last && offset(first) <= offset(last) && offset(last) < self.window_sets
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
        self.start = (self.start + self.step_sets) % self.sets;
        self.refills += 1;
        if self.refills % REFILLS_PER_CHECK == 0 {
            self.interrupt.check()?;
        }
        self.last_ready += self.refill_lines as i64 + 1;
        Ok(())
    }

    /// Serves one demand line of entry ids issued at cycle `cycle`; returns the cycle it is
    /// served (`cycle + 1` without a miss).
    pub fn serve_line(&mut self, ids: &[u32], cycle: i64, compat: CompatMode) -> Result<i64> {
        let mut offset = 1i64;
        if self.all_resident || self.line_resident(ids) {
            return Ok(cycle + offset);
        }
        for &id in ids {
            while !self.hit(id) {
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

/// True when the window covers every set even if every entry of the operand were valid, so
/// that nothing can miss (`new` then finds `all_resident`).
fn surely_resident(stream: &Stream, sram_elems: u64) -> bool {
    let eps = sram_elems.div_ceil(100);
    stream.entries() / eps < sram_elems.div_ceil(2).div_ceil(eps)
}

/// Set index per operand entry, in 16 bits when the sets allow it (memory is one index per
/// entry of the operand matrix).
enum SetTable {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl SetTable {
    /// Bytes per entry for `sets` sets.
    fn width(sets: u64) -> u64 {
        if sets <= u64::from(u16::MAX) + 1 {
            2
        } else {
            4
        }
    }

    fn new(entries: u64, sets: u64, interrupt: &Interrupt) -> Result<Self> {
        let what = "the SRAM model's set table";
        Ok(if Self::width(sets) == 2 {
            Self::Narrow(try_filled(entries, 0, what, interrupt)?)
        } else {
            Self::Wide(try_filled(entries, 0, what, interrupt)?)
        })
    }

    fn set(&mut self, id: u32, set: u64) {
        match self {
            Self::Narrow(v) => v[id as usize] = set as u16,
            Self::Wide(v) => v[id as usize] = set as u32,
        }
    }

    #[inline]
    fn get(&self, id: u32) -> u64 {
        match self {
            Self::Narrow(v) => u64::from(v[id as usize]),
            Self::Wide(v) => u64::from(v[id as usize]),
        }
    }
}
