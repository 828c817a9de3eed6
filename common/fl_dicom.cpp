// The GDCM shim, the only C++ in the tree: checks the element structure of a
// DICOM instance in a memory buffer, then lets GDCM read the few attributes
// it returns through a zero-copy std::streambuf, stopping before Pixel Data,
// and hands back plain C structs. Every exception is caught here; nothing
// C++ crosses the extern "C" boundary. (A deflated data set is the one case
// that is copied: it is inflated once to be checked.)
#include "fl_dicom.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <set>
#include <streambuf>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <gdcmDataSet.h>
#include <gdcmDicts.h>
#include <gdcmFileMetaInformation.h>
#include <gdcmGlobal.h>
#include <gdcmReader.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>

namespace {

// A read-only view of the caller's buffer as a seekable input stream buffer.
// GDCM seeks (to look for the preamble, to retry another encoding); seeks
// outside [0, len] fail instead of wandering off the buffer.
class fl_membuf : public std::streambuf {
 public:
  fl_membuf(const char *p, size_t n) {
    char *b = const_cast<char *>(p);  // never written: only get area is set
    setg(b, b, b + n);
  }

 protected:
  pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode which) override {
    if (!(which & std::ios_base::in))
      return pos_type(off_type(-1));
    off_type base = dir == std::ios_base::beg   ? 0
                    : dir == std::ios_base::cur ? off_type(gptr() - eback())
                                                : off_type(egptr() - eback());
    off_type pos = base + off;
    if (pos < 0 || pos > off_type(egptr() - eback()))
      return pos_type(off_type(-1));
    setg(eback(), eback() + pos, egptr());
    return pos_type(pos);
  }
  pos_type seekpos(pos_type pos, std::ios_base::openmode which) override {
    return seekoff(off_type(pos), std::ios_base::beg, which);
  }
};


struct fl_attr {
  uint16_t group, element;
  const char *name;
};

// Copies a text value without its trailing padding (spaces, NULs) and cut to
// cap-1 bytes. Returns false when the element is absent or has no value.
bool get_text(const gdcm::DataSet &ds, const fl_attr &a, char *out, size_t cap) {
  out[0] = '\0';
  gdcm::Tag t(a.group, a.element);
  if (!ds.FindDataElement(t))
    return false;
  const gdcm::ByteValue *bv = ds.GetDataElement(t).GetByteValue();
  if (!bv || !bv->GetPointer())
    return false;
  size_t n = bv->GetLength();
  const char *p = bv->GetPointer();
  n = fl_uid_trim_len(p, n);  // same padding rule: trailing NUL and space
  if (n >= cap)
    n = cap - 1;
  memcpy(out, p, n);
  out[n] = '\0';
  return true;
}

int get_uid(const gdcm::DataSet &ds, const fl_attr &a, char *out, fl_errmsg_t *em) {
  gdcm::Tag t(a.group, a.element);
  if (!ds.FindDataElement(t))
    return fl_errf(em, FL_EDICOM, "missing %s (%04X,%04X)", a.name, a.group, a.element);
  const gdcm::ByteValue *bv = ds.GetDataElement(t).GetByteValue();
  const char *p = bv ? bv->GetPointer() : nullptr;
  size_t n = p ? fl_uid_trim_len(p, bv->GetLength()) : 0;
  if (n == 0)
    return fl_errf(em, FL_EDICOM, "empty %s (%04X,%04X)", a.name, a.group, a.element);
  int rc = fl_uid_check(p, n, em);
  if (rc != 0)
    return fl_errprefix(em, rc, "%s (%04X,%04X)", a.name, a.group, a.element);
  memcpy(out, p, n);
  out[n] = '\0';
  return 0;
}

