/* Index keys and values of the storage node's RocksDB index: a pure codec,
 * no I/O. Key byte order equals logical (pg, tenant, study, series, sop,
 * fragment) order, and each level's prefix is a byte prefix. */
#ifndef FL_IDX_KEY_H
#define FL_IDX_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"

/* ---- Keys -----------------------------------------------------------------
 * Layout (docs/index.md has the same table):
 *
 *   OFFSET  SIZE          DESCRIPTION
 *   0       4             pg, big-endian u32, < FL_IDX_PG_RESERVED
 *   4       t+1           tenant, [a-z0-9][a-z0-9_-]{0,31}, then 0x00
 *   ..      (s+2)/2       StudyInstanceUID, packed UID (below)
 *   ..      (r+2)/2       SeriesInstanceUID, packed UID
 *   ..      (i+2)/2       SOPInstanceUID, packed UID
 *   ..      2             fragment index, big-endian u16
 *
 * A packed UID holds one character per 4-bit nibble, high nibble first:
 * '.' = 1, '0'..'9' = 2..11, then a terminator nibble 0, then a 0 nibble of
 * padding if that ends mid-byte. UIDs are only digits and dots, so this
 * halves the key (a 64-character UID takes 33 bytes). The terminator (0x00
 * in the tenant, nibble 0 in UIDs) sorts below every allowed character, so a
 * shorter string sorts first ("1.2.3" < "1.2.34") and no string's encoding
 * is a prefix of another's: the study prefix of "1.2.3" never matches
 * "1.2.34".
 * Keys whose first four bytes are FF FF FF FF are reserved for the index's
 * own metadata (checkpoint, format); no object key can start that way. */

#define FL_IDX_TENANT_MAX 32
#define FL_IDX_UID_MAX 64
#define FL_IDX_PG_RESERVED 0xFFFFFFFFu
#define FL_IDX_UID_PACKED_MAX ((FL_IDX_UID_MAX + 2) / 2)
#define FL_IDX_KEY_MAX (4 + (FL_IDX_TENANT_MAX + 1) + 3 * FL_IDX_UID_PACKED_MAX + 2)

typedef struct fl_idx_key {
  uint32_t pg;                          /* placement group, < FL_IDX_PG_RESERVED */
  char tenant[FL_IDX_TENANT_MAX + 1];   /* NUL-terminated */
  char study[FL_IDX_UID_MAX + 1];       /* StudyInstanceUID */
  char series[FL_IDX_UID_MAX + 1];      /* SeriesInstanceUID */
  char sop[FL_IDX_UID_MAX + 1];         /* SOPInstanceUID */
  uint16_t frag;                        /* fragment index */
} fl_idx_key_t;

/* How much of a key a prefix covers. FL_IDX_LVL_OBJECT is every fragment
 * of one SOP instance; FL_IDX_LVL_ALL is the empty prefix (whole index). */
enum fl_idx_level {
  FL_IDX_LVL_ALL = 0,
  FL_IDX_LVL_PG,
  FL_IDX_LVL_TENANT,
  FL_IDX_LVL_STUDY,
  FL_IDX_LVL_SERIES,
  FL_IDX_LVL_OBJECT,
  FL_IDX_LVL_KEY /* the full key, fragment included */
};

/* Fills a key from its parts; strings are copied. Returns FL_EUID for a
 * malformed or over-long UID and -EINVAL for a bad tenant or a reserved pg,
 * naming the field in em. k is unspecified after an error. */
int fl_idx_key_make(fl_idx_key_t *k, uint32_t pg, const char *tenant, const char *study,
                    const char *series, const char *sop, uint16_t frag, fl_errmsg_t *em);

/* Encodes the first `level` fields of k into buf (cap bytes; FL_IDX_KEY_MAX
 * always suffices) and stores the length in *len. Fields beyond `level` are
 * not read. Validates every field it encodes (same errors as make). */
int fl_idx_key_encode(const fl_idx_key_t *k, enum fl_idx_level level, uint8_t *buf,
                      size_t cap, size_t *len, fl_errmsg_t *em);

