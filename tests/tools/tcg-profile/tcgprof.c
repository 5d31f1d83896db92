/*
 * tcgprof: a QEMU TCG plugin that shows where a xenstore request's guest
 * CPU goes when Xen runs under QEMU (docs/bench.md, `make profile`).
 *
 * Every executed translation block is classed by its address: our kernel
 * (0xffffffff80000000 + 4 MiB), Xen (0xffff800000000000..0xffff880000000000),
 * dom0's kernel (other kernel addresses) or dom0's user space. Xen's blocks
 * are charged to the last guest that ran ("xen_ours" or "xen_dom0"), which
 * is how Xen accounts a vCPU's time too. Per class it counts instructions,
 * block executions and host TSC cycles between block starts (the plugin's
 * own callback cost is included, so cycles are only comparable within one
 * profile; a Xen block that seems to run for over 5M cycles is the idle
 * loop halted and is counted apart, as "idle"). While our kernel's context is current it also counts the
 * distinct code and data pages touched between two switches into it: each
 * switch flushes QEMU's soft TLB.
 *
 * Output, rewritten every 0.5 s of host time (QEMU is killed, not exited):
 *   out=FILE       "SNAP" lines of cumulative counters (default /tmp/tcgprof.txt)
 *   FILE.blocks    per block of ours and xen_ours: "addr cycles executions"
 *   FILE.callers   for each watch=ADDR: "addr caller_block executions"
 * Arguments: out=FILE, watch=HEXADDR (up to 64; a function's entry).
 *
 * Written against the plugin API of QEMU 7.2 (version 1); the few
 * declarations it needs are repeated here, since Debian ships no header.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                                          void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

enum { OURS, XEN_OURS, DOM0K, DOM0U, XEN_DOM0, NCLS };
static const char *names[NCLS] = {"ours", "xen_ours", "dom0k", "dom0u", "xen_dom0"};

static int classify(uint64_t va) {
    if (va >= 0xffff800000000000ull && va < 0xffff880000000000ull)
        return XEN_OURS; /* which guest: decided at execution */
    if (va >= 0xffffffff80000000ull && va < 0xffffffff80400000ull)
        return OURS;
    if (va >= 0xffff800000000000ull)
        return DOM0K;
    return DOM0U;
}

/* Translated blocks: index -> address (the callback's user data carries the index). */
#define MAX_TBS (1u << 22)
static uint64_t tb_addr[MAX_TBS];
static uint32_t n_tbs;

static char out_path[512] = "/tmp/tcgprof.txt";
static FILE *out;
static uint64_t insns[NCLS], blocks[NCLS], cycles[NCLS], switches_in;
static int ctx = DOM0K; /* OURS or DOM0K: the guest Xen currently works for */
static int last_cls = -1;
static uint64_t last_t, last_addr, next_dump;
static int nsnap;
/* A Xen block that "takes" longer than this (about 2 ms of host time) is
 * the idle vCPU halted, not work for either guest. */
#define IDLE_CYCLES 5000000ull
static uint64_t idle_cycles;

/* Per-block cycles of ours and xen_ours (open addressing). */
#define HS (1u << 16)
static struct { uint64_t addr, cyc, n; } hist[HS];
static void hist_add(uint64_t addr, uint64_t c) {
    uint64_t h = (addr * 0x9E3779B97F4A7C15ull) >> 48;
    for (uint32_t k = 0; k < HS; k++, h++) {
        h &= HS - 1;
        if (hist[h].addr == addr || hist[h].addr == 0) {
            hist[h].addr = addr;
            hist[h].cyc += c;
            hist[h].n++;
            return;
        }
    }
}

/* Callers of watched functions: (target, block before it) -> count. */
static uint64_t watch[64];
static int n_watch;
#define CS (1u << 14)
static struct { uint64_t tgt, from, n; } callers[CS];
static void caller_add(uint64_t tgt, uint64_t from) {
    uint64_t h = ((tgt ^ (from * 31)) * 0x9E3779B97F4A7C15ull) >> 50;
    for (uint32_t k = 0; k < CS; k++, h++) {
        h &= CS - 1;
        if ((callers[h].tgt == tgt && callers[h].from == from) || callers[h].tgt == 0) {
            callers[h].tgt = tgt;
            callers[h].from = from;
            callers[h].n++;
            return;
        }
    }
}

