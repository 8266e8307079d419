//! SCALE-Sim's ofmap write SRAM (`memory/write_buffer.py`), replayed on element counts.
//!
//! Outputs are packed in arrival order into DRAM lines of `bw` words. When the occupancy passes
//! the active half, the partial line is flushed (padded with −1) and the next
//! `ceil(drain/bw)` lines are written back, one per cycle from the current cycle; a store that
//! finds the buffer full while a drain is still running waits for that drain to end. After the
//! last demand line everything left is drained back to back. Addresses play no part, so only
//! line fills are tracked.

use std::collections::VecDeque;

use crate::error::{Location, Result, SimError};

pub(crate) struct WriteBuffer {
    bw: u64,
    /// Stores beyond this occupancy trigger a drain (`free < threshold`).
    threshold: i64,
    drain_lines: u64,
    free: i64,
    drain_end: i64,
    /// Lines closed so far, the fill of the open line, and the closed partial lines not yet
    /// drained (line index, fill).
    closed: u64,
    open_fill: u64,
    partial: VecDeque<(u64, u64)>,
    drained: u64,
    // DRAM side.
    pub writes: u64,
    pub first_cycle: Option<i64>,
    pub max_cycle: i64,
    pub last_cycle: i64,
}

impl WriteBuffer {
    pub fn new(sram_elems: u64, bw: u64) -> Self {
        let total = sram_elems as i64;
        let active = sram_elems.div_ceil(2) as i64;
        let drain = total - active;
        Self {
            bw,
            threshold: total - drain,
            drain_lines: (drain as u64).div_ceil(bw),
            free: total,
            drain_end: 0,
            closed: 0,
            open_fill: 0,
            partial: VecDeque::new(),
            drained: 0,
            writes: 0,
            first_cycle: None,
            max_cycle: i64::MIN,
            last_cycle: i64::MIN,
        }
    }

    /// Stores `n` elements; callers check [`Self::absorbs`] first unless they handle the events.
    pub fn store_quietly(&mut self, n: u64) {
        self.free -= n as i64;
        let fill = self.open_fill + n;
        self.closed += fill / self.bw;
        self.open_fill = fill % self.bw;
    }

    /// True when storing `n` more elements can neither stall nor start a drain.
    pub fn absorbs(&self, n: u64) -> bool {
        self.free - n as i64 >= self.threshold.max(1)
    }

    /// Serves one demand line of `n` elements issued at `cycle`; returns its serviced cycle.
    pub fn serve_line(&mut self, n: u64, cycle: i64) -> Result<i64> {
        if self.absorbs(n) {
            self.store_quietly(n);
            return Ok(cycle);
        }
        let mut cur = cycle;
        for _ in 0..n {
            self.store_quietly(1);
            if cur < self.drain_end {
                if self.free <= 0 {
                    cur = self.drain_end;
                }
            } else if self.free < self.threshold {
                self.flush();
                self.drain_end = self.drain(cur)?;
            }
        }
        Ok(cur)
    }

    fn flush(&mut self) {
        if self.open_fill != 0 {
            self.partial.push_back((self.closed, self.open_fill));
            self.closed += 1;
            self.open_fill = 0;
        }
    }

    /// Writes back the next lines from `start`; returns the cycle of the last one.
    fn drain(&mut self, start: i64) -> Result<i64> {
        let end = (self.drained + self.drain_lines).min(self.closed);
        let lines = end - self.drained;
        if lines == 0 {
            return Err(SimError::config(
                Location::field("ofmap_sram"),
                "ofmap SRAM too small: a drain would move no line (SCALE-Sim crashes here)",
            ));
        }
        let mut last_fill = self.bw;
        while let Some(&(idx, fill)) = self.partial.front() {
            if idx >= end {
                break;
            }
            if idx == end - 1 {
                last_fill = fill;
            }
            self.partial.pop_front();
        }
        let words = lines * self.bw - (self.bw - last_fill);
        self.writes += words;
        self.free += words as i64;
        self.drained = end;
        let stop = start + lines as i64 - 1;
        self.first_cycle.get_or_insert(start);
        self.max_cycle = self.max_cycle.max(stop);
        self.last_cycle = stop;
        Ok(stop)
    }

    /// Drains everything left, back to back from `cycle` (the last demand line's cycle).
    pub fn finish(&mut self, mut cycle: i64) -> Result<()> {
        self.flush();
        while self.drained < self.closed {
            self.drain_end = self.drain(cycle)?;
            cycle = self.drain_end + 1;
        }
        Ok(())
    }
}