/* Decodes a full key. Refuses truncated input (FL_ETRUNC), bad fields
 * (FL_ECORRUPT) and trailing bytes (FL_ECORRUPT), naming the problem in em.
 * buf is borrowed for the call; k is unspecified after an error. */
int fl_idx_key_decode(const uint8_t *buf, size_t len, fl_idx_key_t *k, fl_errmsg_t *em);

/* Decodes an object key: the FL_IDX_LVL_OBJECT encoding (pg .. SOP UID, no
 * fragment index), which is what a volume record stores; k->frag is set to
 * frag. Same refusals as fl_idx_key_decode. */
int fl_idx_objkey_decode(const uint8_t *buf, size_t len, uint16_t frag, fl_idx_key_t *k,
                         fl_errmsg_t *em);

/* A stable 64-bit hash of k's object (pg, tenant, study, series, SOP; not
 * the fragment index): fl_pg_hash64 (FNV-1a 64, then fmix64) of the
 * FL_IDX_LVL_OBJECT encoding. Every fragment of one object hashes alike, on
 * every machine; the repair summaries XOR these. 0 for an invalid key. */
uint64_t fl_idx_key_obj_hash(const fl_idx_key_t *k);

/* Field validators (0, FL_EUID for a UID, -EINVAL for a tenant). The index accepts UIDs of
 * digits and dots, 1..64 characters; fuller DICOM UID rules are checked
 * where objects enter the system. */
int fl_idx_check_uid(const char *uid, const char *what, fl_errmsg_t *em);
int fl_idx_check_tenant(const char *tenant, fl_errmsg_t *em);

/* ---- Values ---------------------------------------------------------------
 * Version 1 layout, little-endian integers:
 *
 *   OFFSET  SIZE    DESCRIPTION
 *   0       1       version (FL_IDX_VALUE_VERSION)
 *   1       1       flags: bit0 tombstone, bit1 PHI encrypted, bit2 dropped,
 *                   bit3 payload encrypted; others 0
 *   2       2       total value length in bytes, CRC included
 *   4       4       volume id
 *   8       8       record offset in the volume
 *   16      4       record length (header + payload)
 *   20      4       payload CRC32C
 *   24      2       fragment index
 *   26      1       layout (0 replica, 1 erasure-coded; from the record)
 *   27      1       reserved, 0
 *   28      8       object size (whole object, bytes)
 *   36      8       sequence number of the record
 *   44      4       series number (i32, FL_IDX_NO_NUMBER when absent)
 *   48      4       instance number (i32, FL_IDX_NO_NUMBER when absent)
 *   52      1+n     SOP class UID, u8 length then bytes (n <= 64)
 *   ..      1+n     modality, u8 length then bytes (n <= 16)
 *   ..      1+n     study date, u8 length then bytes (n <= 8, YYYYMMDD)
 *   ..      2+n     patient id, u16 length then opaque bytes (n <= 256)
 *   ..      2+n     patient name, u16 length then opaque bytes (n <= 256)
 *   len-4   4       CRC32C of bytes [0, len-4)
 *
 * Patient id and name are opaque: clear text today, ciphertext (with its
 * own nonce and key id inside) once encryption at rest lands, marked by
 * FL_IDX_VF_PHI_ENC. The index never interprets them. */

#define FL_IDX_VALUE_VERSION 1
#define FL_IDX_VALUE_FIXED 52
#define FL_IDX_SOPCLASS_MAX 64
#define FL_IDX_MODALITY_MAX 16
#define FL_IDX_DATE_MAX 8
#define FL_IDX_PHI_MAX 256
#define FL_IDX_VALUE_MIN (FL_IDX_VALUE_FIXED + 1 + 1 + 1 + 2 + 2 + 4)
#define FL_IDX_VALUE_MAX                                                              \
  (FL_IDX_VALUE_MIN + FL_IDX_SOPCLASS_MAX + FL_IDX_MODALITY_MAX + FL_IDX_DATE_MAX + \
   2 * FL_IDX_PHI_MAX)
