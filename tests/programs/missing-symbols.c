/* Imports functions the unikernel's libc does not provide (fork, execvp,
 * mkfifo): the loader must refuse it before it runs, listing them all. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    (void)argc;
    if (mkfifo("/tmp/fifo", 0600) == 0 && fork() == 0)
        execvp(argv[0], argv);
    puts("unreachable in the unikernel");
    return 0;
}
