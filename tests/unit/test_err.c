/* Unit tests for fl_err (codes, names, context messages) and fl_log levels. */
#include <errno.h>

#include "fl_err.h"
#include "fl_log.h"
#include "fl_test.h"

static void test_names_and_text(void) {
  FL_CHECK_STR(fl_err_name(FL_ECORRUPT), "FL_ECORRUPT");
  FL_CHECK_STR(fl_err_name(FL_EINTERNAL), "FL_EINTERNAL");
  FL_CHECK_STR(fl_err_name(-ENOENT), "ENOENT");
  FL_CHECK_STR(fl_err_name(0), "OK");
  FL_CHECK_STR(fl_strerror(FL_ENOTDICOM), "input is not a DICOM file");
  FL_CHECK_STR(fl_strerror(-ENOSPC), "No space left on device");
  FL_CHECK_STR(fl_strerror(0), "success");
  FL_CHECK_STR(fl_err_name(12345), "EUNKNOWN");
  FL_CHECK(FL_EINTERNAL < FL_ECORRUPT && FL_ECORRUPT < FL_ERR_BASE);
}

static void test_context(void) {
  fl_errmsg_t em = {{0}};
  FL_CHECK_STR(fl_errmsg_str(&em, FL_EUID), fl_strerror(FL_EUID));
  FL_CHECK_EQ(fl_errf(&em, FL_EDICOM, "missing %s", "StudyInstanceUID"), FL_EDICOM);
  FL_CHECK_STR(em.msg, "missing StudyInstanceUID");
  FL_CHECK_EQ(fl_errprefix(&em, FL_EDICOM, "%s", "a.dcm"), FL_EDICOM);
  FL_CHECK_STR(em.msg, "a.dcm: missing StudyInstanceUID");
  FL_CHECK_EQ(fl_errf(NULL, FL_ETOOBIG, "ignored"), FL_ETOOBIG);
  FL_CHECK_STR(fl_errmsg_str(NULL, FL_ETOOBIG), fl_strerror(FL_ETOOBIG));
}

static void test_log_levels(void) {
  FL_CHECK_EQ(fl_log_level_parse("DEBUG"), FL_LOG_DEBUG);
  FL_CHECK_EQ(fl_log_level_parse("warning"), FL_LOG_WARN);
  FL_CHECK_EQ(fl_log_level_parse("off"), FL_LOG_OFF);
  FL_CHECK_EQ(fl_log_level_parse("loud"), -1);
  fl_log_set_level(FL_LOG_ERROR);
  FL_CHECK_EQ(fl_log_get_level(), FL_LOG_ERROR);
  fl_info("test", "not printed");
  fl_error("test", "printed once: %d", 42);
}

int main(void) {
  FL_RUN(test_names_and_text);
  FL_RUN(test_context);
  FL_RUN(test_log_levels);
  FL_DONE();
}
