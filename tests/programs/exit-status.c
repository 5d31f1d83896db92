/* Prints its arguments and environment variable GREETING, writes to
 * stderr, and exits with the status given as its first argument. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    const char *g = getenv("GREETING");
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    printf("GREETING=%s\n", g ? g : "(unset)");
    fputs("to stderr\n", stderr);
    fflush(stdout);
    return argc > 1 ? (int)strtol(argv[1], NULL, 10) : 0;
}
