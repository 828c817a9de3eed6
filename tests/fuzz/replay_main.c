/* Plain replay driver for a libFuzzer target: feeds every file named on the
 * command line (or found in a named directory) to LLVMFuzzerTestOneInput,
 * each copied into an exact-size allocation so ASan sees any overread.
 * Built with gcc under ctest; crashing inputs stay in the corpus as
 * regression files. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fl__replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
    fprintf(stderr, "%s: read failed\n", path);
    fclose(f);
    free(buf);
    return -1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, (size_t)n);
  free(buf);
  return 0;
}

static int fl__replay_path(const char *path, int *count) {
  struct stat st;
  if (stat(path, &st) != 0) {
    perror(path);
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    (*count)++;
    return fl__replay_file(path);
  }
  struct dirent **names;
  int n = scandir(path, &names, NULL, alphasort);
  if (n < 0) {
    perror(path);
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    if (names[i]->d_name[0] != '.') {
      char sub[4096];
      snprintf(sub, sizeof sub, "%s/%s", path, names[i]->d_name);
      if (fl__replay_path(sub, count) != 0)
        rc = -1;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  int count = 0, rc = 0;
  for (int i = 1; i < argc; i++)
    if (fl__replay_path(argv[i], &count) != 0)
      rc = 1;
  if (count == 0) {
    fprintf(stderr, "no corpus inputs found\n");
    return 1;
  }
  printf("replayed %d inputs\n", count);
  return rc;
}
