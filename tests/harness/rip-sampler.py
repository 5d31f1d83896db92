#!/usr/bin/env python3
"""Samples the instruction pointer of a QEMU machine through its gdbstub.

Boot the nested stack with `XENRUN_QEMU_ARGS="-s"` (gdbstub on tcp:1234),
then run this: every PERIOD seconds it stops the machine, reads %rip and
lets it go on, for DURATION seconds, and prints a histogram of the
addresses inside [LO, HI) (our kernel's image) as `count address function`,
symbolised with addr2line against ELF. Samples land in our guest in
proportion to the time it runs, so this is a flat profile of the guest's
own code (Xen's and dom0's samples are counted, not symbolised).

    rip-sampler.py ELF [--port 1234] [--period 0.002] [--duration 30] [--after 0]
                   [--wait-for build/logs/bench.log:'BENCH ready']
"""
import argparse, collections, socket, subprocess, sys, time

def csum(b):
    return b"%02x" % (sum(b) % 256)

class Stub:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
    def _read_packet(self):
        while True:
            i = self.buf.find(b"$")
            j = self.buf.find(b"#", i + 1) if i >= 0 else -1
            if i >= 0 and j >= 0 and len(self.buf) >= j + 3:
                pkt = self.buf[i + 1:j]
                self.buf = self.buf[j + 3:]
                self.s.sendall(b"+")
                return pkt
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
    def cmd(self, body, reply=True):
        self.s.sendall(b"$" + body + b"#" + csum(body))
        return self._read_packet() if reply else None
    def stop(self):
        self.s.sendall(b"\x03")
        return self._read_packet()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("elf")
    ap.add_argument("--port", type=int, default=1234)
    ap.add_argument("--period", type=float, default=0.002)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--after", type=float, default=0, help="seconds to wait before sampling")
    ap.add_argument("--wait-for", default="", help="FILE:TEXT: start sampling once FILE contains TEXT")
    ap.add_argument("--lo", type=lambda x: int(x, 0), default=0xffffffff80000000)
    ap.add_argument("--hi", type=lambda x: int(x, 0), default=0xffffffff80800000)
    a = ap.parse_args()
    if a.wait_for:
        path, text = a.wait_for.split(":", 1)
        while True:
            try:
                if text in open(path, errors="replace").read():
                    break
            except OSError:
                pass
            time.sleep(0.2)
    for _ in range(600):
        try:
            st = Stub(a.port)
            break
        except OSError:
            time.sleep(1)
    else:
        sys.exit("no gdbstub")
    # QEMU stops the machine when a debugger connects, and the first
    # continue can stop again at once (SIGTRAP): go on until it runs.
    st.cmd(b"?")
    for _ in range(5):
        st.cmd(b"c", reply=False)
        st.s.settimeout(0.5)
        try:
            st._read_packet()
        except (socket.timeout, TimeoutError):
            break
        finally:
            st.s.settimeout(None)
    time.sleep(a.after)
    hits, other, total = collections.Counter(), collections.Counter(), 0
    end = time.monotonic() + a.duration
    while time.monotonic() < end:
        time.sleep(a.period)
        try:
            st.stop()
            regs = st.cmd(b"g")
            st.cmd(b"c", reply=False)
        except (EOFError, OSError):
            break
        rip = int.from_bytes(bytes.fromhex(regs[16 * 16:17 * 16].decode()), "little")
        total += 1
        if a.lo <= rip < a.hi:
            hits[rip] += 1
        else:
            other[rip >> 28] += 1
    addrs = sorted(hits)
    names = {}
    if addrs:
        out = subprocess.run(["addr2line", "-f", "-C", "-e", a.elf] + [hex(x) for x in addrs],
                             capture_output=True, text=True).stdout.split("\n")
        for i, x in enumerate(addrs):
            names[x] = out[2 * i] if 2 * i < len(out) else "?"
    byfn = collections.Counter()
    for x, n in hits.items():
        byfn[names.get(x, "?")] += n
    print(f"samples {total}, in range {sum(hits.values())}")
    for k, n in other.most_common(6):
        print(f"  outside: {hex(k << 28)}.. {n}")
    for f, n in byfn.most_common(60):
        print(f"{n:6d} {100.0 * n / max(1, sum(hits.values())):5.1f}% {f}")

if __name__ == "__main__":
    main()
