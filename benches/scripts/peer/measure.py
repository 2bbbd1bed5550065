#!/usr/bin/env python3
"""Measure an agent's own CPU and RSS while it ingests the synthetic plugin and exports to a local sink.

Usage: measure.py --port P --warmup S --window S -- CMD...
CMD must exec the agent, so that the pid started here is the agent's.

The agent's CPU is its own user + system time (all its threads; /proc/PID/stat fields 14 and 15),
which never includes its children: the plugin it runs is reported separately as plugin_cpu_pct
(the sum over the agent's direct children), so the two can be told apart.

Prints: cpu_s=… window_s=… cpu_pct=… rss_mb=… rss_peak_mb=… plugin_cpu_pct=… lines=… bytes=…"""
import argparse, os, signal, subprocess, time, socket, threading

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--warmup", type=float, default=15)
ap.add_argument("--window", type=float, default=60)
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd

stats = {"lines": 0, "bytes": 0}
counting = [False]
lock = threading.Lock()


def handle(c):
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        if counting[0]:
            with lock:
                stats["bytes"] += len(b)
                stats["lines"] += b.count(b"\n")


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", a.port))
s.listen(16)
threading.Thread(
    target=lambda: [threading.Thread(target=handle, args=(s.accept()[0],), daemon=True).start() for _ in iter(int, 1)],
    daemon=True,
).start()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
tck = os.sysconf("SC_CLK_TCK")


def stat(pid):
    """(ppid, user + system seconds) of one process, or None when it is gone."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(f[1]), (int(f[11]) + int(f[12])) / tck


def cpu():
    return stat(p.pid)[1]


def children_cpu():
    """CPU seconds of the agent's direct children (the plugins), by pid."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat(int(d))
            if st and st[0] == p.pid:
                out[int(d)] = st[1]
    return out


def status(key):
    for line in open(f"/proc/{p.pid}/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return 0.0


time.sleep(a.warmup)
counting[0] = True
c0 = cpu()
k0 = children_cpu()
t0 = time.time()
time.sleep(a.window)
c1 = cpu()
k1 = children_cpu()
t1 = time.time()
counting[0] = False
r = status("VmRSS")
hwm = status("VmHWM")
os.killpg(p.pid, signal.SIGTERM)
try:
    p.wait(10)
except subprocess.TimeoutExpired:
    os.killpg(p.pid, signal.SIGKILL)
w = t1 - t0
plugin = sum(k1[pid] - k0.get(pid, 0.0) for pid in k1)
print(
    f"cpu_s={c1-c0:.2f} window_s={w:.1f} cpu_pct={100*(c1-c0)/w:.1f} rss_mb={r:.1f} rss_peak_mb={hwm:.1f} "
    f"plugin_cpu_pct={100*plugin/w:.1f} lines={stats['lines']} bytes={stats['bytes']}"
)
