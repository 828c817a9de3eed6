/* Unit tests for fl_config: every value type with its units and bounds,
 * defaults < file < flags, each error with its exact message, and hostile
 * input (empty, truncated, garbage, NUL bytes, over-long lines, huge). */
#include <errno.h>
#include <unistd.h>

#include "fl_config.h"
#include "fl_test.h"

struct node_conf {
  char id[32];
  char data[256];
  fl_addr_t listen;
  char dc[16];
  int64_t workers;
  uint64_t max_frame;
  uint64_t scrub_rate;
  int64_t idle_timeout_ms;
  bool scrub_enabled;
  int fsync_mode;
};

static const char *const fsync_names[] = {"always", "batch", "never", NULL};

static const fl_cfg_field_t node_fields[] = {
    FL_CFG_STR("node", "id", struct node_conf, id, NULL, FL_CFG_REQUIRED, "--id",
               "Node id, unique in the cluster."),
    FL_CFG_PATHF("node", "data", struct node_conf, data, NULL, FL_CFG_REQUIRED, "--data",
                 "Directory holding volumes and the index."),
    FL_CFG_ADDRF("node", "listen", struct node_conf, listen, "0.0.0.0:7000", FL_CFG_PORT0,
                 "--listen", "Address to accept clients and peers on."),
    FL_CFG_STR("node", "dc", struct node_conf, dc, "dc1", 0, "--dc", "Datacenter name."),
    FL_CFG_INTF("node", "workers", struct node_conf, workers, "4", 1, 64, 0, NULL,
                "Disk worker threads."),
    FL_CFG_SIZEF("net", "max_frame", struct node_conf, max_frame, "64MiB", 4 * FL_CFG_KIB,
                 FL_CFG_GIB, 0, NULL, "Largest frame accepted."),
    FL_CFG_DURF("net", "idle_timeout", struct node_conf, idle_timeout_ms, "60s", FL_CFG_SEC,
                INT64_MAX, 0, NULL, "Close connections idle this long."),
    FL_CFG_RATEF("scrub", "rate", struct node_conf, scrub_rate, "50MB/s", 0, 0, 0, NULL,
                 "Scrub read rate."),
    FL_CFG_BOOLF("scrub", "enabled", struct node_conf, scrub_enabled, "yes", 0, NULL,
                 "Scrub in the background."),
    FL_CFG_ENUMF("node", "fsync", struct node_conf, fsync_mode, "batch", fsync_names, 0, NULL,
                 "When to fsync."),
    FL_CFG_END,
};

static const char *const good_ini = "; a node\n"
                                    "[node]\n"
                                    "id = n1\n"
                                    "data = /srv/filmless\n"
                                    "listen = [::1]:7100\n"
                                    "workers = 8 ; inline comment\n"
                                    "fsync = always\n"
                                    "\n"
                                    "# hash comment\n"
                                    "[net]\n"
                                    "max_frame = 16M\n"
                                    "idle_timeout = 5m\n"
                                    "[scrub]\n"
                                    "rate = 1GiB/s\n"
                                    "enabled = off\n";

static int load(fl_cfg_t *cfg, struct node_conf *c, const char *text, fl_errmsg_t *em) {
  FL_CHECK_OK(fl_cfg_init(cfg, node_fields, c, NULL));
  return fl_cfg_load_string(cfg, "node.ini", text, strlen(text), em);
}

/* Loads "[sec]\nkey = value\n" and returns the error message ("" on success). */
static const char *one(const char *sec, const char *key, const char *value) {
  static fl_errmsg_t em;
  static struct node_conf c;
  fl_cfg_t cfg;
  char text[512];
  snprintf(text, sizeof text, "[%s]\n%s = %s\n", sec, key, value);
  memset(&em, 0, sizeof em);
  int rc = load(&cfg, &c, text, &em);
  FL_CHECK(rc == 0 || rc == FL_ECONFIG);
  FL_CHECK((rc == 0) == (em.msg[0] == '\0'));
  return em.msg;
}

