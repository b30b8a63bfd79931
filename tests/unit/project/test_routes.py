"""Health routes found through routers, imports and prefixes, from syntax trees only."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.project.routes import find_health


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_route_on_the_app_itself(tmp_path: Path) -> None:
    root = write(tmp_path, {"svc.py": 'app = FastAPI()\n@app.get("/healthz")\ndef h(): ...\n'})
    assert find_health(root, "svc", "app") == "/healthz"


def test_relative_imports_constants_and_aliases(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/main.py": (
            "from .api import router as api\nPREFIX = '/v' + '2'\n"
            "app = FastAPI()\napp.include_router(api, prefix=f'{PREFIX}/x')\n"
        ),
        "pkg/api.py": (
            "router = APIRouter(prefix='/ops')\n"
            "@router.get('/ping')\ndef p(): ...\n@router.get(path='/health')\ndef h(): ...\n"
        ),
    }
    assert find_health(write(tmp_path, files), "pkg.main", "app") == "/v2/x/ops/health"


@pytest.mark.parametrize(
    "body",
    [
        "app = FastAPI()\n",
        "app = FastAPI()\n@app.get('/items/{health}')\ndef h(): ...\n",
        "app = FastAPI()\napp.include_router(missing.router)\n",
        "app = FastAPI()\n@app.post('/health')\ndef h(): ...\n",
    ],
)
def test_no_health_route(tmp_path: Path, body: str) -> None:
    assert find_health(write(tmp_path, {"svc.py": body}), "svc", "app") is None


def test_unknown_prefix_is_no_answer(tmp_path: Path) -> None:
    body = "app = FastAPI()\napp.include_router(r, prefix=os.environ['P'])\n"
    files = {"svc.py": "from r import r\n" + body, "r.py": "r = APIRouter()\n@r.get('/health')\n"}
    assert find_health(write(tmp_path, files), "svc", "app") is None