// An IS value as int32; def when absent; -1 (and false) when not a number.
bool get_is(const gdcm::DataSet &ds, const fl_attr &a, int32_t def, int32_t *out) {
  char txt[32];
  *out = def;
  if (!get_text(ds, a, txt, sizeof txt) || txt[0] == '\0')
    return true;
  char *end;
  errno = 0;
  long v = strtol(txt, &end, 10);  // skips IS's leading spaces
  if (errno || end == txt || *end != '\0' || v < INT32_MIN || v > INT32_MAX)
    return false;
  *out = int32_t(v);
  return true;
}

uint32_t load32(const unsigned char *p, bool big) {
  return big ? uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]
             : uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
}

// The items of encapsulated Pixel Data: byte fragments (not elements), each
// inside the buffer, closed by a sequence delimiter. *next (if non-NULL) is
// the offset after the delimiter.
int walk_fragments(const unsigned char *buf, size_t len, size_t p, size_t *next,
                   fl_errmsg_t *em) {
  for (;;) {
    if (len - p < 8)
      return fl_errf(em, FL_EDICOM,
                     "truncated: encapsulated Pixel Data ends at offset %zu without a "
                     "sequence delimiter",
                     len);
    uint32_t tag = load32(buf + p, false) << 16 | load32(buf + p, false) >> 16;
    uint32_t ilen = load32(buf + p + 4, false);
    p += 8;
    if (tag == 0xfffee0ddu) {
      if (next)
        *next = p;
      return 0;
    }
    if (tag != 0xfffee000u)
      return fl_errf(em, FL_EDICOM,
                     "malformed encapsulated Pixel Data: tag (%04X,%04X) at offset %zu is not "
                     "an item",
                     unsigned(tag >> 16), unsigned(tag & 0xffff), p - 8);
    if (ilen > len - p)
      return fl_errf(em, FL_EDICOM,
                     "truncated: Pixel Data fragment at offset %zu needs %u bytes, %zu remain",
                     p - 8, ilen, len - p);
    p += ilen;
  }
}

// GDCM stops right after the Pixel Data element's header without reading
// its value, so whether the value is all there is checked here, on the
// caller's bytes: a defined length must fit, an encapsulated value must be a
// run of items ending in a sequence delimiter inside the buffer.
int check_pixel_data(const unsigned char *buf, size_t len, size_t pos, bool big,
                     fl_dicom_info_t *out, fl_errmsg_t *em) {
  if (pos < 8 || pos > len)
    return fl_errf(em, FL_EDICOM, "Pixel Data header at an impossible offset %zu", pos);
  uint32_t vl = load32(buf + pos - 4, big);
  out->has_pixel_data = true;
  out->pixel_data_offset = pos;
  if (vl != 0xffffffffu) {
    if (vl > len - pos)
      return fl_errf(em, FL_EDICOM,
                     "truncated: Pixel Data (7FE0,0010) needs %u bytes at offset %zu, %zu remain",
                     vl, pos, len - pos);
    return 0;
  }
  return walk_fragments(buf, len, pos, nullptr, em);
}

const int kMaxDepth = 32;

struct walker {
  const unsigned char *b;
  size_t len;
  bool big;       // explicit VR big endian
  bool implicit;  // implicit VR little endian
  fl_dicom_info_t *out;
  fl_errmsg_t *em;
};

uint16_t load16(const unsigned char *p, bool big) {
  return big ? uint16_t(p[0] << 8 | p[1]) : uint16_t(p[1] << 8 | p[0]);
}

bool vr_long(const unsigned char *vr) {
  static const char *const longs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                      "SV", "UC", "UN", "UR", "UT", "UV"};
  for (const char *l : longs)
    if (vr[0] == l[0] && vr[1] == l[1])
      return true;
  return false;
}

// The VRs of PS3.5 Table 6.2-1. Anything else in a VR position makes GDCM
// switch encodings mid-stream, so it is refused here.
bool vr_known(const unsigned char *vr) {
  static const char kVrs[] = "AEASATCSDADSDTFDFLISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV";
  for (size_t i = 0; i + 1 < sizeof kVrs; i += 2)
    if (vr[0] == kVrs[i] && vr[1] == kVrs[i + 1])
      return true;
  return false;
}

