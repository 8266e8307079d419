"""amed: hardware-aware mixed-precision bit allocation (AMED) with a fast systolic-array simulator."""
