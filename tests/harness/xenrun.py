#!/usr/bin/env python3
"""Boots Xen with a Linux dom0 under QEMU (TCG) and runs the unikernel in it.

The serial console of the nested machine carries Xen's lines ("(XEN) ..."),
dom0's lines, and each guest's console relayed by dom0 as "G<name>| <line>".
This module streams that live, prefixed ([xen], [dom0], [<guest>]), times
every stage and stops at a stage's timeout with the stage's name and the last
console lines.

Exit codes of `xenrun.py run` (also the exit code of `make run`):
  0  the guest powered off
  2  the guest crashed (a crash report was printed)
  3  a stage timed out (the message names the stage)
  4  the environment failed: missing file, QEMU or xl refused to start the guest
  5  the guest ended another way (reboot, suspend, watchdog, unknown)
"""
import argparse
import bisect
import os
import re
import selectors
import shlex
import shutil
import subprocess
import sys
import time

EXIT_OK, EXIT_FAIL, EXIT_CRASH, EXIT_TIMEOUT, EXIT_ENV, EXIT_OTHER = 0, 1, 2, 3, 4, 5
# What dom0 can do to a running guest (dom0-init.sh `lifecycle`).
LIFECYCLE_OPS = ("saverestore", "checkpoint", "migrate", "xlmigrate")

HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print(f"==> {msg}", flush=True)


