//! SCALE-Sim's double-buffered read SRAM (`memory/read_buffer.py`, USER interface), replayed.
//!
//! The fetch stream's valid elements (im2col duplicates included) are cut into consecutive
//! *sets* of `eps = ceil(S/100)` elements; the last, partial set always exists. The active
//! window is `A` sets starting at set `start`, circularly; an address hits when any set holding
//! it is in the window. Every miss slides the window by `P` sets (a refill of `n_pf` DRAM lines
//! that ends `n_pf + 1` cycles after the previous one) until the address hits.
//!
//! An entry's set is its rank in the stream (computed from its position, `Stream::rank`)
//! divided by `eps`, so nothing is stored per entry: memory follows the number of folds, not
//! the operand's size. A hit test looks at the entry's own set and, for the ifmap, at the sets
//! of its im2col duplicates. A refill is O(1).

use super::geometry::Geometry;
use super::stream::{Operand, Stream};
use crate::compat::CompatMode;
use crate::error::{Location, Result, SimError};
use crate::interrupt::Interrupt;

pub(crate) struct ReadBuffer<'g> {
    geometry: &'g Geometry,
    stream: Stream<'g>,
    operand: Operand,
    eps: u64,
    sets: u64,
    window_sets: u64,
    step_sets: u64,
    /// True when the window always covers every set: nothing can miss.
    all_resident: bool,
    start: u64,
    /// Sets holding the element of the entry being served: its own and its im2col duplicates'.
    entry_sets: Vec<u64>,
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
    /// Bytes `new` allocates for its tables: the stream's block table.
    pub fn table_bytes(g: &Geometry, operand: Operand) -> u64 {
        Stream::new(g, operand).index_bytes()
    }

    pub fn new(
        g: &'g Geometry,
        operand: Operand,
        sram_elems: u64,
        bw: u64,
        interrupt: &Interrupt,
    ) -> Result<Self> {
        let mut stream = Stream::new(g, operand);
        stream.index(interrupt)?;
        let total = sram_elems;
        let active = total.div_ceil(2);
        let prefetch = total - active;
        let eps = total.div_ceil(100);
        let valid = stream.valid();
        let sets = valid / eps + 1;
        let window_sets = active.div_ceil(eps).min(sets);
        let fetch_lines = stream.total_elems().div_ceil(bw);
        Ok(Self {
            geometry: g,
            stream,
            operand,
            eps,
            sets,
            window_sets,
            step_sets: prefetch.div_ceil(eps).min(sets - window_sets),
            all_resident: window_sets >= sets,
            start: 0,
            entry_sets: Vec::new(),
            bw,
            initial_lines: active.div_ceil(bw).min(fetch_lines),
            refill_lines: prefetch.div_ceil(bw),
            last_ready: -1,
            refills: 0,
            interrupt: interrupt.clone(),
        })
    }

    #[inline]
    fn set_of(&self, id: u32) -> u64 {
        self.stream.rank(id) / self.eps
    }

    /// Sets from the window's start to `set`, circularly.
    #[inline]
    fn window_offset(&self, set: u64) -> u64 {
        if set >= self.start {
            set - self.start
        } else {
            set + self.sets - self.start
        }
    }

    #[inline]
    fn in_window(&self, set: u64) -> bool {
        self.window_offset(set) < self.window_sets
    }

    /// True when entry `id`, whose own set is `set`, hits: that set or, for the ifmap, the set
    /// of one of its im2col duplicates is in the window.
    #[inline]
    fn hit(&self, id: u32, set: u64) -> bool {
        if self.in_window(set) {
            return true;
        }
        match self.operand {
            Operand::Filter => false,
            Operand::Ifmap => self
                .geometry
                .for_each_ifmap_duplicate(id, |dup| self.in_window(self.set_of(dup))),
        }
    }

    /// Fills `entry_sets` with the sets that hold entry `id`'s element (own set `set`).
    fn collect_sets(&mut self, id: u32, set: u64) {
        let mut sets = std::mem::take(&mut self.entry_sets);
        sets.clear();
        match self.operand {
            Operand::Filter => sets.push(set),
            Operand::Ifmap => {
                self.geometry.for_each_ifmap_duplicate(id, |dup| {
                    sets.push(self.set_of(dup));
                    false
                });
            }
        }
        self.entry_sets = sets;
    }

    /// True when a demand line whose entries have ranks `first..=last` surely hits: the
    /// window holds every set from the first entry's to the last one's.
    #[inline]
    fn line_resident(&self, first: u64, last: u64) -> bool {
        let (first, last) = (first / self.eps, last / self.eps);
        first <= last
            && self.window_offset(first) <= self.window_offset(last)
            && self.window_offset(last) < self.window_sets
    }

    /// True when every entry the key's fold demands is in the window now.
    pub fn key_resident(&self, key: u64) -> bool {
        if self.all_resident || self.key_entries(key) == 0 {
            return true;
        }
        let (first, last) = self.stream.key_rank_range(key);
        let (a, b) = (
            self.window_offset(first / self.eps),
            self.window_offset(last / self.eps),
        );
        a <= b && b < self.window_sets
    }

    /// Number of valid entries the key's fold demands.
    pub fn key_entries(&self, key: u64) -> u64 {
        self.stream.key_entries(key)
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
        let Some(&first) = ids.first() else {
            return Ok(cycle + offset);
        };
        if self.all_resident {
            return Ok(cycle + offset);
        }
        // A demand line is one contiguous run of the fetch stream, listed in stream order, so
        // its entries' ranks are consecutive.
        let rank = self.stream.rank(first);
        let last = rank + ids.len() as u64 - 1;
        debug_assert_eq!(self.stream.rank(ids[ids.len() - 1]), last);
        if self.line_resident(rank, last) {
            return Ok(cycle + offset);
        }
        let (mut set, mut in_set) = (rank / self.eps, rank % self.eps);
        for (i, &id) in ids.iter().enumerate() {
            debug_assert_eq!(self.stream.rank(id), rank + i as u64);
            if i > 0 {
                in_set += 1;
                if in_set == self.eps {
                    (set, in_set) = (set + 1, 0);
                }
            }
            if self.hit(id, set) {
                continue;
            }
            // The entry's sets stay put while refills move the window past them.
            self.collect_sets(id, set);
            loop {
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
                if self.entry_sets.iter().any(|&set| self.in_window(set)) {
                    break;
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
