//! Memoised cost of any bit allocation: the simulator leaves the search's inner loop.
//!
//! A `CostModel` is built once per (topology, hardware, bit choices, compat mode). A layer's
//! cost depends on its weight bits, its input-activation bits and its output bits, which are
//! the next layer's activation bits (the config's `word_bits` after the last layer). The
//! model simulates each distinct (layer shape, w, a, out) once, in parallel, and stores per
//! layer a table indexed by (w choice, a choice, next layer's a choice). A query is then one
//! lookup and one add per layer.
//!
//! The stored tables are the monotone envelope of the simulated ones over the bit choices:
//! the entry at (w, a, o) is the least value over every choice (w', a', o') with w' ≥ w,
//! a' ≥ a, o' ≥ o. Hardware holding b-bit values can always store and move them as b'-bit
//! values for b' > b (and fuse fewer MACs), so each of these costs is attainable; the
//! envelope makes "fewer bits is never worse" hold exactly where SCALE-Sim's windowed SRAM
//! model is not monotone. Each quantity (latency, cycles, stalls, DRAM bytes, energy) gets its
//! own envelope; size is exactly monotone already. `docs/precision.md` has the details.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::compat::CompatMode;
use crate::config::HwConfig;
use crate::cost::{simulate_layer_cost_with, LayerCost};
use crate::engine::memory::MEMORY_LIMIT_BYTES;
use crate::error::{Location, Result, SimError};
use crate::interrupt::Interrupt;
use crate::precision::{check_bits, LayerBits};
use crate::topology::{Layer, LayerKind, Topology};

/// Totals of one allocation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cost {
    pub latency_us: f64,
    pub size_bytes: f64,
    pub energy_pj: f64,
    pub total_cycles: f64,
    pub stall_cycles: f64,
    pub dram_bytes: f64,
}

/// The quantities tabulated per (layer, w, a, out).
const QUANTITIES: usize = 6;

fn quantities(c: &LayerCost) -> [f64; QUANTITIES] {
    [
        c.latency_us,
        c.size_bits as f64 / 8.0,
        c.energy.total_pj(),
        c.total_cycles as f64,
        c.stall_cycles as f64,
        c.dram_bytes(),
    ]
}

fn to_cost(q: &[f64; QUANTITIES]) -> Cost {
    Cost {
        latency_us: q[0],
        size_bytes: q[1],
        energy_pj: q[2],
        total_cycles: q[3],
        stall_cycles: q[4],
        dram_bytes: q[5],
    }
}

/// Per-layer cost tables over the bit choices, and the queries on them.
#[derive(Debug, Clone)]
pub struct CostModel {
    names: Vec<String>,
    choices: Vec<u32>,
    /// `table[((l·n + w)·n + a)·n + o]`: quantities of layer l at choices (w, a, o). The last
    /// layer's output is always `word_bits`; its entries are repeated for every o.
    table: Vec<[f64; QUANTITIES]>,
    /// Every layer at `word_bits`.
    native: Cost,
    /// Distinct simulations run to build the table.
    simulations: usize,
}

impl CostModel {
    /// Builds the tables for `topology` on `hw` with the engine in `compat` mode.
    pub fn new(
        topology: &Topology,
        hw: &HwConfig,
        choices: &[u32],
        compat: CompatMode,
    ) -> Result<Self> {
        Self::new_with(topology, hw, choices, compat, &Interrupt::never())
    }

    /// `new` that stops with `SimError::Interrupted` once `interrupt` is raised.
    pub fn new_with(
        topology: &Topology,
        hw: &HwConfig,
        choices: &[u32],
        compat: CompatMode,
        interrupt: &Interrupt,
    ) -> Result<Self> {
        Self::build(topology, choices, hw.word_bits, |layer, bits| {
            interrupt.check()?;
            simulate_layer_cost_with(layer, hw, bits, compat, interrupt)
        })
    }