#define FL_IDX_NO_NUMBER INT32_MIN

#define FL_IDX_VF_TOMBSTONE 0x01u /* the record deletes the object */
#define FL_IDX_VF_PHI_ENC 0x02u   /* patient id/name are ciphertext */
/* With FL_IDX_VF_TOMBSTONE: this node's copy was dropped (repair moved it,
 * or it was quarantined as corrupt), the object itself is not deleted.
 * Hidden like a tombstone, but never listed as one. */
#define FL_IDX_VF_DROPPED 0x04u
/* The payload is client-encrypted (record flag FL_VOL_REC_F_ENCRYPTED). */
#define FL_IDX_VF_ENCRYPTED 0x08u
#define FL_IDX_VF_KNOWN \
  (FL_IDX_VF_TOMBSTONE | FL_IDX_VF_PHI_ENC | FL_IDX_VF_DROPPED | FL_IDX_VF_ENCRYPTED)

typedef struct fl_idx_attrs {
  char sop_class[FL_IDX_SOPCLASS_MAX + 1]; /* SOPClassUID, may be empty */
  char modality[FL_IDX_MODALITY_MAX + 1];  /* e.g. "CT", may be empty */
  char study_date[FL_IDX_DATE_MAX + 1];    /* "YYYYMMDD" or empty */
  int32_t series_number;                   /* FL_IDX_NO_NUMBER if absent */
  int32_t instance_number;                 /* FL_IDX_NO_NUMBER if absent */
  uint16_t patient_id_len;
  uint8_t patient_id[FL_IDX_PHI_MAX];      /* opaque, see FL_IDX_VF_PHI_ENC */
  uint16_t patient_name_len;
  uint8_t patient_name[FL_IDX_PHI_MAX];    /* opaque, see FL_IDX_VF_PHI_ENC */
} fl_idx_attrs_t;

typedef struct fl_idx_value {
  uint8_t flags;          /* FL_IDX_VF_* */
  uint8_t layout;         /* record layout flag, copied from the volume */
  uint16_t frag;          /* fragment index (same as in the key) */
  uint32_t volume;        /* volume id holding the record */
  uint64_t offset;        /* record offset in that volume */
  uint32_t rec_len;       /* record length, header + payload */
  uint32_t crc;           /* payload CRC32C */
  uint64_t obj_size;      /* whole object size in bytes */
  uint64_t seq;           /* record sequence number (newest wins) */
  fl_idx_attrs_t attrs;
} fl_idx_value_t;

/* Sets every attribute to "absent" (empty strings, FL_IDX_NO_NUMBER). */
void fl_idx_attrs_clear(fl_idx_attrs_t *a);

/* Encodes v into buf (cap bytes; FL_IDX_VALUE_MAX always suffices); *len
 * receives the length. The encoding is canonical: equal values give equal
 * bytes. Refuses unknown flags or over-long fields (FL_ETOOBIG). */
int fl_idx_value_encode(const fl_idx_value_t *v, uint8_t *buf, size_t cap, size_t *len,
                        fl_errmsg_t *em);

/* Parses an untrusted value. Every length is bounds-checked; refuses
 * empty/short input (FL_ETRUNC), oversized input (FL_ETOOBIG), another
 * version (FL_EVERSION), and a bad CRC, length, flag or field (FL_ECORRUPT),
 * naming the problem in em. buf is borrowed for the call; v is unspecified
 * after an error. */
int fl_idx_value_decode(const uint8_t *buf, size_t len, fl_idx_value_t *v, fl_errmsg_t *em);

/* Newest-wins order between two versions of one key: compares (seq,
 * volume, offset) lexicographically; returns <0, 0, >0. A relocated record
 * (compaction copies it, same seq, into a newer volume) thus wins too. */
int fl_idx_value_cmp(const fl_idx_value_t *a, const fl_idx_value_t *b);

#endif
