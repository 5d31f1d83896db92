/* Allocates 64 KiB blocks (writing every page) until malloc fails, frees
 * them, and allocates again: running out of memory must be a NULL from
 * malloc (ENOMEM), never a crash, and freeing must make room again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (64 * 1024)
#define MAX_BLOCKS 100000

static void *blocks[MAX_BLOCKS];

int main(void)
{
    int n = 0;
    while (n < MAX_BLOCKS) {
        void *p = malloc(BLOCK);
        if (!p)
            break;
        memset(p, n & 0xff, BLOCK);
        blocks[n++] = p;
    }
    int err = errno;
    printf("allocated %d blocks before malloc failed with %s\n", n, err == ENOMEM ? "ENOMEM" : "something else");
    for (int i = 0; i < n; i++) {
        unsigned char *b = blocks[i];
        if (b[0] != (i & 0xff) || b[BLOCK - 1] != (i & 0xff)) {
            printf("block %d corrupted\n", i);
            return 1;
        }
        free(b);
    }
    void *again = malloc(BLOCK);
    printf("after free: %s\n", again ? "allocated again" : "still failing");
    return n > 0 && again && err == ENOMEM ? 0 : 1;
}