int walk_items(walker &w, size_t p, size_t end, bool undef, int depth, size_t *next);

// Whether GDCM's public dictionary gives the tag the VR SQ.
bool dict_sq(uint16_t g, uint16_t e) {
  static const gdcm::Dicts &dicts = gdcm::Global::GetInstance().GetDicts();
  return dicts.GetDictEntry(gdcm::Tag(g, e)).GetVR() == gdcm::VR::SQ;
}

// Where a walk loop stands at p: 0 when a defined-length container is done
// (*next = p), 1 when at least a header's 8 bytes follow, or an error.
int walk_step(walker &w, size_t p, size_t end, bool undef, int depth, const char *what,
              size_t *next) {
  if (depth > kMaxDepth)
    return fl_errf(w.em, FL_EDICOM, "sequences nested deeper than %d at offset %zu", kMaxDepth, p);
  if (!undef && p == end) {
    *next = p;
    return 0;
  }
  if (end - p < 8)
    return fl_errf(w.em, FL_EDICOM, "truncated: %s at offset %zu cut short", what, p);
  return 1;
}

// Elements from p up to end (defined) or to an item delimiter (undef). At
// depth 0 the walk stops at Pixel Data; *next is where it stopped.
int walk_elements(walker &w, size_t p, size_t end, bool undef, int depth, size_t *next) {
  for (;;) {
    int rc = walk_step(w, p, end, undef, depth, "element header", next);
    if (rc <= 0)
      return rc;
    uint16_t g = load16(w.b + p, w.big), e = load16(w.b + p + 2, w.big);
    if (g == 0xfffe) {
      if (undef && e == 0xe00d) {
        *next = p + 8;
        return 0;
      }
      return fl_errf(w.em, FL_EDICOM, "unexpected delimiter (FFFE,%04X) at offset %zu", e, p);
    }
    uint32_t vl;
    size_t hdr;
    bool sq = false, un = false;
    if (w.implicit) {
      vl = load32(w.b + p + 4, false);
      hdr = 8;
    } else {
      const unsigned char *vr = w.b + p + 4;
      if (!vr_known(vr))
        return fl_errf(w.em, FL_EDICOM, "element (%04X,%04X) at offset %zu has no valid VR", g,
                       e, p);
      sq = vr[0] == 'S' && vr[1] == 'Q';
      un = vr[0] == 'U' && vr[1] == 'N';
      if (vr_long(vr)) {
        if (end - p < 12)
          return fl_errf(w.em, FL_EDICOM, "truncated: element header at offset %zu cut short", p);
        vl = load32(w.b + p + 8, w.big);
        hdr = 12;
      } else {
        vl = load16(w.b + p + 6, w.big);
        hdr = 8;
      }
    }
    // A group length is a 4-byte UL; GDCM reads a longer one as 4 bytes
    // and would part ways with this walk.
    if (e == 0x0000 && vl != 4)
      return fl_errf(w.em, FL_EDICOM, "group length (%04X,0000) at offset %zu has length %u", g,
                     p, vl);
    p += hdr;
    if (depth == 0 && g == 0x7fe0 && e == 0x0010) {
      *next = p;
      return check_pixel_data(w.b, w.len, p, w.big, w.out, w.em);
    }
    if (vl == 0xffffffffu) {
      if (!w.implicit && !sq && !un && !(g == 0x7fe0 && e == 0x0010))
        return fl_errf(w.em, FL_EDICOM, "element (%04X,%04X) at offset %zu has an undefined "
                                        "length but is not a sequence",
                       g, e, p - hdr);
      walker inner = w;
      inner.implicit = w.implicit || un;  // a UN sequence holds implicit VR items
      inner.big = w.big && !un;
      rc = g == 0x7fe0 && e == 0x0010 ? walk_fragments(w.b, end, p, &p, w.em)
                                      : walk_items(inner, p, end, true, depth + 1, &p);
      if (rc != 0)
        return rc;
      continue;
    }
    if (vl > end - p)
      return fl_errf(w.em, FL_EDICOM,
                     "truncated: element (%04X,%04X) at offset %zu needs %u bytes, %zu remain", g,
                     e, p - hdr, vl, end - p);
    // Implicit VR (and UN) give no VR: GDCM reads the value as a sequence
    // when its dictionary says SQ, and so must the walk; a value that opens
    // with an item tag is walked as one too.
    bool items = sq || ((w.implicit || un) &&
                        (dict_sq(g, e) || (vl >= 8 && load16(w.b + p, false) == 0xfffe &&
                                           load16(w.b + p + 2, false) == 0xe000)));
    walker inner = w;
    inner.implicit = w.implicit || un;
    inner.big = w.big && !un;
    if (items && (rc = walk_items(inner, p, p + vl, false, depth + 1, &p)) != 0)
      return rc;
    if (!items)
      p += vl;
  }
}

