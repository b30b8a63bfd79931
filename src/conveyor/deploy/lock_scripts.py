"""The lock's host scripts (deploy/lock.py runs them with the host's python3): pure text.

Each prints JSON: what `look` finds of a lock directory ({"owner", "age", "token"}), or
its own answer; exit status 3 (lock.HELD) when the lock is someone else's.
"""

# Runs on the host with its python3. Prints what it finds as JSON: {"owner", "age", "token"};
# `age` is the owner file's (else the directory's) age by the host's own clock; `token`
# names this very lock (inode, last heartbeat, owner): a new lock or a heartbeat changes it.
LOOK = r"""
import json, os, time
def look(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    found = {"owner": None, "age": time.time() - st.st_mtime}
    beat = st.st_mtime_ns
    try:
        owner = os.path.join(path, "owner.json")
        with open(owner) as f:
            found["owner"] = json.load(f)
        beat = os.stat(owner).st_mtime_ns
        found["age"] = time.time() - beat / 1e9
    except (OSError, ValueError):
        pass
    found["token"] = f"{st.st_ino}:{beat}:{json.dumps(found['owner'], sort_keys=True)}"
    return found
"""
TAKE = (
    LOOK
    + r"""
import fcntl, sys, uuid
path, owner, expected = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path + ".guard", "a") as guard:
    if expected:
        # Taking over a stale lock: only the recoverer that still finds the very lock it judged
        # stale (same token) moves it aside; the guard makes check-and-rename one step.
        fcntl.flock(guard, fcntl.LOCK_EX)
        found = look(path)
        if found is not None and found["token"] == expected:
            aside = f"{path}.stale-{uuid.uuid4().hex[:8]}"
            os.rename(path, aside)
            import shutil
            shutil.rmtree(aside, ignore_errors=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        print(json.dumps(look(path)))
        sys.exit(3)
    tmp = os.path.join(path, "owner.json.tmp")
    with open(tmp, "w") as f:
        f.write(owner)
    os.replace(tmp, os.path.join(path, "owner.json"))
# Held now: the file to read in the same round trip (a host's state.json), None when absent;
# "error" when it cannot be read (the lock is held all the same: the caller gives it back).
text, error = None, None
if len(sys.argv) > 4:
    try:
        with open(sys.argv[4], encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        pass
    except OSError as failed:
        error = failed.strerror or str(failed)
print(json.dumps({"read": text, "error": error}))
"""
)
SHOW = LOOK + "\nimport sys\nprint(json.dumps(look(sys.argv[1])))\n"
# A heartbeat: the owner file touched, exit 3 when the lock is no longer this deploy's.
BEAT = r"""
import json, os, sys
path, deploy_id = sys.argv[1], sys.argv[2]
owner = os.path.join(path, "owner.json")
try:
    with open(owner) as f:
        held = json.load(f)
except (OSError, ValueError):
    held = None
if not held or held.get("deploy_id") != deploy_id:
    print(json.dumps(held)); sys.exit(3)
os.utime(owner)
"""
RELEASE = r"""
import json, os, shutil, sys
path, deploy_id = sys.argv[1], sys.argv[2]
try:
    with open(os.path.join(path, "owner.json")) as f:
        owner = json.load(f)
except (OSError, ValueError):
    owner = {}
if deploy_id == "*" or owner.get("deploy_id") == deploy_id:
    shutil.rmtree(path, ignore_errors=True)
print(json.dumps(owner))
"""
