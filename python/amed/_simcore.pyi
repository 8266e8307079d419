"""Type stubs for the simulator classes of the Rust extension ``amed._simcore``."""

import os
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

_Path = Union[str, "os.PathLike[str]"]

__version__: str

class HwConfig:
    def __init__(
        self,
        *,
        array_rows: int,
        array_cols: int,
        dataflow: str,
        ifmap_sram_kb: int,
        filter_sram_kb: int,
        ofmap_sram_kb: int,
        bandwidth: Optional[int] = None,
        ifmap_bw: Optional[int] = None,
        filter_bw: Optional[int] = None,
        ofmap_bw: Optional[int] = None,
        name: Optional[str] = None,
        interface: Optional[str] = None,
        clock_ghz: Optional[float] = None,
        word_bits: Optional[int] = None,
        pe_bits: Optional[int] = None,
        bit_fusion: Optional[bool] = None,
        energy: Optional[Dict[str, float]] = None,
        ifmap_offset: Optional[int] = None,
        filter_offset: Optional[int] = None,
        ofmap_offset: Optional[int] = None,
    ) -> None: ...
    @staticmethod
    def from_file(path: _Path) -> HwConfig: ...
    @staticmethod
    def from_name(name: str) -> HwConfig: ...
    @staticmethod
    def from_toml(text: str) -> HwConfig: ...
    @staticmethod
    def from_cfg(text: str) -> HwConfig: ...
    def to_toml(self) -> str: ...
    def to_dict(self) -> Dict[str, Any]: ...
    @property
    def name(self) -> str: ...
    @property
    def array_rows(self) -> int: ...
    @property
    def array_cols(self) -> int: ...
    @property
    def dataflow(self) -> str: ...
    @property
    def ifmap_sram_kb(self) -> int: ...
    @property
    def filter_sram_kb(self) -> int: ...
    @property
    def ofmap_sram_kb(self) -> int: ...
    @property
    def ifmap_bw(self) -> int: ...
    @property
    def filter_bw(self) -> int: ...
    @property
    def ofmap_bw(self) -> int: ...
    @property
    def interface(self) -> str: ...
    @property
    def clock_ghz(self) -> float: ...
    @property
    def word_bits(self) -> int: ...
    @property
    def pe_bits(self) -> int: ...
    @property
    def bit_fusion(self) -> bool: ...
    @property
    def energy(self) -> Dict[str, float]: ...
    @property
    def ifmap_offset(self) -> int: ...
    @property
    def filter_offset(self) -> int: ...
    @property
    def ofmap_offset(self) -> int: ...

class Layer:
    @staticmethod
    def conv(
        name: str,
        ifmap_h: int,
        ifmap_w: int,
        filter_h: int,
        filter_w: int,
        channels: int,
        num_filters: int,
        stride_h: int = 1,
        stride_w: Optional[int] = None,
    ) -> Layer: ...
    @staticmethod
    def depthwise(
        name: str,
        ifmap_h: int,
        ifmap_w: int,
        filter_h: int,
        filter_w: int,
        channels: int,
        num_filters: int,
        stride_h: int = 1,
        stride_w: Optional[int] = None,
    ) -> Layer: ...
    @staticmethod
    def grouped(
        name: str,
        ifmap_h: int,
        ifmap_w: int,
        filter_h: int,
        filter_w: int,
        channels: int,
        num_filters: int,
        stride_h: int = 1,
        stride_w: Optional[int] = None,
        *,
        groups: int,
    ) -> Layer: ...
    @staticmethod
    def gemm(name: str, m: int, n: int, k: int) -> Layer: ...
    def to_dict(self) -> Dict[str, Any]: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def macs(self) -> int: ...
    @property
    def weights(self) -> int: ...
    @property
    def ofmap_h(self) -> int: ...
    @property
    def ofmap_w(self) -> int: ...
    @property
    def ifmap_h(self) -> int: ...
    @property
    def ifmap_w(self) -> int: ...
    @property
    def filter_h(self) -> int: ...
    @property
    def filter_w(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def num_filters(self) -> int: ...
    @property
    def stride_h(self) -> int: ...
    @property
    def stride_w(self) -> int: ...
    @property
    def groups(self) -> int: ...
    @property
    def gemm_dims(self) -> Optional[Tuple[int, int, int]]: ...

class Topology:
    def __init__(self, name: str, layers: Iterable[Layer]) -> None: ...
    @staticmethod
    def from_csv(path: _Path, gemm: bool = False) -> Topology: ...
    @staticmethod
    def from_csv_text(text: str, gemm: bool = False, name: str = "topology") -> Topology: ...
    def to_csv(self, path: _Path) -> None: ...
    def to_csv_text(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def layers(self) -> List[Layer]: ...
    @property
    def names(self) -> List[str]: ...
    @property
    def total_macs(self) -> int: ...
    @property
    def is_gemm(self) -> bool: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Layer: ...

class LayerRecord:
    name: str
    total_cycles_incl_prefetch: Optional[int]
    total_cycles: int
    stall_cycles: int
    overall_util: float
    mapping_efficiency: float
    compute_util: float
    avg_ifmap_sram_bw: float
    avg_filter_sram_bw: float
    avg_ofmap_sram_bw: float
    avg_ifmap_dram_bw: float
    avg_filter_dram_bw: float
    avg_ofmap_dram_bw: float
    sram_ifmap_start_cycle: float
    sram_ifmap_stop_cycle: float
    sram_ifmap_reads: int
    sram_filter_start_cycle: float
    sram_filter_stop_cycle: float
    sram_filter_reads: int
    sram_ofmap_start_cycle: float
    sram_ofmap_stop_cycle: float
    sram_ofmap_writes: int
    dram_ifmap_start_cycle: float
    dram_ifmap_stop_cycle: float
    dram_ifmap_reads: int
    dram_filter_start_cycle: float
    dram_filter_stop_cycle: float
    dram_filter_reads: int
    dram_ofmap_start_cycle: float
    dram_ofmap_stop_cycle: float
    dram_ofmap_writes: int
    macs: int
    dram_words: int
    def to_dict(self) -> Dict[str, Any]: ...

class Report:
    topology: str
    hw: str
    compat: str
    layers: List[LayerRecord]
    total_cycles: int
    stall_cycles: int
    macs: int
    dram_words: int
    sram_accesses: int
    def totals(self) -> Dict[str, int]: ...
    def to_csv(self, dir: _Path) -> None: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> LayerRecord: ...

def simulate(topology: Topology, hw: HwConfig, compat: str = "scalesim-v3") -> Report: ...
