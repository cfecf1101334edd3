"""Run chosen tests against chosen mutmut mutants, one fork per mutant (run inside ``mutants/``).

After ``mutmut run`` has generated ``mutants/``, this answers "does this test kill
that mutant?" without mutmut's per-run clean test pass, and with a CPU-time
limit instead of a wall-clock one (on a busy machine a wall-clock limit counts
slow-but-passing mutants as killed)::

    cd mutants
    ../.venv/bin/python ../scripts/check_mutants.py NAMES_FILE [--cpu SECONDS] -- tests/catalog ...

``NAMES_FILE`` holds one mutant name per line (as ``mutmut results`` prints
them). Each mutant is activated the way mutmut does it (``MUTANT_UNDER_TEST``)
in a fork of a process that imported dvtool and collected the tests once.
Prints ``killed NAME``, ``SURVIVED NAME`` or ``cpu-timeout NAME`` per line.
"""

from __future__ import annotations

import os
import resource
import signal
import sys


def main(argv: list[str]) -> int:
    if "--" not in argv or len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    head, tests = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    cpu = int(head[head.index("--cpu") + 1]) if "--cpu" in head else 120
    with open(head[0]) as f:
        names = [line.strip() for line in f if line.strip()]
    sys.path.insert(0, os.getcwd())
    import pytest

    import dvtool

    if not dvtool.__file__ or not dvtool.__file__.startswith(os.getcwd()):
        print(f"run this inside mutants/ (dvtool comes from {dvtool.__file__})", file=sys.stderr)
        return 2
    quiet = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    out, err = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    pytest.main(["--collect-only", *quiet, *tests])  # import the test modules once, before forking
    os.dup2(out, 1)
    os.dup2(err, 2)
    for name in names:
        pid = os.fork()
        if pid == 0:
            os.environ["MUTANT_UNDER_TEST"] = name
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            used = int(resource.getrusage(resource.RUSAGE_SELF).ru_utime)
            resource.setrlimit(resource.RLIMIT_CPU, (used + cpu, used + cpu + 1))
            os._exit(int(pytest.main(["-x", *quiet, *tests])))
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code == 0:
            verdict = "SURVIVED"
        elif code in (-signal.SIGXCPU, -signal.SIGKILL):
            verdict = "cpu-timeout"
        else:
            verdict = "killed"
        print(verdict, name, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