/* Distinct pages touched while our context is current, reset at each switch in. */
#define PS (1u << 12)
static struct { uint64_t pg; uint32_t gen; } pset[PS];
static uint32_t gen = 1;
static uint64_t pages[4]; /* ours code, ours data, Xen code, Xen data */
static void page_touch(uint64_t va, int kind) {
    uint64_t pg = va >> 12;
    uint64_t h = (pg * 0x9E3779B97F4A7C15ull) >> 52;
    for (int k = 0; k < 64; k++, h++) {
        h &= PS - 1;
        if (pset[h].gen != gen) {
            pset[h].gen = gen;
            pset[h].pg = pg;
            pages[kind]++;
            return;
        }
        if (pset[h].pg == pg)
            return;
    }
}

static void dump(void) {
    fprintf(out, "SNAP %d t=%llu", nsnap++, (unsigned long long)__rdtsc());
    for (int i = 0; i < NCLS; i++)
        fprintf(out, " %s=%lu/%lu/%lu", names[i], insns[i], blocks[i], cycles[i]);
    fprintf(out, " switches_in=%lu pages=%lu/%lu/%lu/%lu idle=%lu\n", switches_in, pages[0], pages[1], pages[2],
            pages[3], idle_cycles);
    fflush(out);
    char p[600];
    snprintf(p, sizeof p, "%s.blocks", out_path);
    FILE *f = fopen(p, "w");
    if (f) {
        for (uint32_t i = 0; i < HS; i++)
            if (hist[i].addr)
                fprintf(f, "%lx %lu %lu\n", hist[i].addr, hist[i].cyc, hist[i].n);
        fclose(f);
    }
    snprintf(p, sizeof p, "%s.callers", out_path);
    f = fopen(p, "w");
    if (f) {
        for (uint32_t i = 0; i < CS; i++)
            if (callers[i].tgt)
                fprintf(f, "%lx %lx %lu\n", callers[i].tgt, callers[i].from, callers[i].n);
        fclose(f);
    }
}

static void exec_cb(unsigned int vcpu, void *ud) {
    (void)vcpu;
    uint64_t u = (uint64_t)(uintptr_t)ud;
    uint64_t t = __rdtsc();
    uint64_t va = tb_addr[u & 0xffffffff];
    int cls = classify(va);
    if (cls == XEN_OURS) {
        cls = ctx == OURS ? XEN_OURS : XEN_DOM0;
    } else {
        if (cls == OURS && ctx != OURS) {
            switches_in++;
            gen++;
        }
        ctx = cls == OURS ? OURS : DOM0K;
    }
    if (ctx == OURS)
        page_touch(va, cls == OURS ? 0 : 2);
    if (last_cls >= 0) {
        uint64_t d = t - last_t;
        if ((last_cls == XEN_OURS || last_cls == XEN_DOM0) && d > IDLE_CYCLES) {
            idle_cycles += d; /* Xen's idle loop (hlt): nobody's CPU time */
        } else {
            cycles[last_cls] += d;
            if (last_cls == OURS || last_cls == XEN_OURS)
                hist_add(last_addr, d);
        }
    }
    for (int k = 0; k < n_watch; k++)
        if (va == watch[k])
            caller_add(va, last_addr);
    insns[cls] += u >> 32;
    blocks[cls]++;
    last_cls = cls;
    last_addr = va;
    if (t > next_dump) {
        next_dump = t + 500000000ull;
        dump();
    }
    last_t = __rdtsc(); /* the dump and this callback are not charged to the block */
}

static void mem_cb(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *ud) {
    (void)vcpu;
    (void)info;
    if (ctx == OURS)
        page_touch(vaddr, (uintptr_t)ud ? 3 : 1);
}

static void trans_cb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    uint64_t va = qemu_plugin_tb_vaddr(tb);
    uint32_t i = __atomic_fetch_add(&n_tbs, 1, __ATOMIC_RELAXED);
    if (i >= MAX_TBS)
        i = MAX_TBS - 1; /* only after millions of retranslations: the last slot is reused */
    tb_addr[i] = va;
    uint64_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, exec_cb, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)((n << 32) | i));
    int c = classify(va);
    if (c == OURS || c == XEN_OURS)
        for (size_t k = 0; k < n; k++)
            qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, k), mem_cb, QEMU_PLUGIN_CB_NO_REGS,
                                             QEMU_PLUGIN_MEM_RW, (void *)(uintptr_t)(c == XEN_OURS));
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "out=", 4))
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        else if (!strncmp(argv[i], "watch=", 6) && n_watch < 64)
            watch[n_watch++] = strtoull(argv[i] + 6, 0, 16);
    }
    out = fopen(out_path, "w");
    if (!out)
        return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, trans_cb);
    return 0;
}
