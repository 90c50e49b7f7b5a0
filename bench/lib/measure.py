#!/usr/bin/env python3
"""Run a command (stdin/stdout redirected from/to files), report wall time,
CPU time and max RSS of the whole process tree as one JSON line.

usage: measure.py [--stdin FILE] [--stdout FILE] [--stderr FILE] -- CMD ARGS...
"""
import json
import os
import sys
import time


def main():
    args = sys.argv[1:]
    stdin = stdout = stderr = None
    while args and args[0] != "--":
        flag, value = args[0], args[1]
        args = args[2:]
        if flag == "--stdin":
            stdin = value
        elif flag == "--stdout":
            stdout = value
        elif flag == "--stderr":
            stderr = value
        else:
            sys.exit(f"unknown flag {flag}")
    cmd = args[1:]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        if stdin:
            fd = os.open(stdin, os.O_RDONLY)
            os.dup2(fd, 0)
        if stdout:
            fd = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
        fd = os.open(stderr or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 2)
        os.execvp(cmd[0], cmd)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - start
    print(json.dumps({
        "status": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 4),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 4),
        "max_rss_kb": ru.ru_maxrss,
    }))


if __name__ == "__main__":
    main()
