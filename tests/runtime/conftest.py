import pytest

from tiny_model import make_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A model folder with tiny real ONNX graphs that follow the model-folder contract."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "embeddings"
