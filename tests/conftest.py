"""Shared fixtures: paths of the shipped inputs and small, fast simulator inputs."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def topologies() -> Path:
    return REPO / "topologies"


@pytest.fixture(scope="session")
def configs() -> Path:
    return REPO / "configs"


@pytest.fixture(scope="session")
def small3_csv(tmp_path_factory) -> Path:
    """Three layers that cover the ceil quirk and a 1x1 FC; fast on every shipped config."""
    path = tmp_path_factory.mktemp("topologies") / "small3.csv"
    path.write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "conv_a, 18, 18, 3, 3, 3, 16, 1,\n"
        "conv_b, 16, 16, 3, 3, 16, 40, 2,\n"
        "fc_c, 1, 1, 1, 1, 2560, 10, 1,\n"
    )
    return path


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never read or fill the user's cache of converged models."""
    import os

    os.environ["AMED_CACHE"] = str(tmp_path_factory.mktemp("amed-cache"))


@pytest.fixture(scope="session")
def digits_checkpoint(tmp_path_factory) -> Path:
    """A converged 8-bit LSQ ResNet-20 on digits (about 7 s on one thread), the start of the search tests."""
    from amed.train import run_finetune

    out = tmp_path_factory.mktemp("converged")
    metrics = run_finetune(model="resnet20", dataset="digits", bits=8, epochs=6, lr=0.05, batch_size=32,
                           threads=1, out=str(out), progress=False)  # fmt: skip
    assert metrics["final"]["top1"] > 90.0
    return out / "model.pt"