class Symbols:
    """Resolves kernel addresses to symbol names with `nm` on the ELF."""

    def __init__(self, elf):
        self.addrs, self.names = [], []
        try:
            out = subprocess.run(["nm", "-n", "--demangle", elf], capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return
        for line in out.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[1] in "tTwW":
                self.addrs.append(int(parts[0], 16))
                self.names.append(parts[2])

    def resolve(self, addr):
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0:
            return None
        return f"{self.names[i]}+{addr - self.addrs[i]:#x}"


BT_RE = re.compile(r"^(\s*#\d+ )(0x[0-9a-f]{16})( \(rip\))?\s*$")


def cfg_value(text, key):
    m = re.search(r'^\s*%s\s*=\s*"([^"]*)"' % re.escape(key), text, re.M)
    return m.group(1) if m else None


def cpio_newc(entries):
    """Builds a newc cpio archive from (path, mode, data) entries, or
    (path, mode, data, link_group, nlink) for the names of one hard-linked
    file: every entry of a group shares an inode number; the data goes with
    the first, the others have none (both our unpacker and Linux's accept
    that)."""
    out = bytearray()
    ino = 1000
    groups = {}

    def add(name, mode, data, group=None, nlink=1):
        nonlocal ino
        if group is None:
            ino += 1
            num = ino
        elif group in groups:
            num, data = groups[group], b""
        else:
            ino += 1
            num = groups[group] = ino
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (num, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out.extend(hdr.encode() + nb)
        out.extend(b"\0" * ((4 - len(out) % 4) % 4))
        out.extend(data)
        out.extend(b"\0" * ((4 - len(out) % 4) % 4))

    for e in entries:
        add(*e)
    add("TRAILER!!!", 0, b"")
    return bytes(out)


# Files of the `ramdisk=` module every test guest gets (vfs::boot_module_files).
BOOT_MODULE_FILES = [
    ("boot-files", 0o040755, b""),
    ("boot-files/hello.txt", 0o100644, b"hello from the boot module\n"),
    ("boot-files/sub", 0o040755, b""),
    ("boot-files/sub/data.bin", 0o100644, bytes(range(256)) * 16),
]


# The C test programs (tests/programs, built by `make test-programs`), put
# into /usr/local/bin of every test guest.
TEST_PROGRAMS_DIR = os.path.join("build", "programs")


def test_program_entries():
    if not os.path.isdir(TEST_PROGRAMS_DIR):
        return []
    entries = [("usr/local", 0o040755, b""), ("usr/local/bin", 0o040755, b"")]
    for n in sorted(os.listdir(TEST_PROGRAMS_DIR)):
        entries.append((f"usr/local/bin/{n}", 0o100755, open(os.path.join(TEST_PROGRAMS_DIR, n), "rb").read()))
    return entries


def boot_module():
    return cpio_newc(BOOT_MODULE_FILES + debian_tools_entries() + test_program_entries())


# Debian's xenstore tools (package xenstore-utils): one binary with a hard
# link per tool, and the shared objects it needs beyond the C library.
XENSTORE_BIN = "/usr/bin/xenstore"
TOOL_LIBS = ["libxenstore.so.4", "libxentoolcore.so.1"]
LIB_DIRS = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"]
# What a Linux guest needs in addition to run them: the C library, ld.so,
# and libgcc_s (glibc loads it for pthread_cancel, which xs_close uses on
# libxenstore's watch thread; every Debian system has it).
LINUX_RUNTIME = [("lib/x86_64-linux-gnu/libc.so.6", "libc.so.6"), ("lib/x86_64-linux-gnu/libgcc_s.so.1", "libgcc_s.so.1"),
                 ("lib64/ld-linux-x86-64.so.2", None)]


def find_lib(name):
    for d in LIB_DIRS:
        p = os.path.join(d, name)
        if os.path.exists(p):
            return os.path.realpath(p)
    raise FileNotFoundError(f"{name} not found in {LIB_DIRS} (install xenstore-utils: make deps)")


def debian_tools_entries(linux_runtime=False):
    """cpio entries for /usr/bin/xenstore and its links (xenstore-read, ...)
    and its libraries under /usr/lib/x86_64-linux-gnu, with the names ld.so
    looks for; with `linux_runtime`, also glibc and ld.so (for a Linux
    guest; the unikernel has its own libc)."""
    if not os.path.exists(XENSTORE_BIN):
        raise FileNotFoundError(f"{XENSTORE_BIN} missing (install xenstore-utils: make deps)")
    st = os.stat(XENSTORE_BIN)
    names = sorted(os.path.join("/usr/bin", n) for n in os.listdir("/usr/bin")
                   if os.stat(os.path.join("/usr/bin", n), follow_symlinks=False).st_ino == st.st_ino)
    data = open(XENSTORE_BIN, "rb").read()
    entries = [("usr", 0o040755, b""), ("usr/bin", 0o040755, b""), ("usr/lib", 0o040755, b""),
               ("usr/lib/x86_64-linux-gnu", 0o040755, b"")]
    entries += [(n.lstrip("/"), 0o100755, data, "xenstore", len(names)) for n in names]
    for lib in TOOL_LIBS:
        entries.append((f"usr/lib/x86_64-linux-gnu/{lib}", 0o100644, open(find_lib(lib), "rb").read()))
    if linux_runtime:
        entries += [("lib", 0o040755, b""), ("lib/x86_64-linux-gnu", 0o040755, b""), ("lib64", 0o040755, b"")]
        for path, lib in LINUX_RUNTIME:
            src = find_lib(lib) if lib else os.path.realpath("/" + path)
            entries.append((path, 0o100755, open(src, "rb").read()))
    return entries


class Guest:
    """A guest to start in dom0: name, xl config text, kernel image, timeout."""

    def __init__(self, name, cfg_text, timeout, ramdisk=None, action=None):
        self.name, self.cfg_text, self.timeout, self.ramdisk = name, cfg_text, timeout, ramdisk
        self.action = action
        self.lines = []
        self.cpu = {}
        self.action_seconds = None
        self.corruptions = []  # "<args>: ok|err <output>" of the dom0 helper's `corrupt` requests
        # (op, {key: value}) of every save/restore/checkpoint/migration dom0
        # performed (HARNESS: guest <name> <op> rc=<n> ...), in order.
        self.lifecycle = []
        self.reason = None
        self.started = None
        self.ended = None


class Run:
    """One boot of the nested stack running a job (a dom0 shell script)."""

    STAGE_TIMEOUTS = {"xen-boot": 180, "dom0-setup": 90, "guest-create": 90, "shutdown": 60}

    def __init__(self, kernel, dom0, logs, guests, job, verbose=False, log_name="run", quiet_guests=False,
                 on_guest_line=None, extra_files=(), dom0_mem=320, machine_mem=1024, xenstored="xenstored",
                 on_dom0_line=None):
        self.kernel, self.dom0, self.logs = kernel, dom0, logs
        self.guests = {g.name: g for g in guests}
        self.order = [g.name for g in guests]
        self.job = job
        self.extra_files = list(extra_files)
        self.dom0_mem, self.machine_mem = dom0_mem, machine_mem
        self.xenstored = xenstored
        self.verbose = verbose
        self.quiet_guests = quiet_guests
        self.on_guest_line = on_guest_line
        self.on_dom0_line = on_dom0_line
        self.log_path = os.path.join(logs, f"{log_name}.log")
        self.symbols = Symbols(kernel)
        self.tail = []
        self.stage = None
        self.stage_start = None
        self.stage_timeout = None
        self.t0 = None
        self.failure = None  # (exit code, message)
        self.env_errors = []
        self.dom0_lines = []

    def initrd(self):
        entries = [("harness", 0o040755, b""), ("guest", 0o040755, b""),
                   ("harness/job", 0o100755, self.job.encode()),
                   ("guest/unikernel.elf", 0o100644, open(self.kernel, "rb").read()),
                   # Not an image Xen can load: for the harness's own check
                   # that xl's refusal is reported.
                   ("guest/bogus.elf", 0o100644, b"\x7fELF" + b"not really an ELF image\n" * 40)]
        entries.extend(self.extra_files)
        if os.environ.get("XENRUN_DEBUG"):
            # dom0 prints Xen's log and each guest's console log when it ends.
            entries.append(("harness/debug", 0o100644, b"1\n"))
        for g in self.guests.values():
            entries.append((f"guest/{g.name}.cfg", 0o100644, g.cfg_text.encode()))
            if g.ramdisk is not None:
                entries.append((f"guest/{g.name}.ramdisk", 0o100644, g.ramdisk))
        path = os.path.join(self.dom0, "run-initrd.cpio")
        with open(path, "wb") as f:
            with open(os.path.join(self.dom0, "initrd.cpio"), "rb") as base:
                shutil.copyfileobj(base, f)
            f.write(cpio_newc(entries))
        return path

    def qemu_cmd(self, initrd):
        xen_cmdline = (f"console=com1 com1=115200,8n1 dom0_mem={self.dom0_mem}M,max:{self.dom0_mem}M dom0_max_vcpus=1 "
                       "loglvl=warning guest_loglvl=warning bootscrub=0 noreboot sched=credit2 " +
                       os.environ.get("XENRUN_XEN_ARGS", "")).strip()
        dom0_cmdline = f"console=hvc0 quiet loglevel=3 panic=-1 harness.xenstored={self.xenstored}"
        if os.environ.get("XENRUN_XSTRACE"):
            # C xenstored writes every message to a trace file in dom0.
            dom0_cmdline += " harness.xstrace=1"
        # One CPU by default: measured under TCG, a second CPU makes wake-ups
        # across CPUs (guest -> dom0's xenstored -> guest) intermittently take
        # 10-30 ms, so xenstore round trips vary 20x; with one CPU they are
        # steady and the whole test run is faster. XENRUN_SMP overrides.
        return ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "qemu64,+rdrand", "-m", str(self.machine_mem), "-smp", os.environ.get("XENRUN_SMP", "1"),
                "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-nodefaults",
                "-kernel", os.path.join(self.dom0, "xen"), "-append", xen_cmdline,
                "-initrd", f"{os.path.join(self.dom0, 'vmlinux')} {dom0_cmdline},{initrd}"] + \
            os.environ.get("XENRUN_QEMU_ARGS", "").split()

    def set_stage(self, name, timeout):
        now = time.monotonic()
        if self.stage is not None:
            log(f"stage {self.stage} done in {now - self.stage_start:.1f} s (at {now - self.t0:.1f} s)")
        self.stage, self.stage_start, self.stage_timeout = name, now, timeout

    def emit(self, src, text):
        line = f"[{src}] {text}"
        self.tail.append(line)
        del self.tail[:-40]
        self.logf.write(line + "\n")
        self.logf.flush()
        if src in ("xen", "dom0") and not self.verbose:
            return
        if src not in ("xen", "dom0") and self.quiet_guests:
            return
        print(line, flush=True)

    def handle(self, raw):
        """One serial line. The grammar of the lines (Xen's, relayed guest
        consoles, `HARNESS:` messages from dom0-init.sh) is in
        docs/testing.md, "Console grammar"; change both together."""
        text = raw.rstrip("\r\n")
        if text.startswith("(XEN)"):
            self.emit("xen", text)
            return
        m = re.match(r"^G([A-Za-z0-9_.-]+)\| ?(.*)$", text)
        if m and m.group(1) in self.guests:
            g = self.guests[m.group(1)]
            body = m.group(2)
            bt = BT_RE.match(body)
            if bt:
                # A return address points after its call: look up the byte before it.
                addr = int(bt.group(2), 16) - (0 if bt.group(3) else 1)
                sym = self.symbols.resolve(addr)
                if sym:
                    body = f"{bt.group(1)}{bt.group(2)} {sym}{bt.group(3) or ''}"
            g.lines.append(body)
            self.emit(g.name, body)
            if self.on_guest_line:
                self.on_guest_line(g, body)
            return
        self.emit("dom0", text)
        self.dom0_lines.append(text)
        if self.on_dom0_line:
            self.on_dom0_line(text)
        if not text.startswith("HARNESS: "):
            return
        msg = text[len("HARNESS: "):]
        if msg.startswith("stage dom0-setup"):
            self.set_stage("dom0-setup", self.STAGE_TIMEOUTS["dom0-setup"])
        elif msg.startswith("dom0 ready"):
            self.set_stage("guest-create", self.STAGE_TIMEOUTS["guest-create"])
        elif msg.startswith("stage guest-run "):
            name = msg.split()[2]
            g = self.guests.get(name)
            if g:
                g.started = time.monotonic()
                self.set_stage(f"guest-run {name}", g.timeout)
        elif msg.startswith("guest ") and " action " in msg and "took=" in msg:
            g = self.guests.get(msg.split()[1])
            if g:
                g.action_seconds = float(msg.split("took=", 1)[1])
        elif msg.startswith("guest ") and " cpu first=" in msg:
            g = self.guests.get(msg.split()[1])
            if g:
                g.cpu = dict(kv.split("=", 1) for kv in msg.split()[3:] if "=" in kv)
        elif msg.startswith("guest ") and " ended reason=" in msg:
            name = msg.split()[1]
            reason = msg.split("reason=", 1)[1].strip()
            g = self.guests.get(name)
            if g:
                g.reason, g.ended = reason, time.monotonic()
                log(f"guest {name} ended: {reason}" + (f" after {g.ended - g.started:.1f} s" if g.started else ""))
            remaining = [n for n in self.order if self.guests[n].reason is None]
            if remaining:
                self.set_stage("guest-create", self.STAGE_TIMEOUTS["guest-create"])
            else:
                self.set_stage("shutdown", self.STAGE_TIMEOUTS["shutdown"])
        elif msg.startswith("guest ") and len(msg.split()) > 3 and msg.split()[2] in LIFECYCLE_OPS \
                and msg.split()[3].startswith("rc="):
            parts = msg.split()
            g = self.guests.get(parts[1])
            if g:
                g.lifecycle.append((parts[2], dict(kv.split("=", 1) for kv in parts[3:] if "=" in kv)))
            if not self.verbose:
                print(f"[dom0] {text}", flush=True)
        elif msg.startswith("guest ") and " corrupt " in msg:
            g = self.guests.get(msg.split()[1])
            if g:
                g.corruptions.append(msg.split(" corrupt ", 1)[1])
            if not self.verbose:
                print(f"[dom0] {text}", flush=True)
        elif msg.startswith("error") or msg.startswith("  "):
            if msg.startswith("error"):
                self.env_errors.append(msg)
            if not self.verbose:
                print(f"[dom0] {text}", flush=True)
        elif msg.startswith("done"):
            self.finished = True

    def run(self):
        for f in (self.kernel, os.path.join(self.dom0, "xen"), os.path.join(self.dom0, "vmlinux"),
                  os.path.join(self.dom0, "initrd.cpio")):
            if not os.path.exists(f):
                print(f"xenrun: missing {f} (run `make kernel dom0`)", file=sys.stderr)
                return EXIT_ENV
        if not shutil.which("qemu-system-x86_64"):
            print("xenrun: qemu-system-x86_64 not found (run `make deps`)", file=sys.stderr)
            return EXIT_ENV
        os.makedirs(self.logs, exist_ok=True)
        self.logf = open(self.log_path, "w")
        initrd = self.initrd()
        cmd = self.qemu_cmd(initrd)
        self.logf.write("# " + " ".join(shlex.quote(c) for c in cmd) + "\n")
        self.t0 = time.monotonic()
        self.finished = False
        log("booting Xen + dom0 under QEMU (TCG); console log: " + self.log_path)
        self.set_stage("xen-boot", self.STAGE_TIMEOUTS["xen-boot"])
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        buf = b""
        timed_out = None
        last_progress = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if now - self.stage_start > self.stage_timeout:
                    timed_out = self.stage
                    break
                if now - last_progress > 15 and not self.verbose:
                    log(f"... stage {self.stage}: {now - self.stage_start:.0f} s (total {now - self.t0:.0f} s)")
                    last_progress = now
                events = sel.select(timeout=1.0)
                if not events:
                    if proc.poll() is not None:
                        break
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self.handle(line.decode("utf-8", "replace"))
                    last_progress = time.monotonic() if self.stage.startswith("guest-run") else last_progress
                if self.finished:
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if buf:
                self.handle(buf.decode("utf-8", "replace"))
        total = time.monotonic() - self.t0
        if timed_out:
            print(f"\nxenrun: TIMEOUT in stage '{timed_out}' after {self.stage_timeout} s; last console lines:",
                  flush=True)
            for line in self.tail[-20:]:
                print("    " + line)
            self.logf.write(f"# TIMEOUT in stage {timed_out}\n")
            self.logf.close()
            self.timed_out = timed_out
            return EXIT_TIMEOUT
        self.timed_out = None
        if self.stage != "shutdown" and not self.finished:
            print(f"\nxenrun: QEMU exited during stage '{self.stage}'; last console lines:", flush=True)
            for line in self.tail[-20:]:
                print("    " + line)
            self.logf.close()
            return EXIT_ENV
        log(f"finished in {total:.1f} s")
        self.logf.close()
        return EXIT_OK


def guest_cfg(cfg_path, name, extra_args, memory=None, ramdisk=False, kernel=None):
    """The xl config for a guest inside dom0: the project's cfg with the
    kernel path, name and command line adjusted."""
    text = open(cfg_path).read()
    extra = (cfg_value(text, "extra") or "").strip()
    if extra_args:
        extra = (extra + " " + extra_args).strip()
    text = re.sub(r'^\s*(kernel|name|extra|on_reboot|ramdisk)\s*=.*$', "", text, flags=re.M)
    if memory is not None:
        text = re.sub(r'^\s*memory\s*=.*$', "", text, flags=re.M)
        text += f"memory = {memory}\n"
    text += f'name = "{name}"\nkernel = "{kernel or "/guest/unikernel.elf"}"\nextra = "{extra}"\n'
    text += 'on_reboot = "destroy"\n'
    if ramdisk:
        text += f'ramdisk = "/guest/{name}.ramdisk"\n'
    return text


def on_real_xen():
    try:
        caps = open("/proc/xen/capabilities").read()
    except OSError:
        return False
    return "control_d" in caps and shutil.which("xl") is not None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["run"])
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--dom0", required=True)
    ap.add_argument("--logs", required=True)
    ap.add_argument("--args", default="")
    ap.add_argument("--programs", default="",
                    help="a command list to run (docs/programs.md), with Debian's xenstore tools in the boot module")
    ap.add_argument("--timeout", type=int, default=120, help="seconds the guest may run")
    ap.add_argument("--verbose", action="store_true", help="also show Xen's and dom0's lines")
    a = ap.parse_args()

    ramdisk = None
    args = a.args
    if a.programs.strip():
        # The list goes into a file of the boot module: no quoting or length
        # limits of the kernel command line apply.
        ramdisk = cpio_newc([("etc", 0o040755, b""), ("etc/programs.list", 0o100644, a.programs.encode() + b"\n")]
                            + debian_tools_entries())
        args = (args + " programs-file=/etc/programs.list").strip()

    if on_real_xen() and not os.environ.get("XENRUN_FORCE_QEMU"):
        log("this host is a Xen dom0: running xl create -c directly")
        text = open(a.cfg).read()
        extra = ((cfg_value(text, "extra") or "") + " " + args).strip()
        cmd = ["xl", "create", "-c", a.cfg, f'extra="{extra}"']
        if ramdisk is not None:
            rd = os.path.join(os.path.dirname(os.path.abspath(a.kernel)), "programs.cpio")
            with open(rd, "wb") as f:
                f.write(ramdisk)
            cmd.append(f'ramdisk="{rd}"')
        return subprocess.call(cmd)

    g = Guest("unikernel", guest_cfg(a.cfg, "unikernel", args, ramdisk=ramdisk is not None), a.timeout,
              ramdisk=ramdisk)
    job = 'run_guest unikernel /guest/unikernel.cfg\n'
    r = Run(a.kernel, a.dom0, a.logs, [g], job, verbose=a.verbose or os.environ.get("VERBOSE", "") not in ("", "0"))
    rc = r.run()
    if rc != EXIT_OK:
        return rc
    if r.env_errors or g.reason in (None, "create-failed"):
        return EXIT_ENV
    if g.reason == "poweroff":
        return EXIT_OK
    if g.reason == "crash":
        return EXIT_CRASH
    return EXIT_OTHER


if __name__ == "__main__":
    sys.exit(main())