// Items of a sequence (or fragments of nested encapsulated pixel data,
// whose items hold bytes rather than elements: walking them as elements
// would refuse them, so only item framing is checked when a value does not
// look like elements).
int walk_items(walker &w, size_t p, size_t end, bool undef, int depth, size_t *next) {
  for (;;) {
    int rc = walk_step(w, p, end, undef, depth, "sequence item", next);
    if (rc <= 0)
      return rc;
    uint16_t g = load16(w.b + p, w.big), e = load16(w.b + p + 2, w.big);
    uint32_t il = load32(w.b + p + 4, w.big);
    if (g == 0xfffe && e == 0xe0dd && undef) {
      *next = p + 8;
      return 0;
    }
    if (g != 0xfffe || e != 0xe000)
      return fl_errf(w.em, FL_EDICOM, "expected a sequence item at offset %zu, found (%04X,%04X)",
                     p, g, e);
    p += 8;
    if (il == 0xffffffffu) {
      if ((rc = walk_elements(w, p, end, true, depth + 1, &p)) != 0)
        return rc;
      continue;
    }
    if (il > end - p)
      return fl_errf(w.em, FL_EDICOM, "truncated: item at offset %zu needs %u bytes, %zu remain",
                     p - 8, il, end - p);
    if ((rc = walk_elements(w, p, p + il, false, depth + 1, &p)) != 0)
      return rc;
  }
}

const char kTsImplicit[] = "1.2.840.10008.1.2";
const char kTsBig[] = "1.2.840.10008.1.2.2";
const char kTsDeflate[] = "1.2.840.10008.1.2.1.99";

// Inflates a deflated data set so that its structure can be walked like any
// other (raw deflate, as PS3.5 A.5 specifies).
int inflate_dataset(const unsigned char *src, size_t n, std::string *dst, fl_errmsg_t *em) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
    return fl_errf(em, -ENOMEM, "cannot start inflating");
  z.next_in = const_cast<unsigned char *>(src);
  int rc = Z_OK;
  size_t in_left = n;
  while (rc != Z_STREAM_END) {
    if (dst->size() >= FL_DICOM_MAX_BYTES) {
      inflateEnd(&z);
      return fl_errf(em, FL_ETOOBIG, "deflated data set inflates beyond %llu bytes",
                     (unsigned long long)FL_DICOM_MAX_BYTES);
    }
    size_t have = dst->size(), chunk = have < 65536 ? 65536 : have;
    dst->resize(have + chunk);
    uInt in_now = uInt(in_left > (1u << 30) ? (1u << 30) : in_left);
    z.avail_in = in_now;
    z.next_out = reinterpret_cast<unsigned char *>(&(*dst)[have]);
    z.avail_out = uInt(chunk);
    rc = inflate(&z, Z_NO_FLUSH);
    in_left -= in_now - z.avail_in;
    dst->resize(have + chunk - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && in_left == 0) {
      inflateEnd(&z);
      return fl_errf(em, FL_EDICOM, "truncated: deflated data set ends before its last block");
    }
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      inflateEnd(&z);
      return fl_errf(em, FL_EDICOM, "corrupt deflated data set (zlib error %d)", rc);
    }
  }
  inflateEnd(&z);
  return 0;
}

