"""Benchmark: `conveyor scan` against `detect-secrets scan` on the same labelled tree.

    .venv/bin/python bench/scan.py [--lines 200000] [--keep DIR]

Generates a tree of about `--lines` lines (Python modules, compose files, shell
scripts, an .env.example) in which known hard-coded values are planted on known
lines (the labelled corpus), next to look-alikes that are not findings
(placeholders, settings reads, checksums, docstrings), plus a copy of the bundled
example app. Runs both tools as a user would (a subprocess each, JSON output) on
the same tree, and prints lines per second, time, recall per kind and precision.
A tool "finds" a label when it reports anything on that file and line. Precision
counts what a tool reports in the generated files (the labelled corpus); what it
reports in the example app copy is shown apart.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_APP = REPO / "src" / "conveyor" / "demo" / "app"
BIN = Path(sys.executable).parent
SEED_DB = "postgresql://admin:admin123@localhost:5435/stocktrading"  # conveyor: ignore[url-credentials] planted in the corpus on purpose  # noqa: E501

# Planted findings: (kind, Python line). Every kind is a seed-style finding.
POSITIVES = [
    ("seed DATABASE_URL", f'DATABASE_URL = "{SEED_DB}"'),
    ("seed DATABASE_URL", f"DB_URL = '{SEED_DB}'"),
    ("seed DATABASE_URL", f'engine = create_engine("{SEED_DB}", pool_pre_ping=True)'),
    ("seed DATABASE_URL", f'DATABASE_URL = os.getenv("DATABASE_URL", "{SEED_DB}")'),
    ("seed API_BASE_URL", 'API_BASE_URL = "http://localhost:8000/api/v1"'),
    ("seed API_BASE_URL", 'client = httpx.Client(base_url="http://localhost:8000/api/v1")'),
    ("seed API_BASE_URL", 'resp = requests.get(f"http://localhost:8000/api/v1/stocks/{code}")'),
    (
        "other connection string",
        'BROKER = "amqp://guest:s3cretpw@10.0.0.7:5672//"',  # conveyor: ignore[url-credentials] planted in the corpus on purpose  # noqa: E501
    ),
    (
        "other connection string",
        'STORE = "mongodb+srv://app:Zx81kk2pq@cluster0.example.net/db"',  # conveyor: ignore[url-credentials] planted in the corpus on purpose  # noqa: E501
    ),
    ("development host", 'REDIS_URL = "redis://192.168.219.103:6379/0"'),
    ("host / port", 'REDIS_HOST = "localhost"'),
    ("host / port", "REDIS_PORT = 6380"),
    ("password in a dict", 'DB_CONFIG = {"host": "db.internal", "password": "admin123"}'),
    ("password argument", 'conn = psycopg.connect(host="localhost", password="admin123")'),
    ("token format", 'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPL{n}"'),
    ("token format", 'GITHUB_TOKEN = "ghp_{n}aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG"'),
    ("secret-like name", 'JWT_SECRET_KEY = "q8Zr2LmX9vT4nB7cK1pW6yH3sD5fG0jA{n}"'),
]
# Look-alikes: none of these is a finding.
NEGATIVES = [
    "DATABASE_URL = settings.DATABASE_URL",
    'TEMPLATE = "postgresql://{user}:{password}@{host}:{port}/{name}"',
    'PASSWORD = os.environ["DB_PASSWORD"]',
    'DOCS_LINK = "see https://docs.python.org/3/library/ast.html"',
    'CHECKSUM = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"',
    'ETAG = "d41d8cd98f00b204e9800998ecf8427e"',
    'TOKEN_TYPE = "bearer"',
    'API_KEY_HEADER = "X-API-Key"',
    "PASSWORD_MIN_LENGTH = 12",
    'uvicorn.run(app, host="0.0.0.0", port=8000)',
    'print("open http://localhost:8000/docs in a browser")',
]
YAML_POSITIVE = ("compose password", "      POSTGRES_PASSWORD: admin123")
SHELL_POSITIVE = ("shell password", "export PGPASSWORD=hunter2hunter2")


def _filler(rng: random.Random, i: int) -> list[str]:
    """Ordinary code: a function with arithmetic and a docstring."""
    n = rng.randint(3, 9)
    body = [f"def compute_{i}(values, factor={n}):", f'    """Step {i} of the pipeline."""']
    body += [
        f"    total_{k} = sum(v * factor for v in values) + {rng.randint(0, 999)}" for k in range(n)
    ]
    body += [f"    return total_{n - 1}", ""]
    return body


def generate(root: Path, lines: int, seed: int = 4) -> dict[tuple[str, int], str]:
    """Write the tree; return the labels: (file, line) -> kind."""
    rng = random.Random(seed)
    labels: dict[tuple[str, int], str] = {}
    written = index = 0
    while written < lines:
        name = f"pkg{index % 20}/module_{index}.py"
        text = [
            '"""Generated module; connects to http://localhost:8000 in development."""',
            "import os",
            "",
        ]
        while len(text) < 200:
            roll = rng.random()
            if roll < 0.03:
                kind, line = rng.choice(POSITIVES)
                labels[(name, len(text) + 1)] = kind
                text.append(line.replace("{n}", str(index % 10)) if "{n}" in line else line)
            elif roll < 0.06:
                text.append(rng.choice(NEGATIVES))
            else:
                text += _filler(rng, len(text))
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
        written += len(text)
        if index % 25 == 0:
            compose = [
                "services:",
                "  db:",
                "    environment:",
                "      POSTGRES_DB: ${DB_NAME:-app}",
                YAML_POSITIVE[1],
                '      POSTGRES_USER: "${DB_USER}"',
            ]
            (root / f"deploy/compose_{index}.yml").parent.mkdir(exist_ok=True)
            (root / f"deploy/compose_{index}.yml").write_text("\n".join(compose) + "\n")
            labels[(f"deploy/compose_{index}.yml", 5)] = YAML_POSITIVE[0]
            script = [
                "#!/bin/sh",
                'echo "deploying"',
                SHELL_POSITIVE[1],
                'psql -h "$DB_HOST" -c "select 1"',
            ]
            (root / f"deploy/run_{index}.sh").write_text("\n".join(script) + "\n")
            labels[(f"deploy/run_{index}.sh", 3)] = SHELL_POSITIVE[0]
            written += len(compose) + len(script)
        index += 1
    (root / ".env.example").write_text("DB_PASSWORD=<DB_PASSWORD>\nDB_HOST=<DB_HOST>\n")
    shutil.copytree(DEMO_APP, root / "example_app", ignore=shutil.ignore_patterns("__pycache__"))
    return labels


