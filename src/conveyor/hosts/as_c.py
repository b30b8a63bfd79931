"""A script run inside a Python that is already running, as `python -c SCRIPT ARGS` would.

The host agent (hosts/agent_host.py) forks for each script, and a batch
(deploy/batch.py) runs a script of its own interpreter in its own process: both paste
`AS_C` into their host-side code and call `as_c(code, args)`, so a script sees the same
`sys.argv`, a `__main__` of its own, its `SystemExit` as the exit code, and a traceback
that starts at its own frame, wherever it runs. Host-side text: Python 3.5 and later.
"""

AS_C = r"""
def as_c(code, args):
    # The exit code of `code` run as `python -c code *args`; sys.argv and __main__ are
    # given back afterwards (a batch goes on after it).
    import sys, traceback, types
    argv, main = sys.argv, sys.modules.get("__main__")
    sys.argv = ["-c"] + list(args)
    module = types.ModuleType("__main__")
    sys.modules["__main__"] = module
    try:
        exec(compile(code, "<string>", "exec"), module.__dict__)
    except SystemExit as done:
        if done.code is None:
            return 0
        if isinstance(done.code, int):
            return done.code
        print(done.code, file=sys.stderr)
        return 1
    except BaseException as error:
        # As `python -c` prints it: from the script's own frame, not this one.
        traceback.print_exception(type(error), error, error.__traceback__.tb_next)
        return 1
    finally:
        sys.argv = argv
        if main is not None:
            sys.modules["__main__"] = main
    return 0
"""