// Walks the meta group (if any) and the data set. *deflated tells the
// caller that offsets past the meta group are not offsets in buf.
int precheck(const unsigned char *buf, size_t len, fl_dicom_info_t *out, bool *deflated,
             bool *pixel, fl_errmsg_t *em) {
  size_t p = out->has_part10 ? 132 : 0;
  char ts[FL_UID_BUF] = "";
  bool has_meta = len - p >= 8 && load16(buf + p, false) == 0x0002;
  int notdicom = out->has_part10 ? FL_EDICOM : FL_ENOTDICOM;
  if (out->has_part10 && !has_meta)
    return fl_errf(em, FL_EDICOM, "no File Meta Information group after \"DICM\"");
  uint32_t group_len = 0;
  bool has_group_len = false;
  size_t meta_start = p;
  while (has_meta && len - p >= 2 && load16(buf + p, false) == 0x0002) {
    if (len - p < 8)
      return fl_errf(em, notdicom, "truncated: meta element at offset %zu cut short", p);
    const unsigned char *vr = buf + p + 4;
    if (!vr_known(vr))
      return fl_errf(em, notdicom, "meta element at offset %zu has no valid VR", p);
    uint16_t e = load16(buf + p + 2, false);
    size_t hdr = vr_long(vr) ? 12 : 8;
    if (len - p < hdr)
      return fl_errf(em, notdicom, "truncated: meta element at offset %zu cut short", p);
    uint32_t vl = hdr == 12 ? load32(buf + p + 8, false) : load16(buf + p + 6, false);
    if (vl > len - p - hdr)
      return fl_errf(em, notdicom, "truncated: meta element (0002,%04X) needs %u bytes", e, vl);
    if (e == 0x0000 && vl == 4) {
      group_len = load32(buf + p + hdr, false);
      has_group_len = true;
      meta_start = p + hdr + 4;
    }
    if (e == 0x0010) {
      size_t n = fl_uid_trim_len(reinterpret_cast<const char *>(buf + p + hdr), vl);
      if (n == 0 || n > FL_UID_MAX)
        return fl_errf(em, FL_EDICOM, "invalid TransferSyntaxUID (0002,0010)");
      memcpy(ts, buf + p + hdr, n);
      ts[n] = '\0';
    }
    p += hdr + vl;
  }
  if (has_meta && !ts[0])
    return fl_errf(em, FL_EDICOM, "missing TransferSyntaxUID (0002,0010) in the meta group");
  if (has_group_len && group_len != p - meta_start)
    return fl_errf(em, FL_EDICOM, "meta group length says %u bytes but its elements span %zu",
                   group_len, p - meta_start);
  if (p == len)
    return fl_errf(em, notdicom, "no data set after the meta group");
  walker w = {buf, len, false, false, out, em};
  if (!has_meta) {
    // No meta group: GDCM guesses the encoding from the first element, and
    // the walk must guess the same. An instance's data set opens with group
    // 0008 (SOP Class UID is in it), read little endian; an explicit VR
    // shows as two known VR letters after the tag. Anything else (a byte-
    // swapped group that GDCM would read big endian, command groups) is
    // refused rather than guessed differently.
    if (len < 8 || load16(buf, false) != 0x0008)
      return fl_errf(em, FL_ENOTDICOM,
                     "not DICOM: no preamble or meta group, and the data is not a data set "
                     "opening with group 0008");
    w.implicit = !vr_known(buf + 4);
  } else if (strcmp(ts, kTsImplicit) == 0) {
    w.implicit = true;
  } else if (strcmp(ts, kTsBig) == 0) {
    w.big = true;
  }
  size_t end;
  int rc;
  *deflated = has_meta && strcmp(ts, kTsDeflate) == 0;
  if (*deflated) {
    std::string inflated;
    if ((rc = inflate_dataset(buf + p, len - p, &inflated, em)) != 0)
      return rc;
    if (inflated.empty())
      return fl_errf(em, FL_EDICOM, "deflated data set is empty");
    walker wi = {reinterpret_cast<const unsigned char *>(inflated.data()), inflated.size(),
                 false, false, out, em};
    rc = walk_elements(wi, 0, wi.len, false, 0, &end);
    out->pixel_data_offset = 0;
  } else {
    rc = walk_elements(w, p, len, false, 0, &end);
  }
  if (rc != 0)
    return rc == FL_EDICOM && !has_meta ? fl_errprefix(em, FL_ENOTDICOM, "not DICOM") : rc;
  *pixel = out->has_pixel_data;
  return 0;
}

