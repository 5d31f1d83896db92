/* Faults on purpose: `crash segv` writes through a null pointer, `crash
 * smash` overflows a stack buffer (the canary at %fs:0x28 catches it),
 * `crash ud` executes an undefined instruction. Built without
 * _FORTIFY_SOURCE and with -fstack-protector-all, so only the canary can
 * catch the overflow. The kernel must end the
 * program with the signal Linux would send and keep running. */
#include <stdio.h>
#include <string.h>

static void smash(const char *s)
{
    char buf[8];
    for (volatile size_t i = 0; s[i]; i++)
        buf[i] = s[i];
    puts(buf);
}

int main(int argc, char **argv)
{
    volatile int *p = NULL;
    if (argc < 2)
        return 2;
    fputs("crash: ", stdout);
    puts(argv[1]);
    fflush(stdout);
    if (strcmp(argv[1], "segv") == 0)
        *p = 1;
    else if (strcmp(argv[1], "smash") == 0)
        smash(argv[2] ? argv[2] : "0123456789abcdefghijklmnopqrstuvwxyz0123456789");
    else if (strcmp(argv[1], "ud") == 0)
        __asm__ volatile("ud2");
    return 0;
}
