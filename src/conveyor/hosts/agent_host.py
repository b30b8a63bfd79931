"""The host side of the agent (hosts/agent.py): the program each host runs as `python -c`.

Sent as text when an agent starts; kept here, apart from the connectors' side, because it
runs on the host's own Python (3.5 and later), with nothing of conveyor's installed there.
"""

from conveyor.hosts.as_c import AS_C

# Runs on the host. Single-threaded (fork and threads do not mix): select() on the requests
# and on a wake-up pipe that SIGCHLD writes to; children are reaped there, and each answer
# is one JSON line. Python 3.5+; the host's own stdin/stdout are kept for the channel alone,
# so a script or a daemon it starts never holds the channel open. Each script has a deadline
# here too (its timeout and a second), as timeout(1) gave it: a caller that vanished without
# a word still does not leave it running. Whatever way the agent ends, it kills what runs.
AGENT = (
    AS_C
    + r"""
import atexit, base64, json, os, select, signal, sys, tempfile, time, traceback
IN, OUT = os.dup(0), os.dup(1)
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0)
os.dup2(null, 1)
wake_r, wake_w = os.pipe()
os.set_blocking(wake_r, False)
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *_: None)
running = {}  # pid -> (request id, stdout file, stderr file)
pids = {}  # request id -> pid
deadlines = {}  # pid -> time.monotonic() past which it is killed


def send(obj):
    data = (json.dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(OUT, data):]


def child(req, fin, fout, ferr):
    os.setpgid(0, 0)
    for fd, f in ((0, fin), (1, fout), (2, ferr)):
        os.dup2(f.fileno(), fd)
    os.closerange(3, 65536)
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", errors="backslashreplace", buffering=1, closefd=False)
    try:
        if req.get("whole_env"):
            os.environ.clear()
        os.environ.update(req.get("env") or {})
        if req.get("cwd"):
            os.chdir(req["cwd"])
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    code = as_c(req["code"], req["args"])
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()  # its other threads end first, as at an interpreter's exit
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        code = code or 120
    finally:
        os._exit(code & 0xFF)


def start(req):
    fin = tempfile.TemporaryFile()
    if req.get("stdin"):
        fin.write(base64.b64decode(req["stdin"]))
        fin.seek(0)
    fout, ferr = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:
        child(req, fin, fout, ferr)
    try:
        os.setpgid(pid, pid)  # here too: a kill may come before the child has run at all
    except OSError:
        pass
    fin.close()
    running[pid] = (req["id"], fout, ferr)
    pids[req["id"]] = pid
    if req.get("timeout"):
        deadlines[pid] = time.monotonic() + float(req["timeout"]) + 1.0


def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid not in running:
            continue
        rid, fout, ferr = running.pop(pid)
        pids.pop(rid, None)
        deadlines.pop(pid, None)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        out = []
        for f in (fout, ferr):
            f.seek(0)
            out.append(base64.b64encode(f.read()).decode())
            f.close()
        send({"id": rid, "exit": code, "out": out[0], "err": out[1]})


def kill(pid):
    deadlines.pop(pid, None)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def serve():
    parts = []
    while True:
        wait = None
        if deadlines:
            wait = max(0.0, min(deadlines.values()) - time.monotonic())
        ready = select.select([IN, wake_r], [], [], wait)[0]
        now = time.monotonic()
        for pid in [p for p, t in deadlines.items() if t <= now]:
            kill(pid)
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            reap()
        if IN in ready:
            chunk = os.read(IN, 1 << 16)
            if not chunk:
                return
            parts.append(chunk)
            if b"\n" not in chunk:
                continue
            *lines, rest = b"".join(parts).split(b"\n")
            parts = [rest]
            for line in lines:
                req = json.loads(line.decode())
                if "kill" in req:
                    if req["kill"] in pids:
                        kill(pids[req["kill"]])
                    continue
                try:
                    start(req)
                except Exception:
                    err = base64.b64encode(traceback.format_exc().encode()).decode()
                    send({"id": req["id"], "exit": 125, "out": "", "err": err})


# What the host scripts import, imported once here: a forked script finds them loaded.
for name in ("hashlib", "http.client", "shutil", "socket", "subprocess", "venv",
             "xmlrpc.client", "supervisor.xmlrpc"):
    try:
        __import__(name)
    except Exception:
        pass
try:
    send({"ready": os.getpid()})
    serve()
except BaseException:
    pass  # the channel is gone (EOF, a broken pipe): so is every script it started
finally:
    for pid in list(running):
        kill(pid)
    os._exit(0)
"""
)