// Storage SOP classes whose IOD requires Pixel Data (PS3.4 B.5): an
// instance of one that ends before Pixel Data was cut short, even when the
// cut fell between two elements.
bool is_image_class(const char *uid) {
  static const char *const images[] = {
      "1.2.840.10008.5.1.4.1.1.1",       "1.2.840.10008.5.1.4.1.1.1.1",
      "1.2.840.10008.5.1.4.1.1.1.1.1",   "1.2.840.10008.5.1.4.1.1.1.2",
      "1.2.840.10008.5.1.4.1.1.1.2.1",   "1.2.840.10008.5.1.4.1.1.1.3",
      "1.2.840.10008.5.1.4.1.1.1.3.1",   "1.2.840.10008.5.1.4.1.1.2",
      "1.2.840.10008.5.1.4.1.1.2.1",     "1.2.840.10008.5.1.4.1.1.3.1",
      "1.2.840.10008.5.1.4.1.1.4",       "1.2.840.10008.5.1.4.1.1.4.1",
      "1.2.840.10008.5.1.4.1.1.6.1",     "1.2.840.10008.5.1.4.1.1.7",
      "1.2.840.10008.5.1.4.1.1.12.1",    "1.2.840.10008.5.1.4.1.1.12.2",
      "1.2.840.10008.5.1.4.1.1.13.1.3",  "1.2.840.10008.5.1.4.1.1.13.1.4",
      "1.2.840.10008.5.1.4.1.1.13.1.5",  "1.2.840.10008.5.1.4.1.1.20",
      "1.2.840.10008.5.1.4.1.1.77.1.4",  "1.2.840.10008.5.1.4.1.1.128",
      "1.2.840.10008.5.1.4.1.1.130",     "1.2.840.10008.5.1.4.1.1.481.1",
  };
  for (const char *c : images)
    if (strcmp(uid, c) == 0)
      return true;
  return false;
}

const fl_attr kStudy = {0x0020, 0x000d, "StudyInstanceUID"};
const fl_attr kSeries = {0x0020, 0x000e, "SeriesInstanceUID"};
const fl_attr kSop = {0x0008, 0x0018, "SOPInstanceUID"};
const fl_attr kSopClass = {0x0008, 0x0016, "SOPClassUID"};
const fl_attr kTsUid = {0x0002, 0x0010, "TransferSyntaxUID"};