def run_conveyor(root: Path) -> tuple[float, set[tuple[str, int]]]:
    argv = [
        sys.executable,
        "-m",
        "conveyor",
        "-C",
        str(root),
        "scan",
        "--format",
        "json",
        "--fail-on",
        "never",
    ]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    return elapsed, {(item["file"], item["line"]) for item in json.loads(done.stdout)}


def run_detect_secrets(root: Path) -> tuple[float, set[tuple[str, int]]]:
    argv = [str(BIN / "detect-secrets"), "scan", "--all-files", "."]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    results = json.loads(done.stdout)["results"]
    return elapsed, {
        (name, item["line_number"]) for name, items in results.items() for item in items
    }


def count_lines(root: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in root.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="generate here and keep the tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-scan-") as scratch:
        root = args.keep or Path(scratch) / "tree"
        root.mkdir(parents=True, exist_ok=True)
        labels = generate(root, args.lines)
        lines = count_lines(root)
        app_lines = count_lines(root / "example_app")
        app_time, _ = run_conveyor(root / "example_app")
        rows = {
            "conveyor scan": run_conveyor(root),
            "detect-secrets scan": run_detect_secrets(root),
        }
    kinds = sorted(set(labels.values()))
    print(
        f"tree: {lines:,} lines in generated files + example app ({app_lines:,} lines); "
        f"{len(labels)} labelled findings"
    )
    print(
        f"conveyor scan on the example app alone: {app_time:.2f} s, "
        f"{app_lines / app_time:,.0f} lines/s (mostly start-up)"
    )
    print()
    header = (
        f"{'tool':<22}{'time s':>8}{'lines/s':>11}{'recall':>8}{'precision':>11}"
        f"{'reported':>10}{'in app':>8}"
    )
    print(header)
    print("-" * len(header))
    per_kind: dict[str, dict[str, str]] = defaultdict(dict)
    for tool, (elapsed, everything) in rows.items():
        found = {key for key in everything if not key[0].startswith("example_app/")}
        hits = [key for key in labels if key in found]
        precision = sum(1 for key in found if key in labels) / len(found) if found else 0.0
        print(f"{tool:<22}{elapsed:>8.2f}{lines / elapsed:>11,.0f}{len(hits) / len(labels):>8.1%}"
              f"{precision:>11.1%}{len(found):>10}{len(everything) - len(found):>8}")  # fmt: skip
        for kind in kinds:
            total = [key for key, k in labels.items() if k == kind]
            per_kind[kind][tool] = f"{sum(1 for key in total if key in found)}/{len(total)}"
    print()
    print(f"{'recall per kind':<26}" + "".join(f"{tool:>22}" for tool in rows))
    for kind in kinds:
        print(f"{kind:<26}" + "".join(f"{per_kind[kind][tool]:>22}" for tool in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
