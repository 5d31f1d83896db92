/* A program of our own on libxenstore, packed like Debian's tools
 * (docs/programs.md): writes a node in a transaction, lists its parent,
 * watches it, and reads the event that a second write fires. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : "data/xs-demo";
    char path[256];
    unsigned int len, num;
    struct xs_handle *xs = xs_open(0);
    if (!xs) {
        fputs("xs_open failed\n", stderr);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/value", base);
    xs_transaction_t t = xs_transaction_start(xs);
    if (!xs_write(xs, t, path, "first", 5) || !xs_transaction_end(xs, t, 0)) {
        fputs("write failed\n", stderr);
        return 1;
    }
    char *v = xs_read(xs, XBT_NULL, path, &len);
    printf("read %s = %.*s (%u bytes)\n", path, (int)len, v ? v : "", len);
    free(v);
    char **dir = xs_directory(xs, XBT_NULL, base, &num);
    for (unsigned int i = 0; dir && i < num; i++)
        printf("entry %u: %s\n", i, dir[i]);
    free(dir);
    if (!xs_watch(xs, path, "demo-token")) {
        fputs("watch failed\n", stderr);
        return 1;
    }
    for (int events = 0; events < 2; events++) {
        char **ev = xs_read_watch(xs, &num);
        if (!ev)
            return 1;
        printf("event %d: %s %s\n", events, ev[XS_WATCH_PATH], ev[XS_WATCH_TOKEN]);
        free(ev);
        if (events == 0 && !xs_write(xs, XBT_NULL, path, "second", 6))
            return 1;
    }
    xs_unwatch(xs, path, "demo-token");
    xs_rm(xs, XBT_NULL, base);
    xs_close(xs);
    puts("done");
    return 0;
}