int parse(const unsigned char *buf, size_t len, fl_dicom_info_t *out, fl_errmsg_t *em) {
  memset(out, 0, sizeof *out);
  out->has_part10 = len >= 132 && memcmp(buf + 128, "DICM", 4) == 0;
  // GDCM reports through its own global trace streams; the caller gets the
  // error through em instead.
  gdcm::Trace::SetDebug(false);
  gdcm::Trace::SetWarning(false);
  gdcm::Trace::SetError(false);

  bool deflated = false, pixel = false;
  int rc = precheck(buf, len, out, &deflated, &pixel, em);
  if (rc != 0)
    return rc;

  fl_membuf sb(reinterpret_cast<const char *>(buf), len);
  std::istream is(&sb);
  gdcm::Reader reader;
  reader.SetStream(is);
  // Only the attributes below are kept; GDCM stops at the highest of them
  // (Rows), well before Pixel Data, which is therefore never loaded.
  static const std::set<gdcm::Tag> wanted = {
      {0x0008, 0x0016}, {0x0008, 0x0018}, {0x0008, 0x0020}, {0x0008, 0x0050},
      {0x0008, 0x0060}, {0x0010, 0x0010}, {0x0010, 0x0020}, {0x0020, 0x000d},
      {0x0020, 0x000e}, {0x0020, 0x0011}, {0x0020, 0x0013}, {0x0028, 0x0008},
      {0x0028, 0x0010}};
  // ReadSelectedTags ends by seeking its stream to the end when the data set
  // stops short of Rows, which an inflating stream cannot do (GDCM then
  // asserts): a deflated data set is read up to Pixel Data, skipping it.
  static const std::set<gdcm::Tag> pixel_data = {{0x7fe0, 0x0010}};
  bool ok = deflated ? reader.ReadUpToTag(*pixel_data.begin(), pixel_data)
                     : reader.ReadSelectedTags(wanted);
  int notdicom = out->has_part10 ? FL_EDICOM : FL_ENOTDICOM;
  if (!ok)
    return out->has_part10 ? fl_errf(em, FL_EDICOM, "truncated or malformed DICOM data set")
                           : fl_errf(em, FL_ENOTDICOM,
                                     "no DICOM preamble and not a data set GDCM can parse");

  const gdcm::File &file = reader.GetFile();
  const gdcm::DataSet &ds = file.GetDataSet();
  const gdcm::FileMetaInformation &meta = file.GetHeader();
  const gdcm::TransferSyntax ts = meta.GetDataSetTransferSyntax();

  // A dataset that carries none of the identity UIDs is not an instance at
  // all; one that carries some lacks the rest.
  const fl_attr *ids[] = {&kSop, &kStudy, &kSeries, &kSopClass};
  bool any = false;
  for (const fl_attr *a : ids)
    any = any || ds.FindDataElement(gdcm::Tag(a->group, a->element));
  if (!any)
    return fl_errf(em, notdicom, "%s: no SOPInstanceUID, StudyInstanceUID, SeriesInstanceUID "
                                 "or SOPClassUID",
                   out->has_part10 ? "not a DICOM instance" : "not DICOM");
  if ((rc = get_uid(ds, kStudy, out->study_uid, em)) != 0 ||
      (rc = get_uid(ds, kSeries, out->series_uid, em)) != 0 ||
      (rc = get_uid(ds, kSop, out->sop_uid, em)) != 0 ||
      (rc = get_uid(ds, kSopClass, out->sop_class_uid, em)) != 0)
    return rc;

  if (out->has_part10) {
    if ((rc = get_uid(meta, kTsUid, out->transfer_syntax_uid, em)) != 0)
      return rc;
  } else {
    const char *s = gdcm::TransferSyntax::GetTSString(ts);
    if (!s || ts == gdcm::TransferSyntax::TS_END)
      return fl_errf(em, FL_ENOTDICOM, "not DICOM: no transfer syntax could be detected");
    snprintf(out->transfer_syntax_uid, sizeof out->transfer_syntax_uid, "%s", s);
  }

  get_text(ds, {0x0010, 0x0020, "PatientID"}, out->patient_id, sizeof out->patient_id);
  get_text(ds, {0x0010, 0x0010, "PatientName"}, out->patient_name, sizeof out->patient_name);
  get_text(ds, {0x0008, 0x0020, "StudyDate"}, out->study_date, sizeof out->study_date);
  get_text(ds, {0x0008, 0x0060, "Modality"}, out->modality, sizeof out->modality);
  get_text(ds, {0x0008, 0x0050, "AccessionNumber"}, out->accession_number,
           sizeof out->accession_number);
  if (!get_is(ds, {0x0028, 0x0008, "NumberOfFrames"}, 1, &out->number_of_frames) ||
      out->number_of_frames < 1)
    return fl_errf(em, FL_EDICOM, "NumberOfFrames (0028,0008) is not a positive integer");
  if (!get_is(ds, {0x0020, 0x0011, "SeriesNumber"}, -1, &out->series_number))
    out->series_number = -1;
  if (!get_is(ds, {0x0020, 0x0013, "InstanceNumber"}, -1, &out->instance_number))
    out->instance_number = -1;

  if (!pixel && is_image_class(out->sop_class_uid))
    return fl_errf(em, FL_EDICOM,
                   "truncated: %s is an image storage class but there is no Pixel Data "
                   "(7FE0,0010)",
                   out->sop_class_uid);
  if (!pixel && ds.FindDataElement(gdcm::Tag(0x0028, 0x0010)))
    return fl_errf(em, FL_EDICOM,
                   "truncated: Rows (0028,0010) present but no Pixel Data (7FE0,0010)");
  return 0;
}

}  // namespace

