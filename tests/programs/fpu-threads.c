/* Each thread sets its own SSE rounding mode (MXCSR) and x87 precision
 * (control word), then yields to the others many times (poll with a
 * timeout blocks in the kernel, so the threads interleave), checking after
 * every switch that its modes and a floating-point computation are still
 * its own. The kernel saves and restores x87/SSE state with the thread. */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>

#define THREADS 4
#define ROUNDS 50

static unsigned int get_mxcsr(void)
{
    unsigned int m;
    __asm__ volatile("stmxcsr %0" : "=m"(m));
    return m;
}

static void set_mxcsr(unsigned int m)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(m));
}

static unsigned short get_fpucw(void)
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw;
}

static void set_fpucw(unsigned short cw)
{
    __asm__ volatile("fldcw %0" : : "m"(cw));
}

static int failures[THREADS];

static void *worker(void *arg)
{
    long id = (long)arg;
    /* Rounding: nearest, down, up, toward zero (bits 13-14 of MXCSR). */
    unsigned int mx = 0x1f80 | ((unsigned int)id << 13);
    /* x87 precision control: single, reserved->double, double, extended. */
    unsigned short cw = (unsigned short)(0x037f & ~0x0300) | (unsigned short)((id == 1 ? 2 : id) << 8);
    volatile double one = 1.0, three = 3.0;
    set_mxcsr(mx);
    set_fpucw(cw);
    double expect = one / three;
    for (int r = 0; r < ROUNDS; r++) {
        poll(NULL, 0, 1);
        /* The low 6 bits of MXCSR are sticky exception flags. */
        if ((get_mxcsr() & ~0x3fu) != mx || get_fpucw() != cw || one / three != expect)
            failures[id]++;
    }
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            return 2;
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    int total = 0;
    for (int i = 0; i < THREADS; i++) {
        printf("thread %d: %d failures\n", i, failures[i]);
        total += failures[i];
    }
    printf("main mxcsr %#x\n", get_mxcsr() & ~0x3fu);
    return total != 0;
}