    /// Builds the tables with `simulate`, which gives one layer's cost at given bits
    /// (`new` uses `cost::simulate_layer_cost`). `word_bits` is the output width after the
    /// last layer and the native width of the reference cost.
    pub fn build<F>(
        topology: &Topology,
        choices: &[u32],
        word_bits: u32,
        simulate: F,
    ) -> Result<Self>
    where
        F: Fn(&Layer, LayerBits) -> Result<LayerCost> + Sync,
    {
        if choices.is_empty() {
            return Err(SimError::allocation(
                Location::field("bits"),
                "no bit choices given",
            ));
        }
        for (i, &b) in choices.iter().enumerate() {
            check_bits(b, "bits", &i.to_string())?;
            if choices[..i].contains(&b) {
                return Err(SimError::allocation(
                    Location::field("bits"),
                    format!("{b} bits listed twice"),
                ));
            }
        }
        let layers = &topology.layers;
        if layers.is_empty() {
            return Err(SimError::topology(
                Location::field("layers"),
                "the topology has no layers",
            ));
        }
        let n = choices.len();
        let last = layers.len() - 1;
        // One table row per (layer, w, a, next a): bounded before anything is allocated.
        let rows = (layers.len() as u64).saturating_mul((n as u64).pow(3));
        let bytes = rows.saturating_mul(
            (std::mem::size_of::<[f64; QUANTITIES]>() + std::mem::size_of::<usize>()) as u64,
        );
        if bytes > MEMORY_LIMIT_BYTES {
            return Err(SimError::resource(
                Location::field("bits"),
                format!(
                    "the cost tables of {} layers x {n}^3 bit combinations need {} bytes, over \
                     the limit of {MEMORY_LIMIT_BYTES} bytes; use fewer bit choices",
                    layers.len(),
                    bytes
                ),
            ));
        }
        let outs = |l: usize| {
            if l == last {
                vec![word_bits]
            } else {
                choices.to_vec()
            }
        };

        // Distinct (layer kind, bits) simulations; repeated shapes share them.
        let mut distinct = Distinct::default();
        let native_bits = LayerBits {
            w_bits: word_bits,
            a_bits: word_bits,
            out_bits: word_bits,
        };
        let native_slots: Vec<usize> = layers
            .iter()
            .map(|l| distinct.slot(l, native_bits))
            .collect();
        let mut slots = Vec::with_capacity(layers.len() * n * n * n);
        for (l, layer) in layers.iter().enumerate() {
            let outs = outs(l);
            for &w in choices {
                for &a in choices {
                    for o in 0..n {
                        let out_bits = outs[o.min(outs.len() - 1)];
                        slots.push(distinct.slot(
                            layer,
                            LayerBits {
                                w_bits: w,
                                a_bits: a,
                                out_bits,
                            },
                        ));
                    }
                }
            }
        }
        let keys = distinct.keys;
        let costs: Vec<[f64; QUANTITIES]> = keys
            .par_iter()
            .map(|(layer, bits)| simulate(layer, *bits).map(|c| quantities(&c)))
            .collect::<Result<_>>()?;
        let mut table: Vec<[f64; QUANTITIES]> = slots.iter().map(|&k| costs[k]).collect();
        let order = ascending_order(choices);
        for l in 0..layers.len() {
            envelope(&mut table[l * n * n * n..(l + 1) * n * n * n], &order);
        }
        let mut native = [0.0; QUANTITIES];
        for &k in &native_slots {
            for (q, v) in native.iter_mut().zip(costs[k]) {
                *q += v;
            }
        }
        Ok(Self {
            names: layers.iter().map(|l| l.name.clone()).collect(),
            choices: choices.to_vec(),
            table,
            native: to_cost(&native),
            simulations: keys.len(),
        })
    }

    /// The bit choices; allocations index into them.
    pub fn choices(&self) -> &[u32] {
        &self.choices
    }