extern "C" int fl_dicom_parse(const void *buf, size_t len, fl_dicom_info_t *out,
                              fl_errmsg_t *em) {
  if (len > FL_DICOM_MAX_BYTES)
    return fl_errf(em, FL_ETOOBIG, "input of %zu bytes exceeds the %llu-byte limit", len,
                   (unsigned long long)FL_DICOM_MAX_BYTES);
  if (len == 0 || !buf)
    return fl_errf(em, FL_ENOTDICOM, "not DICOM: empty input");
  try {
    return parse(static_cast<const unsigned char *>(buf), len, out, em);
  } catch (const std::bad_alloc &) {
    return fl_errf(em, -ENOMEM, "out of memory while parsing DICOM");
  } catch (const std::exception &e) {
    bool p10 = len >= 132 && memcmp(static_cast<const char *>(buf) + 128, "DICM", 4) == 0;
    return fl_errf(em, p10 ? FL_EDICOM : FL_ENOTDICOM, "malformed DICOM: %.200s", e.what());
  } catch (...) {
    return fl_errf(em, FL_EDICOM, "malformed DICOM (unknown exception in GDCM)");
  }
}

extern "C" int fl_dicom_parse_file(const char *path, fl_dicom_info_t *out, fl_errmsg_t *em) {
  int rc = 0;
  void *map = MAP_FAILED;
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rc = fl_errf(em, -errno, "cannot open: %s", strerror(errno));
    goto fail;
  }
  if (fstat(fd, &st) != 0) {
    rc = fl_errf(em, -errno, "cannot stat: %s", strerror(errno));
    goto fail;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = fl_errf(em, FL_ENOTDICOM, "not a regular file");
    goto fail;
  }
  if (uint64_t(st.st_size) > FL_DICOM_MAX_BYTES) {
    rc = fl_errf(em, FL_ETOOBIG, "file of %lld bytes exceeds the %llu-byte limit",
                 (long long)st.st_size, (unsigned long long)FL_DICOM_MAX_BYTES);
    goto fail;
  }
  if (st.st_size == 0) {
    rc = fl_errf(em, FL_ENOTDICOM, "not DICOM: empty file");
    goto fail;
  }
  map = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) {
    rc = fl_errf(em, -errno, "cannot map: %s", strerror(errno));
    goto fail;
  }
  rc = fl_dicom_parse(map, size_t(st.st_size), out, em);
fail:
  if (map != MAP_FAILED)
    munmap(map, size_t(st.st_size));
  if (fd >= 0)
    close(fd);
  return rc;
}