static void test_defaults(void) {
  struct node_conf c;
  memset(&c, 0x7f, sizeof c);
  fl_cfg_t cfg;
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  FL_CHECK_STR(c.id, "");
  FL_CHECK_STR(c.dc, "dc1");
  FL_CHECK_STR(c.listen.host, "0.0.0.0");
  FL_CHECK_EQ(c.listen.port, 7000);
  FL_CHECK_EQ(c.workers, 4);
  FL_CHECK_EQ(c.max_frame, 64ull << 20);
  FL_CHECK_EQ(c.idle_timeout_ms, 60000);
  FL_CHECK_EQ(c.scrub_rate, 50000000);
  FL_CHECK(c.scrub_enabled);
  FL_CHECK_EQ(c.fsync_mode, 1);
  FL_CHECK_EQ(fl_cfg_source(&cfg, "node", "dc"), FL_CFG_DEFAULT);
  FL_CHECK_EQ(fl_cfg_source(&cfg, "node", "id"), FL_CFG_UNSET);
  FL_CHECK_EQ(fl_cfg_source(&cfg, "node", "nope"), -1);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_cfg_finish(&cfg, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "missing required keys: [node] id (--id), [node] data (--data)");
}

static void test_load_all_types(void) {
  struct node_conf c;
  fl_cfg_t cfg;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(load(&cfg, &c, good_ini, &em));
  FL_CHECK_OK(fl_cfg_finish(&cfg, &em));
  FL_CHECK_STR(c.id, "n1");
  FL_CHECK_STR(c.data, "/srv/filmless");
  FL_CHECK_STR(c.listen.host, "::1");
  FL_CHECK_EQ(c.listen.port, 7100);
  FL_CHECK_EQ(c.workers, 8);
  FL_CHECK_EQ(c.fsync_mode, 0);
  FL_CHECK_EQ(c.max_frame, 16ull << 20);
  FL_CHECK_EQ(c.idle_timeout_ms, 300000);
  FL_CHECK_EQ(c.scrub_rate, 1ull << 30);
  FL_CHECK(!c.scrub_enabled);
  FL_CHECK_STR(c.dc, "dc1");
  FL_CHECK_EQ(fl_cfg_source(&cfg, "node", "id"), FL_CFG_FILE);
}

