"""The container recipe (`Dockerfile`), followed step by step in a folder of its own.

No Docker daemon is needed: the test copies into an empty folder exactly what the recipe's
COPY lines copy, runs its RUN lines there (all but the install of the dependencies, which the
test's environment has), then starts its CMD on a free localhost port and reads the archive
through it. A file the served archive needs but the recipe leaves out, or a command that no
longer works, fails here before it fails someone's `docker build`.
"""

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from test_serving import get
from test_ui import free_port, started


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """The recipe's instructions in order, as (INSTRUCTION, arguments), continued lines joined."""
    found, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        found.append((keyword.upper(), arguments.strip()))
        pending = ""
    return found


def copy_into(app: Path, arguments: str) -> None:
    """Do what one COPY line does: each source of the build context into the destination."""
    *sources, destination = shlex.split(arguments)
    for source in sources:
        target = app / destination
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target, dirs_exist_ok=True)
        else:
            target = target / Path(source).name if destination.endswith("/") else target
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / source, target)


def serving(command: list[str], app: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """The recipe's CMD, listening on a free localhost port instead of every interface's
    EXPOSEd one; (the process, its base URL) once it answers."""
    command = list(command)
    port = free_port()
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    return started(command, port, app, app / "serve.log", env)


def test_the_container_recipe_builds_the_archive_and_serves_it(tmp_path):
    steps = instructions(ROOT / "Dockerfile")
    app = tmp_path / "app"
    app.mkdir()
    # `python` and `datasette` in the recipe's commands are the environment's, as in the image.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command, exposed = None, None
    for keyword, arguments in steps:
        if keyword == "COPY":
            copy_into(app, arguments)
        elif keyword == "RUN" and not arguments.startswith("pip install"):
            subprocess.run(arguments, shell=True, cwd=app, env=env, check=True, capture_output=True)
        elif keyword == "CMD":
            command = json.loads(arguments)
        elif keyword == "EXPOSE":
            exposed = arguments
    assert command and command[command.index("--port") + 1] == exposed  # the CMD listens where the image says
    # The copied package is the one the recipe's commands ran, not the one this checkout installed.
    imported = subprocess.run([sys.executable, "-c", "import ingest; print(ingest.__file__)"], cwd=app, env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
    assert Path(imported).parent == app / "ingest"
    assert (app / "archive.inspect.json").exists()

    process, base = serving(command, app, env)
    try:
        with sqlite3.connect(app / "archive.db") as conn:
            paragraphs = conn.execute("select count(*) from paragraphs").fetchone()[0]
            seeds = len([p for p in (ROOT / "seeds").iterdir() if not p.name.startswith(".")])
            articles = conn.execute("select count(*) from articles").fetchone()[0]
        assert articles == seeds > 0  # every article of the copied seeds was built
        status, body = get(base + "/archive/paragraphs.json?_size=1")
        assert status == 200 and json.loads(body)["filtered_table_rows_count"] == paragraphs
        status, body = get(base + "/")
        assert status == 200 and 'action="/-/search"' in body  # the project's templates
        status, body = get(base + "/static/archive.css")
        assert status == 200 and body.strip()
        status, body = get(base + "/-/plugins.json")
        served = {plugin["name"] for plugin in json.loads(body)}
        assert {path.name for path in (ROOT / "plugins").glob("*.py")} <= served
        status, body = get(base + "/-/search?q=gas")
        assert status == 200 and "gas" in body.lower()
    finally:
        process.terminate()
        process.wait(30)
