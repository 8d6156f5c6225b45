/* SPDX-License-Identifier: Apache-2.0 */
/* Without libFuzzer: replay every file given (or every file in a given directory) through the target,
 * so the seed corpus and past crashers run as regression tests in every build. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "secure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
        char *buf = NULL;
        size_t size = 0;
        int r;

        r = read_full_file(path, 16 * 1024 * 1024, &buf, &size);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return r;
        }
        (void) LLVMFuzzerTestOneInput((const uint8_t *) buf, size);
        free(buf);
        return 0;
}

int main(int argc, char *argv[]) {
        int n = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        perror(argv[i]);
                        return 1;
                }
                if (S_ISDIR(st.st_mode)) {
                        struct dirent **list;
                        int k = scandir(argv[i], &list, NULL, alphasort);
                        if (k < 0) {
                                perror(argv[i]);
                                return 1;
                        }
                        for (int j = 0; j < k; j++) {
                                char p[4096];
                                if (list[j]->d_name[0] != '.') {
                                        snprintf(p, sizeof(p), "%s/%s", argv[i], list[j]->d_name);
                                        if (run_file(p) < 0)
                                                return 1;
                                        n++;
                                }
                                free(list[j]);
                        }
                        free(list);
                } else {
                        if (run_file(argv[i]) < 0)
                                return 1;
                        n++;
                }
        }
        if (n == 0) {
                fprintf(stderr, "no inputs\n");
                return 1;
        }
        printf("%d inputs replayed\n", n);
        return 0;
}