static void test_units(void) {
  static const struct {
    const char *text;
    uint64_t v;
  } sizes[] = {{"4096", 4096},        {"4096B", 4096},       {"64K", 64 << 10},
               {"64k", 64 << 10},     {"64KiB", 64 << 10},   {"64KB", 64000},
               {"64 MiB", 64 << 20},  {"64MB", 64000000},    {"1G", 1ull << 30},
               {"1GB", 1000000000},   {"2TiB", 2ull << 40},  {"3TB", 3000000000000ull},
               {"0", 0}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    uint64_t v = 1;
    FL_CHECK_OK(fl_cfg_parse_size(sizes[i].text, &v, NULL));
    FL_CHECK_EQ(v, sizes[i].v);
  }
  static const char *const bad_sizes[] = {"", "K", "-1", "1.5G", "64Q", "64 M B", "0x10",
                                          "8EiB", "99999999999999999999", "9000000T"};
  fl_errmsg_t em = {{0}};
  for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
    uint64_t v = 7;
    FL_CHECK_ERR(fl_cfg_parse_size(bad_sizes[i], &v, &em), FL_ECONFIG);
    FL_CHECK_EQ(v, 7);
  }
  FL_CHECK_ERR(fl_cfg_parse_size("9000000T", &(uint64_t){0}, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "expected a size below 8EiB, got '9000000T'");

  uint64_t r;
  FL_CHECK_OK(fl_cfg_parse_rate("50MB/s", &r, NULL));
  FL_CHECK_EQ(r, 50000000);
  FL_CHECK_OK(fl_cfg_parse_rate("50MiB/s", &r, NULL));
  FL_CHECK_EQ(r, 50ull << 20);
  FL_CHECK_OK(fl_cfg_parse_rate("100B/s", &r, NULL));
  FL_CHECK_EQ(r, 100);
  FL_CHECK_OK(fl_cfg_parse_rate("0B/s", &r, NULL));
  FL_CHECK_EQ(r, 0);
  static const char *const bad_rates[] = {"50", "50/s", "MB/s", "50MB", "50MB/h", "/s", "50 /s"};
  for (size_t i = 0; i < sizeof bad_rates / sizeof bad_rates[0]; i++)
    FL_CHECK_ERR(fl_cfg_parse_rate(bad_rates[i], &r, NULL), FL_ECONFIG);

  int64_t ms;
  static const struct {
    const char *text;
    int64_t ms;
  } durs[] = {{"0", 0}, {"500ms", 500}, {"30s", 30000}, {"5m", 300000}, {"2h", 7200000},
              {"1d", 86400000}, {"10 s", 10000}};
  for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
    FL_CHECK_OK(fl_cfg_parse_duration(durs[i].text, &ms, NULL));
    FL_CHECK_EQ(ms, durs[i].ms);
  }
  static const char *const bad_durs[] = {"30", "1S", "1.5s", "-1s", "1w", "s", "",
                                         "99999999999999999d"};
  for (size_t i = 0; i < sizeof bad_durs / sizeof bad_durs[0]; i++)
    FL_CHECK_ERR(fl_cfg_parse_duration(bad_durs[i], &ms, NULL), FL_ECONFIG);

  static const char *const t[] = {"true", "YES", "on", "1"}, *const f[] = {"false", "No", "OFF",
                                                                           "0"};
  for (size_t i = 0; i < 4; i++) {
    bool b = false;
    FL_CHECK_OK(fl_cfg_parse_bool(t[i], &b, NULL));
    FL_CHECK(b);
    FL_CHECK_OK(fl_cfg_parse_bool(f[i], &b, NULL));
    FL_CHECK(!b);
  }
  bool b;
  FL_CHECK_ERR(fl_cfg_parse_bool("y", &b, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "expected true/false, yes/no, on/off or 1/0, got 'y'");

  int64_t i64;
  FL_CHECK_OK(fl_cfg_parse_int("-9223372036854775808", &i64, NULL));
  FL_CHECK(i64 == INT64_MIN);
  FL_CHECK_OK(fl_cfg_parse_int("+9223372036854775807", &i64, NULL));
  FL_CHECK(i64 == INT64_MAX);
  FL_CHECK_ERR(fl_cfg_parse_int("9223372036854775808", &i64, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "expected a 64-bit integer, got '9223372036854775808' (out of range)");
  FL_CHECK_ERR(fl_cfg_parse_int("12abc", &i64, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "expected an integer like 42, got '12abc'");

  char buf[32];
  fl_cfg_format_size(64ull << 20, buf, sizeof buf);
  FL_CHECK_STR(buf, "64MiB");
  fl_cfg_format_size(1000, buf, sizeof buf);
  FL_CHECK_STR(buf, "1000B");
  fl_cfg_format_size(0, buf, sizeof buf);
  FL_CHECK_STR(buf, "0B");
  fl_cfg_format_duration(90000, buf, sizeof buf);
  FL_CHECK_STR(buf, "90s");
  fl_cfg_format_duration(1500, buf, sizeof buf);
  FL_CHECK_STR(buf, "1500ms");
  fl_cfg_format_duration(7200000, buf, sizeof buf);
  FL_CHECK_STR(buf, "2h");
}

static void test_value_errors(void) {
  FL_CHECK_STR(one("scrub", "rate", "fast"),
               "node.ini:2: [scrub] rate: expected a rate like 50MB/s, got 'fast'");
  FL_CHECK_STR(one("node", "workers", "100"),
               "node.ini:2: [node] workers: expected an integer from 1 to 64, got '100'");
  FL_CHECK_STR(one("node", "workers", "0"),
               "node.ini:2: [node] workers: expected an integer from 1 to 64, got '0'");
  FL_CHECK_STR(one("node", "workers", "four"),
               "node.ini:2: [node] workers: expected an integer like 42, got 'four'");
  FL_CHECK_STR(one("net", "max_frame", "2G"),
               "node.ini:2: [net] max_frame: expected a size from 4KiB to 1GiB, got '2G'");
  FL_CHECK_STR(one("net", "max_frame", "1K"),
               "node.ini:2: [net] max_frame: expected a size from 4KiB to 1GiB, got '1K'");
  FL_CHECK_STR(one("net", "max_frame", "4KiB"), "");
  FL_CHECK_STR(one("net", "max_frame", "1GiB"), "");
  FL_CHECK_STR(one("net", "idle_timeout", "500ms"),
               "node.ini:2: [net] idle_timeout: expected a duration at least 1s, got '500ms'");
  FL_CHECK_STR(one("net", "idle_timeout", "soon"),
               "node.ini:2: [net] idle_timeout: expected a duration like 500ms, 30s, 5m, 2h or "
               "1d, got 'soon'");
  FL_CHECK_STR(one("scrub", "enabled", "maybe"),
               "node.ini:2: [scrub] enabled: expected true/false, yes/no, on/off or 1/0, got "
               "'maybe'");
  FL_CHECK_STR(one("node", "fsync", "sometimes"),
               "node.ini:2: [node] fsync: expected one of always, batch, never, got 'sometimes'");
  FL_CHECK_STR(one("node", "listen", "127.0.0.1"),
               "node.ini:2: [node] listen: expected HOST:PORT like 10.0.0.5:7000 or [::1]:7000, "
               "got '127.0.0.1' (missing port (expected HOST:PORT))");
  FL_CHECK_STR(one("node", "listen", "127.0.0.1:0"), "");
  FL_CHECK_STR(one("node", "dc", "a-very-long-datacenter-name"),
               "node.ini:2: [node] dc: value too long (27 bytes, at most 15)");
  FL_CHECK_STR(one("node", "data", ""), "node.ini:2: [node] data: expected a path, got ''");
  FL_CHECK_STR(one("node", "dc", ""), "");
  FL_CHECK_STR(one("node", "workers", ""),
               "node.ini:2: [node] workers: expected an integer like 42, got ''");
}

static void test_structure_errors(void) {
  FL_CHECK_STR(one("scrub", "rat", "1MB/s"),
               "node.ini:2: [scrub] rat: unknown key (did you mean 'rate'?)");
  FL_CHECK_STR(one("node", "Workers", "2"),
               "node.ini:2: [node] Workers: unknown key (did you mean 'workers'?)");
  FL_CHECK_STR(one("node", "rate", "1MB/s"),
               "node.ini:2: [node] rate: unknown key (it belongs in [scrub])");
  FL_CHECK_STR(one("node", "colour", "blue"), "node.ini:2: [node] colour: unknown key");
  FL_CHECK_STR(one("scrubb", "rate", "1MB/s"),
               "node.ini:1: unknown section [scrubb] (did you mean [scrub]?)");
  FL_CHECK_STR(one("cluster", "rate", "1MB/s"), "node.ini:1: unknown section [cluster]");

  struct node_conf c;
  fl_cfg_t cfg;
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(load(&cfg, &c, "[node]\nid = a\n\n[scrub]\nrate = 1MB/s\n[node]\nid = b\n", &em),
               FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:7: [node] id: duplicate key (first set on line 2)");

  FL_CHECK_ERR(load(&cfg, &c, "id = a\n", &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:1: key 'id' before any [section] header");

  FL_CHECK_ERR(load(&cfg, &c, "[node]\n= a\n", &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:2: [node] missing key name before '='");

  FL_CHECK_ERR(load(&cfg, &c, "[node]\nid = a\ndc = x\nthis is not ini\nworkers = 2\n", &em),
               FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:4: malformed line 'this is not ini': expected '[section]', "
                       "'key = value' or a comment");

  FL_CHECK_ERR(load(&cfg, &c, "[node\nid = a\n", &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:1: section header '[node' lacks its closing ']'");

  FL_CHECK_ERR(load(&cfg, &c, "[node]\nid = a\n  dc = x\n", &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:3: indented line 'dc = x' would continue the value of 'id'; "
                       "continuation lines are not supported");

  FL_CHECK_ERR(load(&cfg, &c, "[node]\nid = a\n  dc = x ; note\n", &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:3: indented line 'dc = x ; note' would continue the value of 'id'; "
                       "continuation lines are not supported");
  FL_CHECK_ERR(load(&cfg, &c, "[node]\nid = a\n\tid\n", &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:3: indented line 'id' would continue the value of 'id'; "
                       "continuation lines are not supported");
  /* A value that repeats its key is still an ordinary line. */
  FL_CHECK_OK(load(&cfg, &c, "[node]\nid = id\ndc = dc ; x\n", &em));
  FL_CHECK_STR(c.dc, "dc");
  /* An indented key right after a header is an ordinary key. */
  FL_CHECK_OK(load(&cfg, &c, "[node]\n  id = a\n", &em));
  FL_CHECK_STR(c.id, "a");

  /* The first error wins even when a syntax error follows it. */
  FL_CHECK_ERR(load(&cfg, &c, "[node]\nworkers = 0\nbroken\n", &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:2: [node] workers: expected an integer from 1 to 64, got '0'");
}

static void test_hostile_input(void) {
  struct node_conf c;
  fl_cfg_t cfg;
  fl_errmsg_t em = {{0}};
  /* Empty and comment-only inputs are valid and leave defaults. */
  FL_CHECK_OK(load(&cfg, &c, "", &em));
  FL_CHECK_OK(load(&cfg, &c, "\n\n; nothing\n# here\n\r\n", &em));
  FL_CHECK_EQ(c.workers, 4);
  /* CRLF line ends and a UTF-8 BOM. */
  FL_CHECK_OK(load(&cfg, &c, "\xEF\xBB\xBF[node]\r\nworkers = 9\r\n", &em));
  FL_CHECK_EQ(c.workers, 9);
  /* Truncated mid-key (no newline at the end): the last line still counts. */
  FL_CHECK_OK(load(&cfg, &c, "[node]\nworkers = 3", &em));
  FL_CHECK_EQ(c.workers, 3);
  FL_CHECK_ERR(load(&cfg, &c, "[node]\nwork", &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:2: malformed line 'work': expected '[section]', 'key = value' "
                       "or a comment");
  /* NUL byte inside a line. */
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  FL_CHECK_ERR(fl_cfg_load_string(&cfg, "node.ini", "[node]\nid = a\0b\n", 15, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:2: line contains a NUL byte");
  /* Binary garbage. */
  FL_CHECK_ERR(load(&cfg, &c, "\x01\x02\xff\xfe garbage\n", &em), FL_ECONFIG);
  FL_CHECK(strstr(em.msg, "node.ini:1: malformed line") == em.msg);
  /* A line longer than inih's buffer is refused, not split. */
  char line[400];
  memcpy(line, "[node]\ndc = ", 12);
  memset(line + 12, 'x', 250);
  line[262] = '\0';
  FL_CHECK_ERR(load(&cfg, &c, line, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:2: line too long (255 bytes, at most 199)");
  /* The limit is exact: 199 bytes pass, 200 do not (a comment line here). */
  memcpy(line, "[node]\n;", 8);
  memset(line + 8, 'c', 198);
  line[206] = '\0';
  FL_CHECK_OK(load(&cfg, &c, line, &em));
  line[206] = 'c';
  line[207] = '\0';
  FL_CHECK_ERR(load(&cfg, &c, line, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini:2: line too long (200 bytes, at most 199)");
  /* Huge input is refused before parsing. */
  size_t big = FL_CFG_MAX_BYTES + 1;
  char *huge = malloc(big);
  FL_CHECK(huge);
  memset(huge, '\n', big);
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  FL_CHECK_ERR(fl_cfg_load_string(&cfg, "node.ini", huge, big, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "node.ini: too large (1048577 bytes, at most 1048576)");
  FL_CHECK_OK(fl_cfg_load_string(&cfg, "node.ini", huge, big - 1, &em));
  free(huge);
}

static void test_flags_override(void) {
  struct node_conf c;
  fl_cfg_t cfg;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  /* Flag first, file second: the flag still wins. */
  FL_CHECK_OK(fl_cfg_set(&cfg, "node", "listen", "127.0.0.1:7000", "--listen", &em));
  FL_CHECK_OK(fl_cfg_set_flag(&cfg, "--id", "flagged", &em));
  FL_CHECK_OK(fl_cfg_load_string(&cfg, "node.ini", good_ini, strlen(good_ini), &em));
  FL_CHECK_STR(c.listen.host, "127.0.0.1");
  FL_CHECK_STR(c.id, "flagged");
  FL_CHECK_EQ(c.workers, 8); /* from the file */
  FL_CHECK_EQ(fl_cfg_source(&cfg, "node", "listen"), FL_CFG_FLAG);
  /* Flag after the file; the last flag wins. */
  FL_CHECK_OK(fl_cfg_set(&cfg, "node", "workers", "2", "--workers", &em));
  FL_CHECK_OK(fl_cfg_set(&cfg, "node", "workers", "3", "--workers", &em));
  FL_CHECK_EQ(c.workers, 3);
  FL_CHECK_OK(fl_cfg_finish(&cfg, &em));

  /* The file's value is still validated when a flag overrides it. */
  FL_CHECK_ERR(fl_cfg_load_string(&cfg, "b.ini", "[node]\nid = \nlisten = nope\n", 29, &em),
               FL_ECONFIG);
  FL_CHECK(strncmp(em.msg, "b.ini:3: [node] listen: expected HOST:PORT", 42) == 0);

  FL_CHECK_ERR(fl_cfg_set(&cfg, "node", "listen", "[::1", "--listen", &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "--listen: [node] listen: expected HOST:PORT like 10.0.0.5:7000 or "
                       "[::1]:7000, got '[::1' ('[' without closing ']' (IPv6 is written "
                       "[::1]:7000))");
  FL_CHECK_STR(c.listen.host, "127.0.0.1");
  FL_CHECK_ERR(fl_cfg_set(&cfg, "scrub", "rte", "1MB/s", "--scrub-rate", &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "--scrub-rate: [scrub] rte: unknown key (did you mean 'rate'?)");
  FL_CHECK_ERR(fl_cfg_set(&cfg, "node", "workers", "0", NULL, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "[node] workers: expected an integer from 1 to 64, got '0'");
  FL_CHECK_ERR(fl_cfg_set_flag(&cfg, "--lisen", "x", &em), FL_ENOTFOUND);
  FL_CHECK_STR(em.msg, "unknown option --lisen (did you mean --listen?)");
  FL_CHECK_ERR(fl_cfg_set_flag(&cfg, "--colour", "x", &em), FL_ENOTFOUND);
  FL_CHECK_STR(em.msg, "unknown option --colour");

  /* A second file may override the first; duplicates are per file. */
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  FL_CHECK_OK(fl_cfg_load_string(&cfg, "a.ini", "[node]\nworkers = 5\n", 19, &em));
  FL_CHECK_OK(fl_cfg_load_string(&cfg, "b.ini", "[node]\nworkers = 6\n", 19, &em));
  FL_CHECK_EQ(c.workers, 6);
  FL_CHECK_ERR(fl_cfg_finish(&cfg, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "missing required keys: [node] id (--id), [node] data (--data)");
  FL_CHECK_OK(fl_cfg_set_flag(&cfg, "--id", "x", &em));
  FL_CHECK_ERR(fl_cfg_finish(&cfg, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "missing required key: [node] data (--data)");
}

static void test_apply_arg(void) {
  struct node_conf c;
  fl_cfg_t cfg;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  char *argv[] = {"prog", "--id", "a1", "--dc=dc9", "--config", "/nonexistent/x.ini", "stray",
                  "--data", NULL};
  int argc = 8, i = 1;
  FL_CHECK_OK(fl_cfg_apply_arg(&cfg, argc, argv, &i, &em));
  FL_CHECK_EQ(i, 2);
  FL_CHECK_STR(c.id, "a1");
  i = 3;
  FL_CHECK_OK(fl_cfg_apply_arg(&cfg, argc, argv, &i, &em));
  FL_CHECK_EQ(i, 3);
  FL_CHECK_STR(c.dc, "dc9");
  i = 4;
  FL_CHECK(fl_cfg_apply_arg(&cfg, argc, argv, &i, &em) < 0); /* the file is read */
  FL_CHECK(strstr(em.msg, "/nonexistent/x.ini") != NULL);
  i = 6;
  FL_CHECK_ERR(fl_cfg_apply_arg(&cfg, argc, argv, &i, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "unexpected argument 'stray' (try --help)");
  i = 7;
  FL_CHECK_ERR(fl_cfg_apply_arg(&cfg, argc, argv, &i, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, "--data needs a value");
}

static int own_calls;
static int own_switch(void *ctx, const char *arg) {
  (void)ctx;
  if (strcmp(arg, "--mine") != 0)
    return 0;
  own_calls++;
  return 1;
}

static void no_usage(FILE *f) { (void)f; }

static void test_cli_run(void) {
  struct node_conf c;
  fl_cfg_t cfg;
  char level[16] = "warn";
  fl_cfg_cli_t cli = {"prog", "1.0", no_usage, own_switch, NULL, level};
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  char *ok[] = {"prog", "serve", "--mine", "--id", "n1", "--data=/d", NULL};
  FL_CHECK_EQ(fl_cfg_cli_run(&cfg, &cli, 6, ok, 2), -1);
  FL_CHECK_EQ(own_calls, 1);
  FL_CHECK_STR(c.id, "n1");
  FL_CHECK_STR(c.data, "/d");
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  char *missing[] = {"prog", "--id", "n1", NULL};
  FL_CHECK_EQ(fl_cfg_cli_run(&cfg, &cli, 3, missing, 1), 2); /* --data is required */
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  char *bad[] = {"prog", "--nope", "1", NULL};
  FL_CHECK_EQ(fl_cfg_cli_run(&cfg, &cli, 3, bad, 1), 2);
  strcpy(level, "loud");
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  if (!getenv("FILMLESS_LOG"))
    FL_CHECK_EQ(fl_cfg_cli_run(&cfg, &cli, 6, ok, 2), 2);
  char *help[] = {"prog", "--id", "x", "-h", NULL};
  FL_CHECK_EQ(fl_cfg_cli_run(&cfg, &cli, 4, help, 1), 0);
}

static void test_file(void) {
  const char *tmp = getenv("FL_TMP");
  char path[512];
  snprintf(path, sizeof path, "%s/test_config_%d.ini", tmp ? tmp : "/tmp", (int)getpid());
  FILE *f = fopen(path, "w");
  FL_CHECK(f);
  fputs("[node]\nid = x\n\n[scrub]\nenabled = sure\n", f);
  fclose(f);
  struct node_conf c;
  fl_cfg_t cfg;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  FL_CHECK_ERR(fl_cfg_load_file(&cfg, path, &em), FL_ECONFIG);
  char want[700];
  snprintf(want, sizeof want,
           "%s:5: [scrub] enabled: expected true/false, yes/no, on/off or 1/0, got 'sure'", path);
  FL_CHECK_STR(em.msg, want);
  f = fopen(path, "w");
  fputs(good_ini, f);
  fclose(f);
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &c, NULL));
  FL_CHECK_OK(fl_cfg_load_file(&cfg, path, &em));
  FL_CHECK_EQ(c.scrub_rate, 1ull << 30);
  unlink(path);
  FL_CHECK_ERR(fl_cfg_load_file(&cfg, path, &em), -ENOENT);
  snprintf(want, sizeof want, "cannot read config '%s': No such file or directory", path);
  FL_CHECK_STR(em.msg, want);
  FL_CHECK_ERR(fl_cfg_load_file(&cfg, "/", &em), -EISDIR);
  FL_CHECK_STR(em.msg, "cannot read config '/': Is a directory");
}

struct bad_conf {
  int64_t n;
  char s[1];
};
static const char *const no_names[] = {NULL};

static void test_bad_tables(void) {
  struct bad_conf b;
  fl_cfg_t cfg;
  fl_errmsg_t em = {{0}};
  const fl_cfg_field_t bad_def[] = {
      FL_CFG_INTF("a", "n", struct bad_conf, n, "99", 1, 10, 0, NULL, "n"), FL_CFG_END};
  FL_CHECK_ERR(fl_cfg_init(&cfg, bad_def, &b, &em), FL_EINTERNAL);
  FL_CHECK_STR(em.msg, "config table: [a] n: default: expected an integer from 1 to 10, got '99'");
  const fl_cfg_field_t dup[] = {FL_CFG_INTF("a", "n", struct bad_conf, n, "1", 0, 0, 0, NULL, ""),
                                FL_CFG_INTF("a", "n", struct bad_conf, n, "1", 0, 0, 0, NULL, ""),
                                FL_CFG_END};
  FL_CHECK_ERR(fl_cfg_init(&cfg, dup, &b, &em), FL_EINTERNAL);
  FL_CHECK_STR(em.msg, "config table: [a] n declared twice");
  const fl_cfg_field_t small[] = {FL_CFG_STR("a", "s", struct bad_conf, s, NULL, 0, NULL, ""),
                                  FL_CFG_END};
  FL_CHECK_ERR(fl_cfg_init(&cfg, small, &b, &em), FL_EINTERNAL);
  FL_CHECK_STR(em.msg, "config table: [a] s: string buffer too small");
  const fl_cfg_field_t req[] = {
      FL_CFG_INTF("a", "n", struct bad_conf, n, "1", 0, 0, FL_CFG_REQUIRED, NULL, ""), FL_CFG_END};
  FL_CHECK_ERR(fl_cfg_init(&cfg, req, &b, &em), FL_EINTERNAL);
  FL_CHECK_STR(em.msg, "config table: [a] n: required key with a default");
  int e;
  (void)e;
  const fl_cfg_field_t noname[] = {
      {.section = "a", .key = "e", .type = FL_CFG_ENUM, .size = sizeof(int), .names = no_names},
      FL_CFG_END};
  FL_CHECK_ERR(fl_cfg_init(&cfg, noname, &b, &em), FL_EINTERNAL);
  FL_CHECK_STR(em.msg, "config table: [a] e: enum without names");
  /* Unbounded int accepts the whole int64 range. */
  const fl_cfg_field_t ok[] = {FL_CFG_INTF("a", "n", struct bad_conf, n, "-5", 0, 0, 0, NULL, ""),
                               FL_CFG_END};
  FL_CHECK_OK(fl_cfg_init(&cfg, ok, &b, &em));
  FL_CHECK_EQ(b.n, -5);
  FL_CHECK_OK(fl_cfg_load_string(&cfg, "x", "[a]\nn=-9223372036854775808\n", 27, &em));
  FL_CHECK(b.n == INT64_MIN);
}

/* The sample written by fl_cfg_print_defaults loads as-is to the defaults,
 * and uncommenting every key with a default loads the same values. */
static void test_print_defaults(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  FL_CHECK(f);
  FL_CHECK_OK(fl_cfg_print_defaults(node_fields, f));
  fclose(f);
  FL_CHECK(strstr(text, "\n[net]\n; Largest frame accepted.\n; size (K/M/G/T = 1024^n, "
                        "KB/MB/GB/TB = 1000^n) from 4KiB to 1GiB\n;max_frame = 64MiB\n"));
  FL_CHECK(strstr(text, "; Node id, unique in the cluster.\n; string, at most 31 bytes; "
                        "required; flag --id\n;id = \n"));
  FL_CHECK(strstr(text, "; one of always, batch, never\n;fsync = batch\n"));
  FL_CHECK(strstr(text, "; duration (ms, s, m, h, d) at least 1s\n;idle_timeout = 60s\n"));
  FL_CHECK(strstr(text, "port 0 = any free port; flag --listen\n;listen = 0.0.0.0:7000\n"));

  struct node_conf a, b;
  memset(&a, 0, sizeof a);
  fl_cfg_t cfg;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &a, NULL));
  FL_CHECK_OK(fl_cfg_load_string(&cfg, "sample.ini", text, len, &em));
  /* Uncomment ";key = value" lines that carry a value. */
  for (char *p = text; (p = strstr(p, "\n;")) != NULL; p++)
    if (p[2] != ' ' && strstr(p + 2, " = ") && strstr(p + 2, " = ")[3] != '\n' &&
        strstr(p + 2, " = ") < strchr(p + 2, '\n'))
      p[1] = '\n';
  memset(&b, 0, sizeof b);
  FL_CHECK_OK(fl_cfg_init(&cfg, node_fields, &b, NULL));
  FL_CHECK_OK(fl_cfg_load_string(&cfg, "sample.ini", text, strlen(text), &em));
  FL_CHECK_EQ(fl_cfg_source(&cfg, "net", "max_frame"), FL_CFG_FILE);
  FL_CHECK_MEM(&a, &b, sizeof a);
  free(text);
}

int main(void) {
  FL_RUN(test_defaults);
  FL_RUN(test_load_all_types);
  FL_RUN(test_units);
  FL_RUN(test_value_errors);
  FL_RUN(test_structure_errors);
  FL_RUN(test_hostile_input);
  FL_RUN(test_flags_override);
  FL_RUN(test_apply_arg);
  FL_RUN(test_cli_run);
  FL_RUN(test_file);
  FL_RUN(test_bad_tables);
  FL_RUN(test_print_defaults);
  FL_DONE();
}
