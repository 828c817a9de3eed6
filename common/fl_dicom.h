/* The DICOM shim: reads an instance's identity and a few attributes from a
 * memory buffer through GDCM, without copying the buffer and without loading
 * Pixel Data. The only C++ behind it is common/fl_dicom.cpp. */
#ifndef FL_DICOM_H
#define FL_DICOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* fl_err.h and fl_uid.h are plain C headers: the C++ shim sees them (and
 * everything below) with C linkage. */
#ifdef __cplusplus
extern "C" {
#endif

#include "fl_err.h"
#include "fl_uid.h"

/* Largest input accepted: 4 GiB. DICOM lengths are 32-bit, so a single
 * instance beyond this is not something a modality produces; the check is
 * made before a byte is read. */
#define FL_DICOM_MAX_BYTES ((uint64_t)4 << 30)

/* Sizes of the text attributes: the VR's maximum length plus a NUL (PN: three
 * component groups of 64 and two '='). Longer values are cut at the limit. */
#define FL_DICOM_LO_BUF 65
#define FL_DICOM_PN_BUF 195
#define FL_DICOM_SH_BUF 17

/* What the shim reads. Text is NUL-terminated with DICOM's trailing padding
 * removed; an absent optional attribute is an empty string. */
typedef struct fl_dicom_info {
  char study_uid[FL_UID_BUF];           /* (0020,000D) required */
  char series_uid[FL_UID_BUF];          /* (0020,000E) required */
  char sop_uid[FL_UID_BUF];             /* (0008,0018) required */
  char sop_class_uid[FL_UID_BUF];       /* (0008,0016) required */
  char transfer_syntax_uid[FL_UID_BUF]; /* (0002,0010), or what GDCM detected
                                           in a dataset without a meta group */
  char patient_id[FL_DICOM_LO_BUF];     /* (0010,0020) */
  char patient_name[FL_DICOM_PN_BUF];   /* (0010,0010) */
  char study_date[9];                   /* (0008,0020) YYYYMMDD */
  char modality[FL_DICOM_SH_BUF];       /* (0008,0060) */
  char accession_number[FL_DICOM_SH_BUF]; /* (0008,0050) */
  int32_t number_of_frames;             /* (0028,0008); 1 when absent */
  int32_t series_number;                /* (0020,0011); -1 when absent */
  int32_t instance_number;              /* (0020,0013); -1 when absent */
  bool has_part10;      /* 128-byte preamble + "DICM" + meta group present */
  bool has_pixel_data;  /* a (7FE0,0010) element was found (and fits) */
  uint64_t pixel_data_offset; /* offset of the Pixel Data value in the buffer;
                                 0 when absent or when the dataset is deflated */
} fl_dicom_info_t;

/* Parses buf[0..len). buf is borrowed for the duration of the call only and
 * never written; no copy of it is made. On success fills *out and returns 0.
 * Errors (out is then unspecified, em says what and where):
 *   FL_ETOOBIG   len > FL_DICOM_MAX_BYTES (nothing is read)
 *   FL_ENOTDICOM empty input, or neither a Part-10 file nor a dataset GDCM
 *                parses with any of the required UIDs
 *   FL_EDICOM    a Part-10 file (or a recognisable dataset) that is truncated,
 *                malformed, or lacks a required UID (the message names it)
 *   FL_EUID      a required UID is present but not a valid UID
 *   -ENOMEM      allocation failure inside GDCM
 * Thread-safe: calls share no state. */
int fl_dicom_parse(const void *buf, size_t len, fl_dicom_info_t *out, fl_errmsg_t *em);

/* Maps path read-only and parses it as fl_dicom_parse does; path is borrowed.
 * Also returns -errno for open/stat/mmap failures and FL_ENOTDICOM for a path
 * that is not a regular file. */
int fl_dicom_parse_file(const char *path, fl_dicom_info_t *out, fl_errmsg_t *em);

#ifdef __cplusplus
}
#endif

#endif
