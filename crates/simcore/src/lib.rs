//! simcore: a cycle-accurate systolic-array simulator in the SCALE-Sim family, extended to
//! per-layer weight and activation bitwidths, and the AMED bit-allocation sampler.

pub mod amed2022;
pub mod compat;
pub mod config;
pub mod cost;
pub mod cost_model;
pub mod engine;
pub mod error;
pub mod file;
pub mod grouped;
pub mod interrupt;
pub mod precision;
pub mod report;
pub mod sampler;
pub mod topology;

#[cfg(feature = "python")]
mod python;

pub use compat::CompatMode;
pub use config::{Dataflow, EnergyTable, HwConfig, Interface};
pub use engine::{simulate, simulate_conv, simulate_layer, EngineParams};
pub use error::{Location, Result, SimError};
pub use interrupt::Interrupt;
pub use report::{write_scalesim_csvs, Access, LayerReport, NetworkReport};
pub use sampler::{Outcome, Sampler, SamplerConfig};
pub use topology::{ConvShape, Layer, LayerKind, Topology};
