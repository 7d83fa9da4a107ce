"""Start one command in an image's root filesystem the way a container runtime starts a pod's container.

    unshare --mount --propagation private -- python -I pod_exec.py SPEC.json

SPEC: {"root": the image's mounted rootfs, "volumes": {path in the container: host folder}, "read_only_root": bool,
"uid": int, "gid": int, "cwd": the image's WorkingDir, "env": {...}, "command": [...], "loopback_up": bool}.

What runc does for a Kubernetes container, in its order: mount /proc and /dev, bind the volumes (read-only) over
mount points it creates, make the root read-only (`readOnlyRootFilesystem`), chroot, change to the working
directory while still root (so a directory the user cannot enter does not stop the start), drop to the pod's
uid/gid with no supplementary groups, and exec the command itself (no shell; a bare name is looked up on the
container's PATH). Like runc, a command that cannot be executed is one `exec: ...` line on stderr, here with exit
code 127. The network is the caller's: the host's (a stand-in on 127.0.0.1 is reachable), or a pod's own when
started under `unshare --net` with `loopback_up` (then fixed ports such as the scheduler's 8786 cannot collide with
anything on the host) or inside such a namespace with `nsenter --net`. Standard library only.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import subprocess
import sys


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _loopback_up() -> None:
    """`ip link set lo up` without iproute2 (not on every CI host): SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)  # struct ifreq: the name, then ifr_flags
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, 0x8913, request))[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH22x", b"lo", flags | 0x1))


def _inside(root: str, target: str) -> str:
    """`target` as the container sees it, on the host: symlinks on the way (Debian's /var/run -> /run) are
    followed within `root`, never out of it (runc's securejoin); missing folders are made as mount points."""
    parts, done, hops = [p for p in target.split("/") if p], "", 0
    while parts:
        part = parts.pop(0)
        here = os.path.join(root, done.lstrip("/"), part)
        if os.path.islink(here):
            hops += 1
            if hops > 40:
                raise OSError(f"too many symlinks under {target}")
            link = os.readlink(here)
            parts = [p for p in link.split("/") if p] + parts
            if link.startswith("/"):
                done = ""
            continue
        if part == "..":
            done = os.path.dirname(done)
            continue
        os.makedirs(here, exist_ok=True)
        done = f"{done}/{part}"
    return os.path.join(root, done.lstrip("/"))


def _resolve(command: str, env: dict[str, str]) -> str:
    if "/" in command:
        return command
    for folder in env.get("PATH", "").split(":"):
        candidate = os.path.join(folder or ".", command)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return command


def main(spec_file: str) -> int:
    with open(spec_file, encoding="utf-8") as file:
        spec = json.load(file)
    root = spec["root"]
    if spec.get("loopback_up"):
        _loopback_up()
    _mount("--bind", root, root)  # its own mount, so that it can be made read-only below
    # What every container has: /proc (this pid namespace's) and /dev (with /dev/shm, which multiprocessing needs).
    _mount("-t", "proc", "proc", _inside(root, "/proc"))
    _mount("--rbind", "/dev", _inside(root, "/dev"))
    for target, source in spec["volumes"].items():
        _mount("--bind", "-o", "ro", source, _inside(root, target))
    if spec["read_only_root"]:
        _mount("-o", "remount,bind,ro", root)
    os.chroot(root)
    os.chdir(spec.get("cwd") or "/")
    os.setgroups([])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    env = {str(k): str(v) for k, v in spec["env"].items()}
    command = [str(part) for part in spec["command"]]
    path = _resolve(command[0], env)
    try:
        os.execve(path, command, env)
    except OSError as error:
        print(f'exec: "{command[0]}": {error.strerror.lower() if error.strerror else error}', file=sys.stderr)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
