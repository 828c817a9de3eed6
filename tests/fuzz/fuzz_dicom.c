/* Fuzz target for the DICOM shim: any bytes must give 0 or a clean error
 * code with a message, never a crash, an abort inside GDCM or an overread;
 * a success must return valid UIDs. */
#include <stdint.h>
#include <string.h>

#include "fl_dicom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fl_dicom_info_t info;
  fl_errmsg_t em = {{0}};
  int rc = fl_dicom_parse(data, size, &info, &em);
  if (rc == 0) {
    if (fl_uid_check(info.study_uid, strlen(info.study_uid), NULL) != 0 ||
        fl_uid_check(info.series_uid, strlen(info.series_uid), NULL) != 0 ||
        fl_uid_check(info.sop_uid, strlen(info.sop_uid), NULL) != 0 ||
        fl_uid_check(info.sop_class_uid, strlen(info.sop_class_uid), NULL) != 0 ||
        info.number_of_frames < 1)
      __builtin_trap();
  } else if (em.msg[0] == '\0' ||
             (rc != FL_ENOTDICOM && rc != FL_EDICOM && rc != FL_EUID && rc != FL_ETOOBIG)) {
    __builtin_trap();
  }
  return 0;
}
