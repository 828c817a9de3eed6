/* A small DICOM element writer: appends explicit-VR little-endian elements,
 * defined-length sequences and the Part-10 preamble and meta group to a
 * growing memory buffer. Callers write elements in ascending tag order. */
#ifndef FL_DCM_WRITE_H
#define FL_DCM_WRITE_H

#include <stddef.h>
#include <stdint.h>

/* The buffer being built. Errors are sticky: after the first failure every
 * call is a no-op returning the same code, so a caller may write a whole data
 * set and check err (or the last return) once. */
typedef struct fl_dcm_buf {
  uint8_t *data; /* owned; NULL until the first write */
  size_t len;    /* bytes written */
  size_t cap;    /* bytes allocated */
  int err;       /* 0, or the first error (-ENOMEM, FL_ETOOBIG) */
} fl_dcm_buf_t;

void fl_dcm_buf_init(fl_dcm_buf_t *b);
/* Frees data; b may be initialised again. */
void fl_dcm_buf_free(fl_dcm_buf_t *b);
/* Keeps the allocation, forgets the contents and any error. */
void fl_dcm_buf_reset(fl_dcm_buf_t *b);

/* Text element. s is copied; its value is padded to even length with a NUL
 * for UI and a space for other VRs. vr is two upper-case letters. */
int fl_dcm_put_str(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, const char *vr, const char *s);
/* Binary element of n bytes copied from v (already little endian). */
int fl_dcm_put_bin(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, const char *vr, const void *v,
                   size_t n);
int fl_dcm_put_us(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, uint16_t v);
int fl_dcm_put_ul(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, uint32_t v);
/* Only the header of an element whose n-byte value the caller writes
 * elsewhere (Pixel Data written straight from its own buffer). n must be
 * even. */
int fl_dcm_put_header(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, const char *vr, uint32_t n);

/* Defined-length sequences and items: begin returns (in *mark) where the
 * length goes, end patches it. Nest freely; end in reverse order. */
int fl_dcm_seq_begin(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, size_t *mark);
int fl_dcm_item_begin(fl_dcm_buf_t *b, size_t *mark);
int fl_dcm_end(fl_dcm_buf_t *b, size_t mark);

/* The 128-byte zero preamble, "DICM" and the File Meta Information group
 * (with its group length) for explicit VR little endian. Strings borrowed
 * for the call. Must be the first thing written to b. */
int fl_dcm_put_part10_header(fl_dcm_buf_t *b, const char *sop_class_uid, const char *sop_uid,
                             const char *impl_class_uid, const char *impl_version);

#endif