    /// Layer names, in topology order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Distinct layer simulations the build ran.
    pub fn simulations(&self) -> usize {
        self.simulations
    }

    /// The whole network at the native word size (the uniform-8-bit reference of the shipped
    /// configs).
    pub fn native(&self) -> Cost {
        self.native
    }

    fn entry(&self, l: usize, w: usize, a: usize, o: usize) -> &[f64; QUANTITIES] {
        let n = self.choices.len();
        &self.table[((l * n + w) * n + a) * n + o]
    }

    /// The tabulated cost of layer `l` at choices (w, a) with the next layer at choice
    /// `next_a` (ignored for the last layer).
    pub fn layer_cost(&self, l: usize, w: usize, a: usize, next_a: usize) -> Result<Cost> {
        self.check_layer_choice(l, w, a)?;
        let next = if l + 1 < self.names.len() { next_a } else { 0 };
        self.check_index(next, l, "next a")?;
        Ok(to_cost(self.entry(l, w, a, next)))
    }

    fn check_index(&self, index: usize, layer: usize, field: &str) -> Result<()> {
        if index < self.choices.len() {
            return Ok(());
        }
        Err(SimError::allocation(
            Location::field(format!("{}.{field}", self.names[layer])),
            format!(
                "choice index {index} is out of range for the {} bit choices {:?}",
                self.choices.len(),
                self.choices
            ),
        ))
    }

    fn check_layer_choice(&self, l: usize, w: usize, a: usize) -> Result<()> {
        if l >= self.names.len() {
            return Err(SimError::allocation(
                Location::field("layer"),
                format!(
                    "layer index {l}, the topology has {} layers",
                    self.names.len()
                ),
            ));
        }
        self.check_index(w, l, "w")?;
        self.check_index(a, l, "a")
    }

    fn check_len(&self, len: usize) -> Result<()> {
        if len == self.names.len() {
            return Ok(());
        }
        Err(SimError::allocation(
            Location::field("allocation"),
            format!(
                "{len} layers in the allocation, the topology has {}",
                self.names.len()
            ),
        ))
    }

    /// Cost of an allocation given as (w, a) choice indices per layer.
    pub fn cost(&self, allocation: &[(usize, usize)]) -> Result<Cost> {
        self.check_len(allocation.len())?;
        for (l, &(w, a)) in allocation.iter().enumerate() {
            self.check_layer_choice(l, w, a)?;
        }
        Ok(self.sum_unchecked(|l| allocation[l]))
    }

