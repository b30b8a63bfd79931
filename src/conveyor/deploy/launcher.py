"""The launcher that starts a service on a host: the release's venv, the environment's values.

It runs on the host under the venv's own Python (standard library only), reads
`shared/.env` as `conveyor config render` wrote it, and replaces itself with the
service's command. Values stay in the file (mode 0600), never on a command line
or in the runtime's config.

The service gets the file's values over a small base of the host's own (PATH, HOME,
the locale, ...) and what conveyor itself sets (PORT, APP_VERSION, CONVEYOR_RELEASE,
CONVEYOR_COLOR, supervisor's SUPERVISOR_*), nothing else: whatever was exported in the
shell that started supervisord (on a local host, the shell conveyor ran in) never
reaches the app.
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


# What a service keeps of the environment it was started in; the rest comes from the file.
KEEP = {
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
    "PORT", "APP_VERSION", "CONVEYOR_RELEASE", "CONVEYOR_COLOR",
}


def base_environment(environ):
    return {
        key: value
        for key, value in environ.items()
        if key in KEEP or key.startswith(("LC_", "SUPERVISOR_"))
    }


def main():
    env_file, venv = sys.argv[1], sys.argv[2]
    argv = sys.argv[sys.argv.index("--") + 1:]
    environ = base_environment(os.environ)
    environ.update(read_env(env_file))
    environ["VIRTUAL_ENV"] = venv
    environ["PATH"] = os.path.join(venv, "bin") + os.pathsep + environ.get("PATH", "")
    program = argv[0] if os.sep in argv[0] else os.path.join(venv, "bin", argv[0])
    if not os.path.exists(program):
        program = argv[0]
    try:
        os.execvpe(program, argv, environ)
    except FileNotFoundError:
        sys.exit(
            f"conveyor: cannot run {argv[0]}: it is neither in the release's venv "
            f"({os.path.join(venv, 'bin')}) nor on the host's PATH; add the package that "
            "provides it to the project's dependencies (or install it on the host)"
        )


main()
'''
