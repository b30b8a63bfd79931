"""The launcher that starts a service on a host: the release's venv, the environment's values.

It runs on the host under the venv's own Python (standard library only), reads
`shared/.env` as `conveyor config render` wrote it, and replaces itself with the
service's command. Values stay in the file (mode 0600), never on a command line
or in the runtime's config.
"""

from __future__ import annotations

SCRIPT = r'''"""conveyor launcher: launch.py ENV_FILE VENV -- ARGV..."""
import os
import sys


def read_env(path):
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = unquote(value[1:-1])
            values[key] = value
    return values


def unquote(body):
    out, escaped = [], False
    for char in body:
        if escaped:
            out.append({"n": "\n", "t": "\t"}.get(char, char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)


def main():
    env_file, venv = sys.argv[1], sys.argv[2]
    argv = sys.argv[sys.argv.index("--") + 1:]
    environ = dict(os.environ)
    environ.update(read_env(env_file))
    environ["VIRTUAL_ENV"] = venv
    environ["PATH"] = os.path.join(venv, "bin") + os.pathsep + environ.get("PATH", "")
    program = argv[0] if os.sep in argv[0] else os.path.join(venv, "bin", argv[0])
    if not os.path.exists(program):
        program = argv[0]
    os.execvpe(program, argv, environ)


main()
'''