    /// Cost of an allocation given in bits, (w_bits, a_bits) per layer; every width must be
    /// one of the choices.
    pub fn cost_bits(&self, allocation: &[(u32, u32)]) -> Result<Cost> {
        self.check_len(allocation.len())?;
        let indices = allocation
            .iter()
            .enumerate()
            .map(|(l, &(w, a))| {
                Ok((
                    self.choice_index(l, "w_bits", w)?,
                    self.choice_index(l, "a_bits", a)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        self.cost(&indices)
    }

    /// Cost of an allocation keyed by layer name; every layer must be present.
    pub fn cost_named(&self, allocation: &HashMap<String, (u32, u32)>) -> Result<Cost> {
        for name in allocation.keys() {
            if !self.names.contains(name) {
                return Err(SimError::allocation(
                    Location::field(name.clone()),
                    "no layer of this name in the topology".to_string(),
                ));
            }
        }
        let bits = self
            .names
            .iter()
            .map(|name| {
                allocation.get(name).copied().ok_or_else(|| {
                    SimError::allocation(
                        Location::field(name.clone()),
                        "layer missing from the allocation",
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.cost_bits(&bits)
    }

    fn choice_index(&self, l: usize, field: &str, bits: u32) -> Result<usize> {
        check_bits(bits, &self.names[l], field)?;
        self.choices.iter().position(|&c| c == bits).ok_or_else(|| {
            SimError::allocation(
                Location::field(format!("{}.{field}", self.names[l])),
                format!(
                    "{bits} bits is not one of the model's bit choices {:?}",
                    self.choices
                ),
            )
        })
    }

    fn sum_unchecked(&self, choice: impl Fn(usize) -> (usize, usize)) -> Cost {
        let layers = self.names.len();
        let mut total = [0.0; QUANTITIES];
        for l in 0..layers {
            let (w, a) = choice(l);
            let o = if l + 1 < layers { choice(l + 1).1 } else { 0 };
            for (t, v) in total.iter_mut().zip(self.entry(l, w, a, o)) {
                *t += v;
            }
        }
        to_cost(&total)
    }

    /// Costs of many allocations. `indices` holds N allocations back to back, each either L
    /// (w, a) pairs flattened (`paired`, N·L·2 values) or L indices used for both w and a
    /// (N·L values).
    /// Indices may be any unsigned integer type (`u8` keeps a large batch small).
    pub fn cost_batch<I>(&self, indices: &[I], paired: bool) -> Result<Vec<Cost>>
    where
        I: Copy + TryInto<usize> + Sync,
    {
        let layers = self.names.len();
        let per = if paired { 2 * layers } else { layers };
        if indices.len() % per != 0 {
            return Err(SimError::allocation(
                Location::field("allocations"),
                format!(
                    "{} values is not a whole number of allocations of {layers} layers{}",
                    indices.len(),
                    if paired { " × (w, a)" } else { "" }
                ),
            ));
        }
        let at = |i: I| i.try_into().unwrap_or(usize::MAX);
        if let Some(pos) = indices.iter().position(|&i| at(i) >= self.choices.len()) {
            let l = (pos % per) / if paired { 2 } else { 1 };
            self.check_index(at(indices[pos]), l, &format!("allocation {}", pos / per))?;
        }
        let one = |alloc: &[I]| {
            if paired {
                self.sum_unchecked(|l| (at(alloc[2 * l]), at(alloc[2 * l + 1])))
            } else {
                self.sum_unchecked(|l| (at(alloc[l]), at(alloc[l])))
            }
        };
        if indices.len() / per < 4096 {
            return Ok(indices.chunks(per).map(one).collect());
        }
        Ok(indices.par_chunks(per).map(one).collect())
    }
}

/// The distinct simulations a table needs, in first-use order.
#[derive(Default)]
struct Distinct<'t> {
    keys: Vec<(&'t Layer, LayerBits)>,
    index: HashMap<(LayerKind, LayerBits), usize>,
}

impl<'t> Distinct<'t> {
    fn slot(&mut self, layer: &'t Layer, bits: LayerBits) -> usize {
        let keys = &mut self.keys;
        *self.index.entry((layer.kind, bits)).or_insert_with(|| {
            keys.push((layer, bits));
            keys.len() - 1
        })
    }
}

/// Choice indices sorted by bit value.
fn ascending_order(choices: &[u32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..choices.len()).collect();
    order.sort_by_key(|&i| choices[i]);
    order
}

/// In place, each entry of one layer's n×n×n table becomes the least value over all entries
/// with every width at least as large: a suffix minimum along each of the three axes, in
/// ascending bit order.
fn envelope(table: &mut [[f64; QUANTITIES]], order: &[usize]) {
    let n = order.len();
    let at = |w: usize, a: usize, o: usize| (w * n + a) * n + o;
    for axis in 0..3 {
        for i in 0..n {
            for j in 0..n {
                for k in (0..n - 1).rev() {
                    let pick = |k: usize| match axis {
                        0 => at(order[k], order[i], order[j]),
                        1 => at(order[i], order[k], order[j]),
                        _ => at(order[i], order[j], order[k]),
                    };
                    let (lo, hi) = (pick(k), pick(k + 1));
                    let upper = table[hi];
                    for (q, u) in table[lo].iter_mut().zip(upper) {
                        *q = q.min(u);
                    }
                }
            }
        }
    }
}
