"""What the fakes' self-tests share: starting a fake on a free loopback port and stopping it, and running the
checks that need a vendor's official client with the virtualenv's python that scripts/lib/common.sh makes."""

import re
import select
import subprocess


def start(command, cwd, name):
    """Runs a fake (its first stdout line is `listening 127.0.0.1:PORT`): the process and its base URL."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd)
    ready, _, _ = select.select([process.stdout], [], [], 15)
    line = process.stdout.readline().decode().strip() if ready else ""
    if not re.fullmatch(r"listening 127\.0\.0\.1:\d+", line):
        process.kill()
        raise RuntimeError(f"{name} did not start: first line {line!r}")
    return process, "http://" + line.split(" ", 1)[1]


def stop(process):
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


def run_official_client_checks(case, venv_python, package, ensure, pins, require, require_variable, tests, cwd, at_least):
    """Runs `tests` (module.Class) with `venv_python`, where the official client `package` is installed by
    `ensure` from `pins`; every check must run and pass. Without the venv: skipped, or failed when `require`."""
    why = None
    if not venv_python.exists():
        why = (f"the official client is not installed: run scripts/lib/common.sh's {ensure} (it makes "
               f"{venv_python.parent.parent.name} under .build with the {package} package pinned in {pins})")
    elif not list(venv_python.parent.parent.glob(f"lib/python3*/site-packages/{package}/__init__.py")):
        why = f".build/{venv_python.parent.parent.name} has no {package} package: run {ensure} again (it reinstalls when {pins} changed)"
    if why:
        if require:
            case.fail(f"{why} -- {require_variable}=1 makes this a failure")
        case.skipTest(why)
    run = subprocess.run([str(venv_python), "-m", "unittest", "-v", tests], cwd=cwd, capture_output=True, text=True, timeout=120)
    case.assertEqual(0, run.returncode, run.stderr[-6000:])
    ran = int(re.search(r"^Ran (\d+) tests?", run.stderr, re.M).group(1))
    case.assertGreaterEqual(ran, at_least, run.stderr)
    case.assertNotIn("skipped", run.stderr, "every official-client check must run")
